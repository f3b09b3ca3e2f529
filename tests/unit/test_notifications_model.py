"""Notifications model: who is told, when a reminder is due; and the iCalendar layout. Pure, no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from scheduling.calendar import FeedEvent, build_feed
from scheduling.notifications import NotificationKind, care_home_staff, days_ahead, due_offset, recipients
from teleconsult.identity.model import Role, User
from teleconsult.settings import SettingsError, load_settings, parse_offset

EHPAD = uuid.uuid4()
HOSPITAL = uuid.uuid4()


def user(role: Role, establishment: uuid.UUID, *, active: bool = True) -> User:
    return User(
        uuid.uuid4(),
        f"{role.value}.{uuid.uuid4().hex[:6]}",
        role.value,
        role,
        establishment,
        is_active=active,
    )


EXPERT = user(Role.EXPERT, HOSPITAL)
SECRETARY = user(Role.SECRETARIAT, HOSPITAL)
IDE = user(Role.IDE, EHPAD)
IDEC = user(Role.IDEC, EHPAD)
STAFF = [IDE, IDEC]


def test_care_home_staff_are_the_active_nurses_and_physician_of_that_care_home() -> None:
    gone = user(Role.IDE, EHPAD, active=False)
    elsewhere = user(Role.IDE, uuid.uuid4())
    admin = user(Role.ADMIN, EHPAD)
    medco = user(Role.MEDECIN_CO, EHPAD)
    assert care_home_staff([IDE, gone, elsewhere, admin, medco, EXPERT], EHPAD) == [IDE, medco]


def test_a_booking_or_a_move_tells_the_expert_not_the_secretariat() -> None:
    for kind in (NotificationKind.BOOKED, NotificationKind.RESCHEDULED):
        assert recipients(kind, IDE, EXPERT, STAFF) == [EXPERT.id]


@pytest.mark.parametrize("kind", [NotificationKind.CANCELLED, NotificationKind.NO_SHOW])
def test_a_cancellation_or_a_no_show_tells_the_other_side(kind: NotificationKind) -> None:
    assert recipients(kind, IDEC, EXPERT, STAFF) == [EXPERT.id]
    assert recipients(kind, EXPERT, EXPERT, STAFF) == [IDE.id, IDEC.id]
    assert recipients(kind, SECRETARY, EXPERT, STAFF) == [IDE.id, IDEC.id, EXPERT.id]


def test_reminders_go_to_both_sides_and_never_to_deactivated_people() -> None:
    gone = user(Role.IDE, EHPAD, active=False)
    assert recipients(NotificationKind.REMINDER, None, EXPERT, [*STAFF, gone]) == [EXPERT.id, IDE.id, IDEC.id]


NOON = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # Tuesday 14:00 in Paris


def test_the_nearest_due_offset_is_chosen_and_none_once_started() -> None:
    booked = NOON - timedelta(days=3)
    offsets = (1440, 60)
    assert due_offset(NOON, booked, offsets, NOON - timedelta(hours=25)) is None
    assert due_offset(NOON, booked, offsets, NOON - timedelta(hours=24)) == 1440
    assert due_offset(NOON, booked, offsets, NOON - timedelta(hours=2)) == 1440
    assert due_offset(NOON, booked, offsets, NOON - timedelta(minutes=60)) == 60
    assert due_offset(NOON, booked, offsets, NOON - timedelta(seconds=1)) == 60
    assert due_offset(NOON, booked, offsets, NOON) is None


def test_an_offset_already_past_at_booking_time_is_skipped() -> None:
    booked = NOON - timedelta(hours=5)
    assert due_offset(NOON, booked, (1440, 60), NOON - timedelta(hours=4)) is None
    assert due_offset(NOON, booked, (1440, 60), NOON - timedelta(minutes=30)) == 60


def test_days_ahead_counts_paris_calendar_days() -> None:
    late_evening = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # Monday 23:30 in Paris
    assert days_ahead(NOON, late_evening) == 1
    assert days_ahead(NOON, datetime(2026, 11, 23, 23, 30, tzinfo=UTC)) == 0  # already Tuesday in Paris


def test_offsets_parse_to_minutes_and_bad_ones_are_refused() -> None:
    assert [parse_offset(x) for x in ("24h", "1h", "90m", "2d", " 30M ")] == [1440, 60, 90, 2880, 30]
    for bad in ("", "h", "0h", "1.5h", "-1h", "24", "8d", "1w"):
        with pytest.raises(ValueError):
            parse_offset(bad)
    assert load_settings({}).reminder_minutes == (1440, 60)
    assert load_settings({"TELECONSULT_REMINDER_OFFSETS": "1h, 2d,1h"}).reminder_minutes == (2880, 60)
    assert load_settings({"TELECONSULT_REMINDER_OFFSETS": ""}).reminder_minutes == ()
    with pytest.raises(SettingsError, match="REMINDER_OFFSETS"):
        load_settings({"TELECONSULT_REMINDER_OFFSETS": "demain"})


def test_mail_is_off_by_default_and_production_does_not_require_it() -> None:
    assert not load_settings({}).sends_mail
    assert load_settings({"TELECONSULT_SMTP_HOST": "smtp.example.org"}).sends_mail


def test_the_feed_has_one_event_per_appointment_with_alarms_and_utc_times() -> None:
    confirmed = FeedEvent(
        uuid.uuid4(),
        NOON,
        NOON + timedelta(minutes=45),
        "Téléconsultation - EHPAD A",
        "Avec Dr B.",
        "https://tc.example/",
        False,
        1,
    )
    cancelled = FeedEvent(
        uuid.uuid4(),
        NOON + timedelta(days=1),
        NOON + timedelta(days=1, minutes=45),
        "Téléconsultation - EHPAD A",
        "",
        "https://tc.example/",
        True,
        3,
    )
    raw = build_feed([confirmed, cancelled], "teleconsult", (1440, 60), NOON)
    assert b"DTSTART:20261124T130000Z" in raw and b"\r\n" in raw
    calendar = Calendar.from_ical(raw)
    first, second = calendar.walk("VEVENT")
    assert str(first["UID"]) == f"{confirmed.appointment_id}@teleconsult"
    assert [a.decoded("TRIGGER") for a in first.walk("VALARM")] == [-timedelta(hours=24), -timedelta(hours=1)]
    assert str(second["STATUS"]) == "CANCELLED" and second.walk("VALARM") == [] and second["SEQUENCE"] == 3

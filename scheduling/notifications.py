"""Notifications and reminders of appointments: who is told what, when a reminder is due, and the words of
each message. Pure Python: no I/O, the clock is a parameter.

A notification row holds only a kind, an appointment id and the recipient, never words: its text is built
when it is shown, from the appointment's plaintext facts (when, which care home, which expert). Those facts
are not health data, and no resident's name or reason is ever among them, so neither the notifications
table, nor an e-mail, nor a calendar feed built from them can carry health data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from scheduling.model import PARIS
from teleconsult.i18n import N_
from teleconsult.identity.model import CARE_HOME_ROLES, User


class NotificationKind(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    NO_SHOW = "no_show"
    #: A reminder ``offset_minutes`` before the start. The offsets are configurable (24 h and 1 h by
    #: default), so the offset is a column of its own rather than one kind per offset.
    REMINDER = "reminder"


@dataclass(frozen=True, slots=True)
class AppointmentFacts:
    """What may be said about an appointment outside the record: no resident, no reason."""

    appointment_id: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    ehpad_name: str
    expert_name: str


@dataclass(frozen=True, slots=True)
class Notification:
    id: UUID
    user_id: UUID
    kind: NotificationKind
    appointment_id: UUID
    offset_minutes: int  # 0 except for reminders
    created_at: datetime
    read_at: datetime | None = None

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


# ------------------------------------------------------------------------------------------ recipients


def care_home_staff(users: Iterable[User], ehpad_id: UUID) -> list[User]:
    """The active care-home staff of one EHPAD (IDE, IDEC, médecin coordonnateur)."""
    return [u for u in users if u.is_active and u.role in CARE_HOME_ROLES and u.establishment_id == ehpad_id]


def recipients(kind: NotificationKind, actor: User | None, expert: User, staff: Sequence[User]) -> list[UUID]:
    """Who is told about a change to an appointment (``actor`` None: the reminder sweep, nobody acted).

    - booked, rescheduled: the expert. Not the hospital's secretariat: it sees every booking in the
      agendas it manages, and a notification to each secretary for each booking of every expert would be
      noise that teaches people to ignore notifications. The care home booked it: it knows.
    - cancelled, missed: the other side. When the care home acted, the expert; when the hospital acted, the
      care home's staff, and the expert too if it was the secretariat (the expert must know that their
      afternoon changed).
    - reminders: both sides, the expert and the care home's staff.
    Never the person who acted.
    """
    if kind in (NotificationKind.BOOKED, NotificationKind.RESCHEDULED):
        chosen = [expert]
    elif kind is NotificationKind.REMINDER or actor is None:
        chosen = [expert, *staff]
    elif actor.role in CARE_HOME_ROLES:
        chosen = [expert]
    else:
        chosen = [*staff, expert]
    seen: set[UUID] = set()
    found: list[UUID] = []
    for user in chosen:
        if user.is_active and (actor is None or user.id != actor.id) and user.id not in seen:
            seen.add(user.id)
            found.append(user.id)
    return found


# ------------------------------------------------------------------------------------------- reminders


def due_offset(
    starts_at: datetime, created_at: datetime, offsets_minutes: Sequence[int], now: datetime
) -> int | None:
    """The reminder to send now for an appointment, if any: the smallest offset whose moment has come,
    while the appointment has not started.

    An offset whose moment had already passed when the appointment was booked is skipped (booked at 10:00
    for 14:00, nobody needs a "24 hours before" reminder). When several are due at once (the service was
    stopped for a while), only the nearest goes out: two reminders in the same minute would be noise.
    """
    if now >= starts_at:
        return None
    due = [
        offset
        for offset in offsets_minutes
        if starts_at - timedelta(minutes=offset) <= now and created_at < starts_at - timedelta(minutes=offset)
    ]
    return min(due) if due else None


# --------------------------------------------------------------------------------------------- words


_HEADLINES: dict[NotificationKind, str] = {
    NotificationKind.BOOKED: N_("New teleconsultation booked"),
    NotificationKind.CANCELLED: N_("Teleconsultation cancelled"),
    NotificationKind.RESCHEDULED: N_("Teleconsultation moved to a new slot"),
    NotificationKind.NO_SHOW: N_("Teleconsultation marked as missed"),
    NotificationKind.REMINDER: N_("Reminder: teleconsultation coming up"),
}

DETAIL = N_("%(date)s at %(time)s - %(ehpad)s, with %(expert)s")
SUMMARY = N_("Teleconsultation - %(ehpad)s")
WITH_EXPERT = N_("With %(expert)s.")
REMINDER_SUBJECT = N_("Reminder: teleconsultation %(day)s at %(time)s - %(ehpad)s")
REMINDER_BODY = N_(
    "Hello,\n\n"
    "A teleconsultation is planned %(day)s at %(time)s (Paris time): %(ehpad)s, with %(expert)s.\n\n"
    "The preparation and the details are in the application: %(link)s\n\n"
    "This message is sent automatically and carries no medical information."
)
TODAY = N_("today")
TOMORROW = N_("tomorrow")
ON_DAY = N_("on %(date)s")


def headline(kind: NotificationKind) -> str:
    return _HEADLINES[kind]


def days_ahead(starts_at: datetime, now: datetime) -> int:
    """How many calendar days from today to the appointment, in Paris: 0 today, 1 tomorrow."""
    return (starts_at.astimezone(PARIS).date() - now.astimezone(PARIS).date()).days

"""Notifications, reminders, e-mail and the calendar feed, on both backends: who is told what, the reminder
sweep (idempotent, even run twice at once) driven by the fixed clock, real e-mail to a local SMTP sink
(aiosmtpd), and the iCalendar feed. Throughout: no resident's name, INS or reason ever leaves the record."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from icalendar import Calendar
from sqlalchemy import select, update

from records.audit.service import accesses_to
from records.residents import service as residents_service
from records.residents.model import OID_TEST_NIR, IdentityStatus, IdentityTraits, Ins, ResidentDetails, Sex
from scheduling.notifications_service import send_due_reminders
from scheduling.notifications_store import notifications
from teleconsult import i18n
from teleconsult.identity.calendar_feeds import calendar_feeds
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Principal
from teleconsult.identity.store import users
from teleconsult.keys import CATALOGUES, KEYRING, SETTINGS
from teleconsult.mail import RecordingMailer, SmtpMailer
from tests.integration.conftest import CSRF_RE, Env
from tests.integration.test_scheduling import book, booking, headers, publish_afternoons

# The fixed clock is Monday 23 November 2026, 14:30 in Paris. Wednesday 25 at 14:00 is more than a day away.
WEDNESDAY_2PM = "2026-11-25T14:00:00+01:00"
BIRTH_NAME = "EXEMPLE"
FIRST_NAME = "Jeanne"
INS_MATRICULE = "255081416802538"
DETAILS = "Agitation vespérale depuis 10 jours"
REASON = "troubles_comportement"
#: Strings that are health data: none may appear in a notification, an e-mail or a feed.
SECRETS = (BIRTH_NAME, BIRTH_NAME.title(), FIRST_NAME, INS_MATRICULE, DETAILS, REASON, "Paul Martin")
CARE_STAFF = (Role.IDE, Role.IDEC, Role.MEDECIN_CO)


def assert_no_health_data(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked"


async def resident_with_ins(env: Env) -> uuid.UUID:
    details = ResidentDetails(
        traits=IdentityTraits(BIRTH_NAME, (FIRST_NAME, "Marie"), Sex.FEMALE, date(1955, 8, 3), "14168"),
        ins=Ins.parse(INS_MATRICULE, OID_TEST_NIR),
        identity_status=IdentityStatus.QUALIFIEE,
        room="12",
    )
    nurse = env.territory.users[Role.IDE]
    created = await residents_service.create_resident(
        env.uow(), env.app[KEYRING], Principal(nurse, True), details, env.clock.now()
    )
    return created.id


async def booked(env: Env, starts_at: str = WEDNESDAY_2PM) -> dict[str, Any]:
    """The expert publishes afternoons; the nurse books the resident with an INS; logged in as the nurse."""
    await publish_afternoons(env)
    resident_id = await resident_with_ins(env)
    await env.login(Role.IDE)
    status, created = await book(env, booking(resident_id, env.territory.users[Role.EXPERT].id, starts_at))
    assert status == 201, created
    return created


async def inbox(env: Env, role: Role) -> dict[str, Any]:
    await env.login(role)
    response = await env.client.get("/api/v1/notifications")
    assert response.status == 200
    payload: dict[str, Any] = await response.json()
    return payload


async def rows(env: Env) -> list[Any]:
    async with env.uow() as uow:
        return list((await uow.session.execute(select(notifications))).all())


def owner_roles(env: Env, found: list[Any]) -> list[Role]:
    by_id = {user.id: role for role, user in env.territory.users.items()}
    return sorted(by_id[row.user_id] for row in found)


# ------------------------------------------------------------------------------------- notifications


async def test_a_booking_tells_the_expert_only_with_no_health_data(env: Env) -> None:
    created = await booked(env)
    found = await rows(env)
    assert [(row.kind, row.appointment_id) for row in found] == [("booked", uuid.UUID(created["id"]))]
    assert owner_roles(env, found) == [Role.EXPERT]
    # The table has no column that could hold words.
    assert {column.name for column in notifications.columns} == {
        "id",
        "user_id",
        "appointment_id",
        "kind",
        "offset_minutes",
        "created_at",
        "read_at",
    }

    payload = await inbox(env, Role.EXPERT)
    assert payload["unread"] == 1
    [item] = payload["notifications"]
    assert item["kind"] == "booked" and item["ehpad_name"] == "EHPAD Test"
    assert item["title"] == "Nouvelle téléconsultation réservée"
    assert item["text"] == "mercredi 25 novembre 2026 à 14:00 - EHPAD Test, avec Test Expert"
    assert_no_health_data(str(payload))
    for role in (Role.IDE, Role.SECRETARIAT, Role.COORDINATEUR):
        assert (await inbox(env, role))["unread"] == 0


async def test_the_menu_counts_unread_and_marking_read_is_for_the_owner_only(env: Env) -> None:
    await booked(env)
    await env.login(Role.EXPERT)
    home = await (await env.client.get("/expert")).text()
    assert 'class="badge badge-count">1<' in home
    page = await (await env.client.get("/notifications")).text()
    assert "Nouvelle téléconsultation réservée" in page and "Marquer comme lu" in page
    assert_no_health_data(page)
    notification_id = (await inbox(env, Role.EXPERT))["notifications"][0]["id"]

    # Somebody else cannot mark it (404, as if it did not exist), through the API or the page.
    await env.login(Role.IDE)
    response = await env.client.post(
        f"/api/v1/notifications/{notification_id}/read", headers=await headers(env)
    )
    assert response.status == 404
    token = CSRF_RE.search(await (await env.client.get("/account")).text())
    assert token
    response = await env.client.post(
        f"/notifications/{notification_id}/read", data={"csrf_token": token.group(1)}, allow_redirects=False
    )
    assert response.status == 404
    assert (await inbox(env, Role.EXPERT))["unread"] == 1

    response = await env.client.post(
        f"/api/v1/notifications/{notification_id}/read", headers=await headers(env)
    )
    assert response.status == 204
    payload = await inbox(env, Role.EXPERT)
    assert payload["unread"] == 0 and payload["notifications"][0]["read_at"]
    home = await (await env.client.get("/expert")).text()
    assert "badge-count" not in home


async def test_a_cancellation_tells_the_other_side(env: Env) -> None:
    created = await booked(env)
    await env.login(Role.EXPERT)
    response = await env.client.post(
        f"/api/v1/appointments/{created['id']}/cancel",
        json={"reason": "Bloc opératoire imprévu"},
        headers=await headers(env),
    )
    assert response.status == 200
    cancelled = [row for row in await rows(env) if row.kind == "cancelled"]
    assert owner_roles(env, cancelled) == sorted(CARE_STAFF)
    for role in CARE_STAFF:
        payload = await inbox(env, role)
        assert [n["kind"] for n in payload["notifications"]] == ["cancelled"]
        assert "Bloc opératoire" not in str(payload)


async def test_a_cancellation_by_the_secretariat_tells_the_expert_too(env: Env) -> None:
    created = await booked(env)
    await env.login(Role.SECRETARIAT)
    response = await env.client.post(
        f"/api/v1/appointments/{created['id']}/cancel", json={"reason": "Congé"}, headers=await headers(env)
    )
    assert response.status == 200
    cancelled = [row for row in await rows(env) if row.kind == "cancelled"]
    assert owner_roles(env, cancelled) == sorted([*CARE_STAFF, Role.EXPERT])


async def test_a_cancellation_or_move_by_the_care_home_tells_the_expert(env: Env) -> None:
    created = await booked(env)
    response = await env.client.post(
        f"/api/v1/appointments/{created['id']}/reschedule",
        json={"expert_id": created["expert_id"], "starts_at": "2026-11-25T15:30:00+01:00"},
        headers=await headers(env),
    )
    assert response.status == 201, await response.text()
    moved = await response.json()
    response = await env.client.post(
        f"/api/v1/appointments/{moved['id']}/cancel", json={"reason": "Décès"}, headers=await headers(env)
    )
    assert response.status == 200
    found = await rows(env)
    assert sorted((row.kind, str(row.appointment_id)) for row in found) == sorted(
        [("booked", created["id"]), ("rescheduled", moved["id"]), ("cancelled", moved["id"])]
    )
    assert owner_roles(env, found) == [Role.EXPERT] * 3


async def test_marking_missed_tells_the_other_side(env: Env) -> None:
    created = await booked(env, "2026-11-23T14:45:00+01:00")
    env.clock.advance(timedelta(minutes=20))
    await env.login(Role.EXPERT)
    response = await env.client.post(
        f"/api/v1/appointments/{created['id']}/no-show", json={}, headers=await headers(env)
    )
    assert response.status == 200
    assert owner_roles(env, [row for row in await rows(env) if row.kind == "no_show"]) == sorted(CARE_STAFF)


# ------------------------------------------------------------------------------------------ reminders


async def sweep(env: Env, mailer: RecordingMailer | SmtpMailer) -> tuple[int, int]:
    with i18n.active_language("fr", env.app[CATALOGUES].get("fr")):
        run = await send_due_reminders(
            env.uow(), mailer, env.app[SETTINGS].reminder_minutes, env.clock.now(), "https://tc.example/n"
        )
    return run.notifications, run.mails


async def give_emails(env: Env) -> None:
    async with env.uow() as uow:
        for role, user in env.territory.users.items():
            if role is not Role.IDEC:  # the IDEC has no address: no mail for her, still a notification
                await uow.session.execute(
                    update(users).where(users.c.id == user.id).values(email=f"{role.value}@example.org")
                )
        await uow.commit()


async def test_reminders_go_out_24h_and_1h_before_to_both_sides_once(env: Env) -> None:
    await booked(env)
    await give_emails(env)
    mailer = RecordingMailer()
    assert await sweep(env, mailer) == (0, 0)  # Monday 14:30: nothing due yet

    env.clock.advance(timedelta(hours=23, minutes=29))  # Tuesday 13:59
    assert await sweep(env, mailer) == (0, 0)
    env.clock.advance(timedelta(minutes=1))  # Tuesday 14:00, 24 hours before
    assert await sweep(env, mailer) == (4, 3)
    assert await sweep(env, mailer) == (0, 0)  # idempotent
    reminders = [row for row in await rows(env) if row.kind == "reminder"]
    assert owner_roles(env, reminders) == sorted([Role.EXPERT, *CARE_STAFF])
    assert {row.offset_minutes for row in reminders} == {1440}
    assert sorted(mail.to for mail in mailer.sent) == [
        "expert@example.org",
        "ide@example.org",
        "medecin_co@example.org",
    ]
    assert mailer.sent[0].subject == "Rappel : téléconsultation demain à 14:00 - EHPAD Test"

    env.clock.advance(timedelta(hours=23))  # Wednesday 13:00, one hour before
    assert await sweep(env, mailer) == (4, 3)
    assert mailer.sent[-1].subject == "Rappel : téléconsultation aujourd'hui à 14:00 - EHPAD Test"
    env.clock.advance(timedelta(minutes=59, seconds=59))
    assert await sweep(env, mailer) == (0, 0)
    for mail in mailer.sent:
        assert_no_health_data(mail.subject + mail.body)
    payload = await inbox(env, Role.IDE)
    assert [n["kind"] for n in payload["notifications"]] == ["reminder", "reminder"]
    assert payload["notifications"][0]["offset_minutes"] == 60


async def test_two_sweeps_at_once_remind_and_mail_once(env: Env) -> None:
    await booked(env)
    await give_emails(env)
    env.clock.advance(timedelta(hours=23, minutes=31))
    mailers = [RecordingMailer(), RecordingMailer()]
    results = await asyncio.gather(*(sweep(env, mailer) for mailer in mailers))
    assert sum(created for created, _ in results) == 4
    assert sum(len(mailer.sent) for mailer in mailers) == 3
    assert len([row for row in await rows(env) if row.kind == "reminder"]) == 4


async def test_no_24h_reminder_for_a_booking_made_less_than_a_day_ahead(env: Env) -> None:
    await booked(env, "2026-11-24T14:00:00+01:00")  # booked Monday 14:30 for Tuesday 14:00
    mailer = RecordingMailer()
    env.clock.advance(timedelta(hours=22))  # Tuesday 12:30
    assert await sweep(env, mailer) == (0, 0)
    env.clock.advance(timedelta(minutes=30))  # Tuesday 13:00: one hour before
    assert await sweep(env, mailer) == (4, 0)


async def test_a_cancelled_appointment_gets_no_reminder(env: Env) -> None:
    created = await booked(env)
    response = await env.client.post(
        f"/api/v1/appointments/{created['id']}/cancel", json={"reason": "Sortie"}, headers=await headers(env)
    )
    assert response.status == 200
    env.clock.advance(timedelta(hours=24))
    assert await sweep(env, RecordingMailer()) == (0, 0)


# --------------------------------------------------------------------------------- e-mail, real SMTP


class Sink:
    """aiosmtpd handler keeping what arrives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


async def test_reminder_mails_arrive_at_a_real_smtp_server_without_health_data(
    env: Env, smtp_sink: tuple[Sink, int]
) -> None:
    sink, port = smtp_sink
    await booked(env)
    await give_emails(env)
    mailer = SmtpMailer("127.0.0.1", port, "teleconsult <rappels@example.org>", starttls=False)
    env.clock.advance(timedelta(hours=23, minutes=30))
    assert await sweep(env, mailer) == (4, 3)
    assert sorted(to for tos, _ in sink.messages for to in tos) == [
        "expert@example.org",
        "ide@example.org",
        "medecin_co@example.org",
    ]
    _, message = sink.messages[0]
    assert message["Subject"] == "Rappel : téléconsultation demain à 14:00 - EHPAD Test"
    assert message["From"] == "teleconsult <rappels@example.org>"
    body = message.get_content()
    assert "demain à 14:00 (heure de Paris) : EHPAD Test, avec Test Expert." in body
    assert "https://tc.example/n" in body
    for _, received in sink.messages:
        assert_no_health_data(str(received["Subject"]) + received.get_content())


async def test_an_unreachable_smtp_server_loses_the_mail_not_the_reminder(env: Env) -> None:
    await booked(env)
    await give_emails(env)
    mailer = SmtpMailer("127.0.0.1", free_port(), "x@example.org", starttls=False, timeout_seconds=2)
    env.clock.advance(timedelta(hours=23, minutes=30))
    assert await sweep(env, mailer) == (4, 0)
    assert len(await rows(env)) == 5  # the booking's, and the four reminders


# -------------------------------------------------------------------------------------- calendar feed


async def create_feed(env: Env, role: Role) -> str:
    await env.login(role)
    token = CSRF_RE.search(await (await env.client.get("/account")).text())
    assert token
    response = await env.client.post("/account/calendar", data={"csrf_token": token.group(1)})
    assert response.status == 200
    page = await response.text()
    start = page.index('id="f-feed"')
    url = page[page.index('value="', start) + 7 : page.index('"', page.index('value="', start) + 7)]
    origin = str(env.client.make_url("/")).rstrip("/")  # test mode: the address the browser used
    assert url.startswith(origin + "/calendar/") and url.endswith(".ics")
    return url.removeprefix(origin)


async def fetch_feed(env: Env, path: str) -> tuple[int, str, Any]:
    env.client.session.cookie_jar.clear()  # a calendar application has no session
    response = await env.client.get(path)
    return response.status, await response.text(), response.headers


async def test_the_calendar_feed_lists_the_appointments_without_health_data(env: Env) -> None:
    created = await booked(env)
    other = await book(
        env,
        booking(await resident_with_other_name(env), created["expert_id"], "2026-11-26T14:00:00+01:00"),
    )
    assert other[0] == 201
    response = await env.client.post(
        f"/api/v1/appointments/{other[1]['id']}/cancel", json={"reason": "Sortie"}, headers=await headers(env)
    )
    assert response.status == 200
    path = await create_feed(env, Role.EXPERT)

    status, text, response_headers = await fetch_feed(env, path)
    assert status == 200
    assert response_headers["Content-Type"].startswith("text/calendar")
    assert response_headers["Cache-Control"] == "private, no-store"
    assert_no_health_data(text)
    assert "Sortie" not in text and "DURAND" not in text
    calendar = Calendar.from_ical(text)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {f"{created['id']}@teleconsult", f"{other[1]['id']}@teleconsult"}
    event = events[f"{created['id']}@teleconsult"]
    assert str(event["SUMMARY"]) == "Téléconsultation - EHPAD Test"
    assert event.decoded("DTSTART").isoformat() == "2026-11-25T13:00:00+00:00"
    assert event.decoded("DTEND").isoformat() == "2026-11-25T13:45:00+00:00"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert [a.decoded("TRIGGER") for a in event.walk("VALARM")] == [
        -timedelta(hours=24),
        -timedelta(hours=1),
    ]
    assert str(events[f"{other[1]['id']}@teleconsult"]["STATUS"]) == "CANCELLED"

    # The care home's staff see their care home's appointments in theirs.
    status, text, _ = await fetch_feed(env, await create_feed(env, Role.IDEC))
    assert status == 200 and f"{created['id']}@teleconsult" in text
    assert_no_health_data(text)


async def resident_with_other_name(env: Env) -> uuid.UUID:
    details = ResidentDetails(
        traits=IdentityTraits("DURAND", ("Lucie",), Sex.FEMALE, date(1931, 1, 9), "75056"),
        ins=None,
        identity_status=IdentityStatus.PROVISOIRE,
        room="4",
    )
    created = await residents_service.create_resident(
        env.uow(), env.app[KEYRING], Principal(env.territory.users[Role.IDE], True), details, env.clock.now()
    )
    return created.id


async def test_a_feed_address_is_stored_hashed_replaced_revoked_and_audited(env: Env) -> None:
    await booked(env)
    first = await create_feed(env, Role.EXPERT)
    token = first.removeprefix("/calendar/").removesuffix(".ics")
    assert len(token) == 43  # 256 random bits
    async with env.uow() as uow:
        stored = list((await uow.session.execute(select(calendar_feeds))).all())
    assert len(stored) == 1 and token not in str(stored[0]) and len(stored[0].token_hash) == 64

    second = await create_feed(env, Role.EXPERT)
    assert second != first
    assert (await fetch_feed(env, first))[0] == 404
    assert (await fetch_feed(env, second))[0] == 200

    await env.login(Role.EXPERT)
    page = await (await env.client.get("/account")).text()
    assert "Remplacer par une nouvelle adresse" in page and second not in page
    token_field = CSRF_RE.search(page)
    assert token_field
    response = await env.client.post(
        "/account/calendar/revoke", data={"csrf_token": token_field.group(1)}, allow_redirects=False
    )
    assert response.status == 303
    assert (await fetch_feed(env, second))[0] == 404
    assert (await fetch_feed(env, "/calendar/not-a-token.ics"))[0] == 404

    expert = env.territory.users[Role.EXPERT]
    events = await accesses_to(env.uow(), "user", str(expert.id))  # newest first
    assert [e.action for e in events if e.action.startswith("calendar_feed")] == [
        "calendar_feed.revoke",
        "calendar_feed.create",
        "calendar_feed.create",
    ]


async def test_a_deactivated_users_feed_stops_working(env: Env) -> None:
    path = await create_feed(env, Role.IDE)
    assert (await fetch_feed(env, path))[0] == 200
    async with env.uow() as uow:
        await uow.session.execute(
            update(users).where(users.c.id == env.territory.users[Role.IDE].id).values(is_active=False)
        )
        await uow.commit()
    assert (await fetch_feed(env, path))[0] == 404


async def test_coordinators_have_no_calendar_section(env: Env) -> None:
    await env.login(Role.COORDINATEUR)
    page = await (await env.client.get("/account")).text()
    assert "account/calendar" not in page

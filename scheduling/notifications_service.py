"""Use cases of notifications and reminders: tell the right people when an appointment is booked, moved,
cancelled or missed (inside the transaction that changes it), list and mark one's own notifications, send
the reminders that are due, and serve a person's calendar feed.

Everything here reads only the plaintext columns of appointments (when, which care home, which expert,
status): no dossier key is ever opened, so no resident's name or reason can reach a notification, an
e-mail or a calendar.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from scheduling.calendar import FeedEvent, build_feed
from scheduling.model import Appointment, AppointmentStatus
from scheduling.notifications import (
    ON_DAY,
    REMINDER_BODY,
    REMINDER_SUBJECT,
    SUMMARY,
    TODAY,
    TOMORROW,
    WITH_EXPERT,
    AppointmentFacts,
    Notification,
    NotificationKind,
    care_home_staff,
    days_ahead,
    due_offset,
    recipients,
)
from scheduling.notifications_store import AppointmentHeader, NotificationStore
from teleconsult import i18n
from teleconsult.db import UnitOfWork
from teleconsult.errors import NotFound
from teleconsult.identity import policy
from teleconsult.identity.model import CARE_HOME_ROLES, Role, User
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.calendar_feeds import calendar_feed_owner
from teleconsult.identity.store import IdentityStore
from teleconsult.mail import Mailer, MailError

log = logging.getLogger("teleconsult.reminders")

LIST_LIMIT = 50
#: How far back a calendar feed goes (recent past appointments stay visible in the calendar).
FEED_PAST = timedelta(days=30)


# ------------------------------------------------------------------------------------------ notifying


async def _staff_and_expert(
    uow: UnitOfWork, expert_id: UUID, ehpad_id: UUID
) -> tuple[User | None, list[User]]:
    identity = uow.store(IdentityStore)
    return await identity.get_user(expert_id), care_home_staff(await identity.list_users(ehpad_id), ehpad_id)


async def notify(
    uow: UnitOfWork,
    appointment: Appointment,
    kind: NotificationKind,
    actor: User,
    now: datetime,
    *,
    expert: User | None = None,
) -> None:
    """Write the notifications of a change to ``appointment`` in the caller's open transaction, so they
    exist if and only if the change does. A move to another expert also tells the first expert, as a
    cancellation of the old appointment. ``expert``: the appointment's expert when the caller has just
    read it (a booking), saving the round trips of reading it again."""
    if expert is None or expert.id != appointment.expert_id:
        expert = await uow.store(IdentityStore).get_user(appointment.expert_id)
        if expert is None:
            return
    staff: list[User] = []
    if kind not in (NotificationKind.BOOKED, NotificationKind.RESCHEDULED):  # the care home is not told
        staff = care_home_staff(
            await uow.store(IdentityStore).list_users(appointment.ehpad_id), appointment.ehpad_id
        )
    rows = _rows(kind, appointment.id, recipients(kind, actor, expert, staff), now)
    if kind is NotificationKind.RESCHEDULED and appointment.rescheduled_from is not None:
        old = await uow.store(NotificationStore).headers([appointment.rescheduled_from])
        if old and old[0].expert_id != appointment.expert_id:
            first_expert = await uow.store(IdentityStore).get_user(old[0].expert_id)
            if first_expert is not None:
                cancelled = NotificationKind.CANCELLED
                staff = care_home_staff(
                    await uow.store(IdentityStore).list_users(appointment.ehpad_id), appointment.ehpad_id
                )
                rows += _rows(cancelled, old[0].id, recipients(cancelled, actor, first_expert, staff), now)
    await uow.store(NotificationStore).add(rows)


def _rows(
    kind: NotificationKind, appointment_id: UUID, user_ids: Sequence[UUID], now: datetime, offset: int = 0
) -> list[Notification]:
    return [Notification(uuid.uuid4(), user_id, kind, appointment_id, offset, now) for user_id in user_ids]


# -------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class NotificationView:
    notification: Notification
    facts: AppointmentFacts


@dataclass(frozen=True, slots=True)
class Inbox:
    items: list[NotificationView]
    unread: int


async def _facts(uow: UnitOfWork, headers: Sequence[AppointmentHeader]) -> dict[UUID, AppointmentFacts]:
    identity = uow.store(IdentityStore)
    experts = {u.id: u for u in await identity.get_users(sorted({h.expert_id for h in headers}))}
    names = {e.id: e.name for e in await identity.list_establishments()}
    return {
        h.id: AppointmentFacts(
            h.id,
            h.starts_at,
            h.ends_at,
            h.status.value,
            names.get(h.ehpad_id, ""),
            experts[h.expert_id].display_name if h.expert_id in experts else "",
        )
        for h in headers
    }


async def inbox(uow: UnitOfWork, actor: Principal, *, limit: int = LIST_LIMIT) -> Inbox:
    """The actor's latest notifications, newest first, with the unread count. Anyone logged in; only
    their own. No health data is involved: nothing to audit."""
    policy.require(actor, Action.READ_OWN_NOTIFICATIONS, actor.user.id)
    async with uow.reading():
        store = uow.store(NotificationStore)
        found = await store.for_user(actor.user.id, limit)
        unread = await store.unread_count(actor.user.id)
        facts = await _facts(uow, await store.headers({n.appointment_id for n in found}))
    return Inbox([NotificationView(n, facts[n.appointment_id]) for n in found], unread)


async def unread_count(uow: UnitOfWork, actor: Principal) -> int:
    policy.require(actor, Action.READ_OWN_NOTIFICATIONS, actor.user.id)
    async with uow.reading():
        return await uow.store(NotificationStore).unread_count(actor.user.id)


async def mark_read(uow: UnitOfWork, actor: Principal, notification_id: UUID | None, now: datetime) -> None:
    """Mark one of the actor's notifications read (None: all of them). Another person's is 404, as an
    unknown one; marking one twice is harmless."""
    async with uow:
        store = uow.store(NotificationStore)
        if notification_id is not None:
            owner = await store.owner(notification_id)
            if owner is None:
                raise NotFound()
            policy.require(actor, Action.READ_OWN_NOTIFICATIONS, owner)
        await store.mark_read(actor.user.id, now, notification_id)
        await uow.commit()


# ------------------------------------------------------------------------------------------ reminders


@dataclass(frozen=True, slots=True)
class ReminderRun:
    notifications: int
    mails: int
    mail_failures: int


def when_words(starts_at: datetime, now: datetime) -> dict[str, str]:
    """'tomorrow', '14:00' in the active language, Paris time."""
    ahead = days_ahead(starts_at, now)
    if ahead == 0:
        day = i18n.gettext_(TODAY)
    elif ahead == 1:
        day = i18n.gettext_(TOMORROW)
    else:
        day = i18n.gettext_(ON_DAY) % {"date": i18n.local_date(starts_at, "long")}
    return {"day": day, "time": i18n.local_time(starts_at)}


def reminder_mail(facts: AppointmentFacts, now: datetime, link: str) -> tuple[str, str]:
    """Subject and body of a reminder, in the active language: when, which care home, which expert, a link.
    Nothing else: the mail leaves the certified host."""
    words = {**when_words(facts.starts_at, now), "ehpad": facts.ehpad_name, "expert": facts.expert_name}
    subject = i18n.gettext_(REMINDER_SUBJECT) % words
    body = i18n.gettext_(REMINDER_BODY) % {**words, "link": link}
    return subject, body


async def send_due_reminders(
    uow: UnitOfWork, mailer: Mailer, offsets_minutes: Sequence[int], now: datetime, link: str
) -> ReminderRun:
    """Create the reminders that are due now (both sides of each appointment) and e-mail them to those who
    have an address. Called every minute by the background task; safe to call from several processes at
    once and again after a restart: a reminder is inserted once (unique constraint), and only the process
    whose insert created it sends its e-mail, after the commit."""
    if not offsets_minutes:
        return ReminderRun(0, 0, 0)
    horizon = now + timedelta(minutes=max(offsets_minutes))
    async with uow.reading():  # most minutes nothing is due: no write transaction for them
        store = uow.store(NotificationStore)
        candidates = await store.booked_between(now, horizon)
        done = await store.reminded(c.id for c in candidates)
    due = [
        (header, offset)
        for header in candidates
        if (offset := due_offset(header.starts_at, header.created_at, offsets_minutes, now)) is not None
        and (header.id, offset) not in done
    ]
    if not due:
        return ReminderRun(0, 0, 0)
    mails: list[tuple[str, str, str]] = []
    created = 0
    async with uow:
        store = uow.store(NotificationStore)
        identity = uow.store(IdentityStore)
        facts = await _facts(uow, [header for header, _ in due])
        for header, offset in due:
            expert, staff = await _staff_and_expert(uow, header.expert_id, header.ehpad_id)
            if expert is None:
                continue
            kind = NotificationKind.REMINDER
            added = await store.add(
                _rows(kind, header.id, recipients(kind, None, expert, staff), now, offset)
            )
            created += len(added)
            people = {u.id: u for u in await identity.get_users([n.user_id for n in added])}
            subject, body = reminder_mail(facts[header.id], now, link)
            mails += [(p.email, subject, body) for n in added if (p := people.get(n.user_id)) and p.email]
        await uow.commit()
    failures = 0
    for to, subject, body in mails:
        try:
            await mailer.send(to, subject, body)
        except MailError as exc:
            failures += 1
            log.warning("reminder e-mail not sent", extra={"error": str(exc)})
    if created:
        log.info(
            "reminders sent",
            extra={"notifications": created, "mails": len(mails) - failures, "failed": failures},
        )
    return ReminderRun(created, len(mails) - failures, failures)


# -------------------------------------------------------------------------------------- calendar feed


async def calendar_feed(
    uow: UnitOfWork, token: str, offsets_minutes: Sequence[int], now: datetime, app_url: str
) -> bytes:
    """The calendar of the person whose feed ``token`` opens: the appointments they work on (an expert's
    own, the secretariat's hospital's, the care home's), from a month back, cancelled ones marked so.
    Raises NotFound for an unknown or revoked token. The token is the credential: the route is public."""
    owner = await calendar_feed_owner(uow, token)
    if owner is None:
        raise NotFound()
    async with uow.reading():
        store = uow.store(NotificationStore)
        since = now - FEED_PAST
        if owner.role in CARE_HOME_ROLES:
            headers = await store.for_calendar(since=since, ehpad_id=owner.establishment_id)
        elif owner.role is Role.EXPERT:
            headers = await store.for_calendar(since=since, expert_ids=[owner.id])
        else:  # the secretariat: every expert of its hospital
            staff = await uow.store(IdentityStore).list_users(owner.establishment_id)
            experts = [u.id for u in staff if u.role is Role.EXPERT]
            headers = await store.for_calendar(since=since, expert_ids=experts)
        facts = await _facts(uow, headers)
    events = [
        FeedEvent(
            appointment_id=h.id,
            starts_at=h.starts_at,
            ends_at=h.ends_at,
            summary=i18n.gettext_(SUMMARY) % {"ehpad": facts[h.id].ehpad_name},
            description=i18n.gettext_(WITH_EXPERT) % {"expert": facts[h.id].expert_name},
            url=f"{app_url.rstrip('/')}/appointments/{h.id}",
            cancelled=h.status is AppointmentStatus.CANCELLED,
            sequence=h.version,
        )
        for h in headers
    ]
    return build_feed(events, "teleconsult", offsets_minutes, now)

"""Use cases of the video rooms: open the call page (a join token and the ICE servers), admit a WebSocket
with its token, and record leaves.

Who may join is the access policy's answer for ``Action.JOIN_CALL`` on the appointment (its booked expert,
the care home's staff). A token is issued only to them, only while the room is open; when it comes back on
the WebSocket it is checked again (signature, claims, the room's hours, the policy with the user as they
are now) and used once. Every join, refusal and leave is audited, ids only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from records.audit.model import Outcome
from scheduling.model import AppointmentStatus
from scheduling.service import AppointmentTimes, appointment_times
from signalling.journal import (
    CallEvent,
    EndReason,
    JournalSummary,
    LeaveReason,
    end_event,
    end_reason,
    leave_event,
    summarise,
)
from signalling.model import (
    AppointmentNotBooked,
    CallError,
    JoinRefused,
    RoomHours,
    RoomRules,
    Seat,
    seat_of,
)
from signalling.recordings_store import RecordingStore
from signalling.store import SignallingStore
from signalling.tokens import LEEWAY, JoinClaims, JoinTokens
from signalling.turn import ice_servers
from teleconsult.db import UnitOfWork
from teleconsult.errors import NotFound
from teleconsult.identity import policy
from teleconsult.identity.model import User
from teleconsult.identity.policy import Action, Decision, Principal
from teleconsult.identity.service.trail import audit, audit_alone
from teleconsult.identity.store import IdentityStore

OBJECT_TYPE = "appointment"


@dataclass(frozen=True, slots=True)
class CallConfig:
    """Built once by create_app from the settings."""

    tokens: JoinTokens
    rules: RoomRules
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Ticket:
    """What the call page gives the browser: the token for the WebSocket's join, and the ICE servers."""

    appointment_id: UUID
    starts_at: datetime
    token: str
    seat: Seat
    hours: RoomHours
    ice_servers: list[dict[str, Any]]
    #: The resident (or family) consented to record the call: the page also sends its tracks to the
    #: server's recorder leg (web/static/recorder.js, ADR 0016).
    record_call: bool = False


def room_hours(config: CallConfig, times: AppointmentTimes) -> RoomHours:
    return RoomHours.of(times.starts_at, times.ends_at, config.rules)


def is_room_open(config: CallConfig, starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
    """For pages that show a "join" button: the room's hours only (the policy is asked by the page)."""
    return RoomHours.of(starts_at, ends_at, config.rules).is_open(now)


async def issue_ticket(
    uow: UnitOfWork, config: CallConfig, actor: Principal, appointment_id: UUID, now: datetime
) -> Ticket:
    """For the appointment's booked expert and its care home's staff (others: 404 or 403 as for reading
    the appointment), while its room is open (else :class:`RoomNotOpenYet`, :class:`RoomClosed` or
    :class:`AppointmentNotBooked`). Issues a single-use join token; no data is read, nothing is audited
    until the token is used."""
    async with uow.reading():
        times = await appointment_times(uow, appointment_id)
        record_call = await uow.store(RecordingStore).record_call_consented(appointment_id)
    policy.require(actor, Action.JOIN_CALL, times.ref)
    if times.status is not AppointmentStatus.BOOKED:
        raise AppointmentNotBooked()
    hours = room_hours(config, times)
    hours.check_open(now)
    seat = seat_of(actor.role)
    issued = config.tokens.issue(actor.user.id, appointment_id, seat, now)
    servers = ice_servers(
        config.stun_urls, config.turn_urls, config.turn_secret, actor.user.id.hex, now, config.turn_ttl
    )
    return Ticket(appointment_id, times.starts_at, issued.token, seat, hours, servers, record_call)


@dataclass(frozen=True, slots=True)
class Admission:
    user: User
    claims: JoinClaims
    hours: RoomHours


async def admit(
    uow: UnitOfWork, config: CallConfig, token: str, now: datetime, client_address: str | None
) -> Admission:
    """Check a join token as the WebSocket's first message brings it, and use it up. Raises
    :class:`CallError` (JoinRefused: close 4401; the room's hours: 4410), after auditing the refusal."""
    claims: JoinClaims | None = None
    user: User | None = None
    try:
        claims = config.tokens.verify(token, now)
        async with uow:
            user = await uow.store(IdentityStore).get_user(claims.participant_id)
            if user is None or not user.is_active:
                raise JoinRefused("participant")
            try:
                times = await appointment_times(uow, claims.room_id)
            except NotFound as exc:
                raise JoinRefused("room") from exc
            # The user as they are now: a role or care home changed since the page was opened counts.
            if policy.decide(Principal(user, True), Action.JOIN_CALL, times.ref) is not Decision.ALLOW:
                raise JoinRefused("policy")
            if seat_of(user.role) is not claims.seat:
                raise JoinRefused("seat")
            if times.status is not AppointmentStatus.BOOKED:
                raise AppointmentNotBooked()
            hours = room_hours(config, times)
            hours.check_open(now)
            store = uow.store(SignallingStore)
            await store.forget_expired(now - LEEWAY - timedelta(minutes=1))
            if not await store.use_token(claims.token_id, claims.room_id, user.id, claims.expires_at, now):
                raise JoinRefused("replayed")
            await audit(
                uow, now, "call.join", Outcome.SUCCESS, user, client_address, OBJECT_TYPE, claims.room_id
            )
            await uow.commit()
    except CallError:
        await audit_alone(  # the same unit of work, in a transaction of its own: the first rolled back
            uow,
            now,
            "call.join.refused",
            Outcome.DENIED,
            user,
            client_address,
            OBJECT_TYPE if claims else None,
            claims.room_id if claims else None,
        )
        raise
    return Admission(user, claims, hours)


async def record_event(uow: UnitOfWork, event: CallEvent) -> None:
    """One event of the journal (a network state, a quality summary), in a transaction of its own."""
    async with uow:
        await uow.store(SignallingStore).add_event(event)
        await uow.commit()


async def record_leave(
    uow: UnitOfWork,
    user: User,
    appointment_id: UUID,
    reason: LeaveReason,
    ended: EndReason | None,
    now: datetime,
    client_address: str | None,
) -> None:
    """A participant left (hung up) or dropped (connection lost, silent, replaced, removed): audited (ids
    only) and journaled; ``ended``: the room emptied with this leave, why the call began to end."""
    action = "call.leave" if reason is LeaveReason.NORMAL else "call.drop"
    async with uow:
        await journal_leave(uow.store(SignallingStore), user.id, appointment_id, reason, ended, now)
        await audit(uow, now, action, Outcome.SUCCESS, user, client_address, OBJECT_TYPE, appointment_id)
        await uow.commit()


async def journal_leave(
    store: SignallingStore,
    user_id: UUID | None,
    appointment_id: UUID,
    reason: LeaveReason,
    ended: EndReason | None,
    now: datetime,
) -> None:
    """The leave (and the end, when the room emptied) into the journal; the caller's transaction."""
    await store.add_event(leave_event(appointment_id, user_id, reason, now))
    if ended is not None:
        await _add_end(store, appointment_id, ended, now)


async def record_end(
    uow: UnitOfWork, appointment_id: UUID, first_departure: EndReason, now: datetime
) -> None:
    """The room emptied without a leave (a dropped participant's seat expired)."""
    async with uow:
        await _add_end(uow.store(SignallingStore), appointment_id, first_departure, now)
        await uow.commit()


async def _add_end(
    store: SignallingStore, appointment_id: UUID, first_departure: EndReason, now: datetime
) -> None:
    reason = end_reason(first_departure, await store.last_ice_state(appointment_id))
    await store.add_event(end_event(appointment_id, reason, now))


@dataclass(frozen=True, slots=True)
class Journal:
    events: list[CallEvent]
    summary: JournalSummary
    #: The participants' display names (staff names, not health data), by user id.
    names: dict[UUID, str]


async def call_journal(
    uow: UnitOfWork, actor: Principal, appointment_id: UUID, now: datetime, client_address: str | None
) -> Journal:
    """The call's journal for whoever may read the appointment (its expert, its care home's staff): ids,
    times and measurements only; the read is audited."""
    async with uow:
        times = await appointment_times(uow, appointment_id)
        policy.require(actor, Action.VIEW_APPOINTMENT, times.ref)
        events = await uow.store(SignallingStore).events_of(appointment_id)
        user_ids = {e.user_id for e in events if e.user_id is not None}
        users = await uow.store(IdentityStore).get_users(sorted(user_ids)) if user_ids else []
        await audit(
            uow,
            now,
            "call.journal.read",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            appointment_id,
        )
        await uow.commit()
    return Journal(events, summarise(events), {u.id: u.display_name for u in users})

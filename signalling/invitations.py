"""Invited participants: someone without an account (the treating physician, family, an interpreter) is
invited into one appointment's video room by a single-use link.

Who invites is the policy's ``INVITE_GUEST`` on the appointment: its booked expert, the care home's IDEC and
médecin coordonnateur. The link holds a random 256-bit token; only its SHA-256 is stored. The guest's role
and name are sealed under the resident's dossier key (they say who surrounds the resident). A link lives
until the room closes unless a shorter validity is given, and can be revoked.

Opening the link shows a landing page and changes nothing (mail scanners and link previews open links);
the guest's "join" uses it: within the room's hours only (before, the link stays usable), once (a conditional
UPDATE: the second use is refused in French), never once revoked or expired. The guest then holds a
:class:`~teleconsult.identity.policy.GuestPrincipal` and gets a join token like everyone (EdDSA, two
minutes, single use), whose ``sub`` is ``guest:<invitation id>``; its WebSocket join is checked again
(revocation, the room's hours, the token's single use). The guest sits on the side of whoever invited
them; a room has two seats, so the guest may join only while that seat is free (see the report of issue 6:
several participants per side need the hub and the call page to hold more than one peer). Every step is
audited, ids only.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from records.audit.model import Outcome
from records.residents.fields import SealingKeys
from scheduling.model import AppointmentStatus
from scheduling.service import appointment_dossier_key, appointment_times
from signalling.invitations_store import InvitationRow, InvitationStore
from signalling.journal import EndReason, LeaveReason
from signalling.model import (
    AppointmentNotBooked,
    CallError,
    JoinRefused,
    RoomClosed,
    RoomHours,
    Seat,
    seat_of,
)
from signalling.service import CallConfig, journal_leave, room_hours
from signalling.store import SignallingStore
from signalling.tokens import JoinClaims
from signalling.turn import ice_servers
from teleconsult.db import UnitOfWork
from teleconsult.errors import DomainError, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.policy import Action, GuestPrincipal, Principal
from teleconsult.identity.service.trail import audit, audit_alone

TABLE: Final = "invitations"
OBJECT_TYPE: Final = "appointment"
GUEST_OBJECT_TYPE: Final = "invitation"
#: The longest validity one may ask for (it is cut at the room's closing anyway).
MAX_VALID_HOURS: Final = 24 * 14
MAX_NAME_CHARS: Final = 120


class GuestRole(StrEnum):
    TREATING_PHYSICIAN = "treating_physician"
    FAMILY = "family"
    INTERPRETER = "interpreter"
    OTHER = "other"


GUEST_ROLE_LABELS: Final = {
    GuestRole.TREATING_PHYSICIAN: N_("Treating physician"),
    GuestRole.FAMILY: N_("Family member"),
    GuestRole.INTERPRETER: N_("Interpreter"),
    GuestRole.OTHER: N_("Other participant"),
}


class InvitationState(StrEnum):
    ACTIVE = "active"
    USED = "used"
    REVOKED = "revoked"
    EXPIRED = "expired"


def state_of(row: InvitationRow, now: datetime) -> InvitationState:
    if row.revoked_at is not None:
        return InvitationState.REVOKED
    if row.used_at is not None:
        return InvitationState.USED
    if now >= row.expires_at:
        return InvitationState.EXPIRED
    return InvitationState.ACTIVE


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def expiry(now: datetime, closes_at: datetime, valid_hours: int | None) -> datetime:
    """Until the room closes, or sooner when asked."""
    if valid_hours is None:
        return closes_at
    return min(closes_at, now + timedelta(hours=valid_hours))


# ----------------------------------------------------------------------------------------------- errors


class InvitationRefused(DomainError):
    """The link cannot be used (shown on the guest's page, with the status)."""

    status = 410


class InvitationUnknown(InvitationRefused):
    code = "invitation_unknown"
    status = 404
    message = N_("This invitation link is not valid. Ask the person who invited you for a new one.")


class InvitationUsed(InvitationRefused):
    code = "invitation_used"
    message = N_(
        "This invitation link has already been used: it lets one person in, once. Ask the person who invited "
        "you for a new one."
    )


class InvitationRevoked(InvitationRefused):
    code = "invitation_revoked"
    message = N_("This invitation was withdrawn by the person who sent it.")


class InvitationExpired(InvitationRefused):
    code = "invitation_expired"
    message = N_("This invitation link has expired. Ask the person who invited you for a new one.")


class GuestSeatTaken(CallError):
    code = "guest_seat_taken"
    status = 409
    close_code = 4409
    message = N_(
        "The call already has a participant on this side, and a room takes one connection per side for now. "
        "Ask the person who invited you."
    )


_REFUSAL_BY_STATE: Final[dict[InvitationState, type[InvitationRefused]]] = {
    InvitationState.USED: InvitationUsed,
    InvitationState.REVOKED: InvitationRevoked,
    InvitationState.EXPIRED: InvitationExpired,
}


# --------------------------------------------------------------------------------------------- inviting


@dataclass(frozen=True, slots=True)
class CreatedInvitation:
    id: UUID
    appointment_id: UUID
    #: The link's secret: shown once to the inviter, never stored.
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class InvitationView:
    id: UUID
    role: GuestRole
    name: str
    state: InvitationState
    created_at: datetime
    expires_at: datetime


async def create_invitation(
    uow: UnitOfWork,
    keys: SealingKeys,
    config: CallConfig,
    actor: Principal,
    appointment_id: UUID,
    role: GuestRole,
    name: str,
    valid_hours: int | None,
    now: datetime,
    client_address: str | None = None,
) -> CreatedInvitation:
    """For whoever the policy lets invite into this appointment (others: 404 or 403), while it is booked
    and its room has not closed. The token is returned once; its hash, the seat and the sealed role and
    name are stored; audited ``invitation.create``."""
    async with uow:
        times = await appointment_times(uow, appointment_id)
        policy.require(actor, Action.INVITE_GUEST, times.ref)
        if times.status is not AppointmentStatus.BOOKED:
            raise AppointmentNotBooked()
        hours = room_hours(config, times)
        if now >= hours.closes_at:
            raise RoomClosed()
        invitation_id = uuid.uuid4()
        key = await appointment_dossier_key(uow, keys, appointment_id)
        sealed = key.seal(TABLE, invitation_id, {"role": role.value, "name": name})
        token = secrets.token_urlsafe(32)
        expires_at = expiry(now, hours.closes_at, valid_hours)
        await uow.store(InvitationStore).add(
            invitation_id,
            appointment_id,
            token_hash(token),
            seat_of(actor.role).value,
            sealed,
            actor.user.id,
            now,
            expires_at,
        )
        await audit(
            uow,
            now,
            "invitation.create",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            appointment_id,
        )
        await uow.commit()
    return CreatedInvitation(invitation_id, appointment_id, token, expires_at)


async def list_invitations(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> list[InvitationView]:
    """The appointment's invitations with their guests' role and name (opened: audited)."""
    async with uow:
        times = await appointment_times(uow, appointment_id)
        policy.require(actor, Action.INVITE_GUEST, times.ref)
        rows = await uow.store(InvitationStore).of_appointment(appointment_id)
        views: list[InvitationView] = []
        if rows:
            key = await appointment_dossier_key(uow, keys, appointment_id)
            for row in rows:
                opened = key.open(TABLE, row.id, row.sealed)
                views.append(
                    InvitationView(
                        row.id,
                        GuestRole(opened["role"]),
                        opened["name"],
                        state_of(row, now),
                        row.created_at,
                        row.expires_at,
                    )
                )
        await audit(
            uow,
            now,
            "invitation.list",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            appointment_id,
        )
        await uow.commit()
    return views


async def revoke_invitation(
    uow: UnitOfWork,
    actor: Principal,
    appointment_id: UUID,
    invitation_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> None:
    """Withdraw a link (used or not: a guest not yet on the socket is then refused too). Another
    appointment's invitation is a 404. Audited ``invitation.revoke``."""
    async with uow:
        times = await appointment_times(uow, appointment_id)
        policy.require(actor, Action.INVITE_GUEST, times.ref)
        store = uow.store(InvitationStore)
        row = await store.get(invitation_id)
        if row is None or row.appointment_id != appointment_id:
            raise NotFound()
        await store.revoke(invitation_id, actor.user.id, now)
        await audit(
            uow,
            now,
            "invitation.revoke",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            GUEST_OBJECT_TYPE,
            invitation_id,
        )
        await uow.commit()


# ------------------------------------------------------------------------------------------- the guest


@dataclass(frozen=True, slots=True)
class Landing:
    """What the guest's page shows before they join: when, and whether the room is open."""

    appointment_id: UUID
    starts_at: datetime
    hours: RoomHours


async def _usable(
    uow: UnitOfWork, config: CallConfig, token: str, now: datetime
) -> tuple[InvitationRow, Any]:
    row = await uow.store(InvitationStore).by_token_hash(token_hash(token))
    if row is None:
        raise InvitationUnknown()
    state = state_of(row, now)
    if state is not InvitationState.ACTIVE:
        raise _REFUSAL_BY_STATE[state]()
    try:
        times = await appointment_times(uow, row.appointment_id)
    except NotFound as exc:
        raise InvitationUnknown() from exc
    policy.require_guest(GuestPrincipal(row.id, row.appointment_id), Action.JOIN_CALL, row.appointment_id)
    if times.status is not AppointmentStatus.BOOKED:
        raise AppointmentNotBooked()
    return row, times


async def open_invitation(uow: UnitOfWork, config: CallConfig, token: str, now: datetime) -> Landing:
    """The landing page: raises :class:`InvitationRefused` for a link that cannot be used; uses nothing."""
    async with uow.reading():
        row, times = await _usable(uow, config, token, now)
    return Landing(row.appointment_id, times.starts_at, room_hours(config, times))


@dataclass(frozen=True, slots=True)
class GuestTicket:
    invitation_id: UUID
    appointment_id: UUID
    starts_at: datetime
    token: str
    seat: Seat
    hours: RoomHours
    ice_servers: list[dict[str, Any]]


async def use_invitation(
    uow: UnitOfWork,
    config: CallConfig,
    token: str,
    seat_free: Callable[[UUID, Seat], bool],
    now: datetime,
    client_address: str | None = None,
) -> GuestTicket:
    """The guest joins: the link is used (once) and a join token issued. Refused (and audited
    ``invitation.refused``) when unknown, used, revoked or expired, outside the room's hours (the link
    then stays usable), or while the guest's seat is taken. Audited ``invitation.use``."""
    invitation_id: UUID | None = None
    try:
        async with uow:
            row, times = await _usable(uow, config, token, now)
            invitation_id = row.id
            hours = room_hours(config, times)
            hours.check_open(now)
            seat = Seat(row.seat)
            if not seat_free(row.appointment_id, seat):
                raise GuestSeatTaken()
            issued = config.tokens.issue(row.id, row.appointment_id, seat, now, guest=True)
            if not await uow.store(InvitationStore).use(row.id, issued.claims.token_id, now):
                raise InvitationUsed()  # used by a request that got there first
            await audit(
                uow, now, "invitation.use", Outcome.SUCCESS, None, client_address, GUEST_OBJECT_TYPE, row.id
            )
            await uow.commit()
    except (InvitationRefused, CallError):
        await audit_alone(
            uow,
            now,
            "invitation.refused",
            Outcome.DENIED,
            None,
            client_address,
            GUEST_OBJECT_TYPE if invitation_id else None,
            invitation_id,
        )
        raise
    servers = ice_servers(
        config.stun_urls, config.turn_urls, config.turn_secret, "guest" + row.id.hex, now, config.turn_ttl
    )
    return GuestTicket(row.id, row.appointment_id, times.starts_at, issued.token, seat, hours, servers)


@dataclass(frozen=True, slots=True)
class GuestAdmission:
    claims: JoinClaims
    hours: RoomHours


async def admit_guest(
    uow: UnitOfWork,
    config: CallConfig,
    token: str,
    seat_free: Callable[[UUID, Seat], bool],
    now: datetime,
    client_address: str | None = None,
) -> GuestAdmission:
    """A guest's WebSocket join: the same token checks as everyone's, then the invitation (not revoked),
    the room's hours, the seat, and the token's single use. Raises :class:`CallError` after auditing."""
    claims: JoinClaims | None = None
    try:
        claims = config.tokens.verify(token, now)
        if not claims.is_guest:
            raise JoinRefused("not_guest")
        async with uow:
            store = uow.store(InvitationStore)
            row = await store.get(claims.participant_id)
            if row is None or row.appointment_id != claims.room_id or row.seat != claims.seat.value:
                raise JoinRefused("invitation")
            if row.revoked_at is not None:
                raise JoinRefused("revoked")
            if policy.decide_guest(
                GuestPrincipal(row.id, row.appointment_id), Action.JOIN_CALL, claims.room_id
            ) is not (policy.Decision.ALLOW):
                raise JoinRefused("policy")
            try:
                times = await appointment_times(uow, claims.room_id)
            except NotFound as exc:
                raise JoinRefused("room") from exc
            if times.status is not AppointmentStatus.BOOKED:
                raise AppointmentNotBooked()
            hours = room_hours(config, times)
            hours.check_open(now)
            if not await store.join(row.id, claims.token_id, now):
                raise JoinRefused("replayed")
            if not seat_free(claims.room_id, claims.seat):
                raise GuestSeatTaken()  # rolled back with the join: the token stays unused
            await audit(
                uow, now, "call.join.guest", Outcome.SUCCESS, None, client_address, GUEST_OBJECT_TYPE, row.id
            )
            await uow.commit()
    except CallError:
        await audit_alone(
            uow,
            now,
            "call.join.refused",
            Outcome.DENIED,
            None,
            client_address,
            OBJECT_TYPE if claims else None,
            claims.room_id if claims else None,
        )
        raise
    return GuestAdmission(claims, hours)


async def record_guest_leave(
    uow: UnitOfWork,
    invitation_id: UUID,
    appointment_id: UUID,
    reason: LeaveReason,
    ended: EndReason | None,
    now: datetime,
    client_address: str | None,
) -> None:
    """Audited (the invitation's id) and journaled (nobody named: a guest has no account)."""
    action = "call.leave.guest" if reason is LeaveReason.NORMAL else "call.drop.guest"
    async with uow:
        await journal_leave(uow.store(SignallingStore), None, appointment_id, reason, ended, now)
        await audit(uow, now, action, Outcome.SUCCESS, None, client_address, GUEST_OBJECT_TYPE, invitation_id)
        await uow.commit()

"""HTTP of invitations: the inviter's pages (create, list, revoke) and the guest's (the landing page, the
join, the guest's signalling socket ``/ws/call/guest``). The guest's pages are public at the route level:
what admits them is the link's token, checked by signalling.invitations."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from uuid import UUID

from aiohttp import web

from signalling import invitations
from signalling.invitations import (
    GUEST_ROLE_LABELS,
    MAX_NAME_CHARS,
    MAX_VALID_HOURS,
    GuestRole,
    InvitationRefused,
)
from signalling.model import CallError, Seat
from signalling.protocol import MAX_MESSAGE_BYTES
from signalling.rooms import Connection
from signalling.routes import _close, _same_origin, hold_seat, read_join
from teleconsult.db import UnitOfWork
from teleconsult.forms import Field, read_form, uuid_in_path
from teleconsult.forms import parse as parse_fields
from teleconsult.i18n import N_
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action
from teleconsult.keys import CALL_CONFIG, CALL_HUB, CLOCK, KEYRING, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec, Routes

log = logging.getLogger("teleconsult.signalling")

routes = Routes()

#: Tokens are URL-safe base64 of 32 bytes (43 characters); anything much longer is not one of ours.
MAX_TOKEN_CHARS = 64


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def _seat_free(request: web.Request) -> Callable[[UUID, Seat], bool]:
    hub = request.app[CALL_HUB]
    return lambda room_id, seat: not hub.seat_held(room_id, seat)


def _valid_hours(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= MAX_VALID_HOURS:
        raise ValueError(raw)
    return value


INVITE_FIELDS = [
    Field("role", convert=GuestRole, max_length=32, invalid=N_("Choose who you invite.")),
    Field("name", max_length=MAX_NAME_CHARS),
    Field("valid_hours", required=False, max_length=4, convert=_valid_hours),
]


async def _render_list(request: web.Request, status: int = 200, **context: object) -> web.Response:
    appointment_id = uuid_in_path(request, "appointment_id")
    views = await invitations.list_invitations(
        _uow(request),
        request.app[KEYRING],
        current_principal(request),
        appointment_id,
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return render_page(
        request,
        "signalling/invite_list.html",
        status=status,
        appointment_id=str(appointment_id),
        invitations=views,
        role_labels=GUEST_ROLE_LABELS,
        roles=list(GuestRole),
        **context,
    )


@routes.get(
    "/appointments/{appointment_id}/invitations",
    name="invitations.list",
    action=Action.INVITE_GUEST,
    page=PageSpec(role=Role.IDEC, care_home=True),
)
async def invitations_page(request: web.Request) -> web.StreamResponse:
    return await _render_list(request)


@routes.post(
    "/appointments/{appointment_id}/invitations", name="invitations.create", action=Action.INVITE_GUEST
)
async def create_invitation(request: web.Request) -> web.StreamResponse:
    """The link is shown once, on the page this POST answers with (it is not kept)."""
    form = await read_form(request)
    values = parse_fields(form, INVITE_FIELDS)
    created = await invitations.create_invitation(
        _uow(request),
        request.app[KEYRING],
        request.app[CALL_CONFIG],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        values["role"],
        values["name"],
        values["valid_hours"],
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    path = request.app.router["invitations.landing"].url_for(invitation_token=created.token)
    settings = request.app[SETTINGS]
    # Production: the public address. Demo and tests: the address the inviter is using (any port).
    origin = settings.base_url.rstrip("/") if settings.mode == "production" else str(request.url.origin())
    link = origin + str(path)
    response = render_page(
        request,
        "signalling/invite_created.html",
        link=link,
        created=created,
        role_label=GUEST_ROLE_LABELS[values["role"]],
        name=values["name"],
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post(
    "/appointments/{appointment_id}/invitations/{invitation_id}/revoke",
    name="invitations.revoke",
    action=Action.INVITE_GUEST,
)
async def revoke_invitation(request: web.Request) -> web.StreamResponse:
    appointment_id = uuid_in_path(request, "appointment_id")
    await invitations.revoke_invitation(
        _uow(request),
        current_principal(request),
        appointment_id,
        uuid_in_path(request, "invitation_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    raise redirect(request, "invitations.list", appointment_id=str(appointment_id))


# ------------------------------------------------------------------------------------------- the guest


def _token(request: web.Request) -> str:
    token = request.match_info["invitation_token"]
    if not 0 < len(token) <= MAX_TOKEN_CHARS:
        raise web.HTTPNotFound()
    return token


def _refused(request: web.Request, exc: InvitationRefused | CallError) -> web.Response:
    response = render_page(
        request, "signalling/invite_landing.html", status=exc.status, refusal=exc, landing=None
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get(
    "/invitations/{invitation_token}",
    name="invitations.landing",
    action=Action.PUBLIC,
    page=PageSpec(role=None),
)
async def landing(request: web.Request) -> web.StreamResponse:
    """What the guest sees on opening the link: nothing is used until they press "join"."""
    try:
        opened = await invitations.open_invitation(
            _uow(request), request.app[CALL_CONFIG], _token(request), request.app[CLOCK].now()
        )
    except (InvitationRefused, CallError) as exc:
        return _refused(request, exc)
    response = render_page(
        request,
        "signalling/invite_landing.html",
        landing=opened,
        refusal=None,
        is_open=opened.hours.is_open(request.app[CLOCK].now()),
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.post("/invitations/{invitation_token}/join", name="invitations.join", action=Action.PUBLIC)
async def join(request: web.Request) -> web.StreamResponse:
    token = _token(request)
    try:
        ticket = await invitations.use_invitation(
            _uow(request),
            request.app[CALL_CONFIG],
            token,
            _seat_free(request),
            request.app[CLOCK].now(),
            client_address_of(request),
        )
    except (InvitationRefused, CallError) as exc:
        return _refused(request, exc)
    settings = request.app[SETTINGS]
    router = request.app.router
    config = {
        "token": ticket.token,
        "iceServers": ticket.ice_servers,
        "socket": str(router["call.ws.guest"].url_for()),
        # A guest's link admits once: a page that lost its socket cannot fetch a new token (403: refused).
        "ticket": str(router["invitations.ticket"].url_for(invitation_token=token)),
        "heartbeatSeconds": settings.call_heartbeat_seconds,
        "silenceSeconds": settings.call_silence_seconds,
        "forceRelay": settings.call_force_relay,
    }
    response = render_page(
        request,
        "call.html",
        ticket=ticket,
        config=json.dumps(config, separators=(",", ":")),
        appointment_url=str(router["invitations.landing"].url_for(invitation_token=token)),
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get("/invitations/{invitation_token}/ticket", name="invitations.ticket", action=Action.PUBLIC)
async def guest_ticket(request: web.Request) -> web.StreamResponse:
    """A guest's page asking for a new join token after a drop: refused, the link admitted once."""
    raise web.HTTPForbidden()


@routes.get("/ws/call/guest", name="call.ws.guest", action=Action.PUBLIC)
async def guest_socket(request: web.Request) -> web.StreamResponse:
    socket = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
    if not socket.can_prepare(request).ok:
        raise web.HTTPBadRequest()
    if not _same_origin(request):
        raise web.HTTPForbidden()
    await socket.prepare(request)
    await _serve_guest(request, socket)
    return socket


async def _serve_guest(request: web.Request, socket: web.WebSocketResponse) -> None:
    """As signalling.routes serves a participant, with a guest's admission and audit."""
    app = request.app
    token = await read_join(socket)
    if token is None:
        return
    address = client_address_of(request)
    try:
        admission = await invitations.admit_guest(
            _uow(request),
            app[CALL_CONFIG],
            token,
            _seat_free(request),
            app[CLOCK].now(),
            address,
        )
    except CallError as exc:
        log.info("guest join refused", extra={"code": exc.code, "reason": getattr(exc, "reason", "")})
        await _close(socket, exc.close_code, exc.code)
        return
    claims = admission.claims
    connection = Connection(claims.participant_id, claims.seat, guest=True)
    # A guest cannot come back (the link admitted once): after a drop the seat is freed at once.
    departure = await hold_seat(request, socket, claims.room_id, connection, keep_seat=False)
    await invitations.record_guest_leave(
        _uow(request),
        claims.participant_id,
        claims.room_id,
        departure.reason,
        departure.ended,
        app[CLOCK].now(),
        address,
    )

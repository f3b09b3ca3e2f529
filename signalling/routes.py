"""HTTP and WebSocket of the video rooms: the call page, a fresh ticket for a reconnecting page, and the
signalling socket ``/ws/call`` (protocol: docs/signalling.md).

The socket is public at the route level: what admits it is the join token of its first message, which
only the call page of an allowed, logged-in user hands out (and which names the participant).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from aiohttp import WSMsgType, web

from signalling import service
from signalling.journal import (
    QUALITY_MIN_INTERVAL_SECONDS,
    QUALITY_REPORT_SECONDS,
    EndReason,
    LeaveReason,
    ice_event,
    join_event,
    quality_event,
)
from signalling.model import CallError, Seat
from signalling.protocol import (
    MAX_MESSAGE_BYTES,
    RELAYED_TYPES,
    Close,
    ProtocolViolation,
    RateLimit,
    UnknownType,
    encode,
    parse,
)
from signalling.rooms import Connection
from teleconsult.db import UnitOfWork
from teleconsult.forms import uuid_in_path
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action
from teleconsult.keys import CALL_CONFIG, CALL_HUB, CLOCK, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import client_address_of, csrf_token
from teleconsult.pages import current_principal, render_page
from teleconsult.routing import PageSpec, Routes

log = logging.getLogger("teleconsult.signalling")

routes = Routes()

#: The first message (join) must come this soon after the socket opens.
JOIN_TIMEOUT_SECONDS = 10.0


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


async def _ticket(request: web.Request) -> service.Ticket:
    return await service.issue_ticket(
        _uow(request),
        request.app[CALL_CONFIG],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        request.app[CLOCK].now(),
    )


def _page_config(request: web.Request, ticket: service.Ticket) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    router = request.app.router
    appointment_id = str(ticket.appointment_id)
    care_home = ticket.seat is Seat.CARE_HOME
    return {
        "token": ticket.token,
        "iceServers": ticket.ice_servers,
        "socket": str(request.app.router["call.ws"].url_for()),
        "ticket": str(request.app.router["call.ticket"].url_for(appointment_id=str(ticket.appointment_id))),
        "heartbeatSeconds": settings.call_heartbeat_seconds,
        "silenceSeconds": settings.call_silence_seconds,
        "forceRelay": settings.call_force_relay,  # TURN relay only (settings.call_force_relay)
        # With consent to record, the page also sends its tracks to the recorder leg (ADR 0016).
        "recordCall": ticket.record_call,
        "appointmentId": str(ticket.appointment_id),
        "csrf": csrf_token(request),
        # The session journal: a quality summary from getStats this often (signalling.journal).
        "qualitySeconds": QUALITY_REPORT_SECONDS,
        "seat": ticket.seat.value,
        # The preparation documents beside the video, and where a photo taken during the call goes.
        "documents": str(router["api.appointments.documents"].url_for(appointment_id=appointment_id)),
        "upload": str(router["api.appointments.documents.upload"].url_for(appointment_id=appointment_id))
        if care_home
        else None,
        # When the network is too weak even for audio: the same question as a tele-expertise request.
        "expertise": str(router["expertise.new"].url_for().with_query(from_appointment=appointment_id))
        if care_home
        else None,
    }


@routes.get(
    "/appointments/{appointment_id}/call",
    name="call.page",
    action=Action.JOIN_CALL,
    page=PageSpec(role=Role.IDE, care_home=True),
)
async def call_page(request: web.Request) -> web.StreamResponse:
    ticket = await _ticket(request)
    return render_page(
        request,
        "call.html",
        ticket=ticket,
        config=json.dumps(_page_config(request, ticket), separators=(",", ":")),
        appointment_url=str(
            request.app.router["appointments.view"].url_for(appointment_id=str(ticket.appointment_id))
        ),
    )


@routes.get(
    "/api/v1/appointments/{appointment_id}/call-journal",
    name="api.call_journal",
    action=Action.VIEW_APPOINTMENT,
)
async def call_journal(request: web.Request) -> web.StreamResponse:
    journal = await service.call_journal(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(journal_json(journal))


def journal_json(journal: service.Journal) -> dict[str, Any]:
    summary = journal.summary
    duration = summary.duration
    return {
        "summary": {
            "started_at": summary.started_at.isoformat() if summary.started_at else None,
            "ended_at": summary.ended_at.isoformat() if summary.ended_at else None,
            "duration_seconds": int(duration.total_seconds()) if duration is not None else None,
            "reconnections": summary.reconnections,
            "incidents": summary.incidents,
            "mean_bitrate_kbps": summary.mean_bitrate_kbps,
            "worst_packet_loss_pct": summary.worst_packet_loss_pct,
            "median_rtt_ms": summary.median_rtt_ms,
            "end_reason": summary.end_reason.value if summary.end_reason else None,
        },
        "events": [
            {
                "at": event.at.isoformat(),
                "kind": event.kind.value,
                "detail": event.detail,
                "incident": event.incident,
                "participant": journal.names.get(event.user_id) if event.user_id else None,
                "bitrate_kbps": event.quality.bitrate_kbps if event.quality else None,
                "packet_loss_pct": event.quality.packet_loss_pct if event.quality else None,
                "rtt_ms": event.quality.rtt_ms if event.quality else None,
            }
            for event in journal.events
        ],
    }


@routes.get("/appointments/{appointment_id}/call/ticket", name="call.ticket", action=Action.JOIN_CALL)
async def call_ticket(request: web.Request) -> web.StreamResponse:
    """A new join token for the page's socket to come back with (a token is used once)."""
    ticket = await _ticket(request)
    response = web.json_response({"token": ticket.token, "iceServers": ticket.ice_servers})
    response.headers["Cache-Control"] = "no-store"
    return response


def _same_origin(request: web.Request) -> bool:
    """Browsers always send Origin on a WebSocket: refuse other sites' pages (the token is the real
    credential; this only keeps them from probing). Clients without a browser send none."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    allowed = {urlsplit(request.app[SETTINGS].base_url).netloc, request.host}
    return urlsplit(origin).netloc in allowed


@routes.get("/ws/call", name="call.ws", action=Action.PUBLIC)
async def call_socket(request: web.Request) -> web.StreamResponse:
    socket = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
    if not socket.can_prepare(request).ok:
        raise web.HTTPBadRequest()
    if not _same_origin(request):
        raise web.HTTPForbidden()
    await socket.prepare(request)
    await _serve(request, socket)
    return socket


async def _close(socket: web.WebSocketResponse, code: Close | int, reason: str = "") -> None:
    if not socket.closed:
        await socket.close(code=int(code), message=reason.encode()[:120])


async def read_join(socket: web.WebSocketResponse) -> str | None:
    """The token of the socket's first message, which must be a join; else the socket is closed (4400, or
    1009 for a message too big) and None returned."""
    try:
        first = await socket.receive(timeout=JOIN_TIMEOUT_SECONDS)
    except TimeoutError:
        await _close(socket, Close.MALFORMED, "join expected")
        return None
    if first.type is not WSMsgType.TEXT:
        await _close(socket, Close.TOO_BIG if first.type is WSMsgType.ERROR else Close.MALFORMED)
        return None
    try:
        message = parse(first.data)
    except (ProtocolViolation, UnknownType):
        message = None
    if message is None or message.type != "join":
        await _close(socket, Close.MALFORMED, "join expected")
        return None
    token: str = message.fields["token"]
    return token


@dataclass(frozen=True, slots=True)
class Departure:
    reason: LeaveReason
    #: The room emptied with this departure: how the call began to end.
    ended: EndReason | None


async def hold_seat(
    request: web.Request,
    socket: web.WebSocketResponse,
    room_id: UUID,
    connection: Connection,
    *,
    keep_seat: bool = True,
) -> Departure:
    """An admitted participant in their seat until they leave or drop: relays their messages, journals
    their join and what their page reports. ``keep_seat``: after a drop the seat waits for their return
    (not for a guest, whose link admitted once)."""
    app = request.app
    settings = app[SETTINGS]
    hub = app[CALL_HUB]

    def welcome(peer_present: bool) -> str:
        return encode(
            "joined",
            seat=connection.seat.value,
            polite=connection.seat.is_polite,
            peer_present=peer_present,
            heartbeat_seconds=settings.call_heartbeat_seconds,
            rejoin_seconds=settings.call_rejoin_seconds,
        )

    seated = await hub.join(room_id, connection, welcome)  # the other seat may be elsewhere: ADR 0015
    writer = asyncio.create_task(_write(socket, connection), name="call-writer")
    connection.start_heartbeat(settings.call_heartbeat_seconds, encode("heartbeat"))
    left = False
    try:
        joined = join_event(room_id, connection.journal_user_id, seated.rejoined, app[CLOCK].now())
        await service.record_event(_uow(request), joined)
        left = await _read(socket, connection, room_id, request, float(settings.call_silence_seconds))
    finally:
        reason = _leave_reason(left, connection.close_code)
        ended = hub.leave(room_id, connection, reason, keep_seat=keep_seat)
        if connection.close_code is None:
            connection.close(Close.NORMAL if left else Close.SILENT)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer, timeout=5)
        writer.cancel()
        await _close(socket, Close.NORMAL)
    return Departure(reason, ended)


async def _serve(request: web.Request, socket: web.WebSocketResponse) -> None:
    app = request.app
    token = await read_join(socket)
    if token is None:
        return
    address = client_address_of(request)
    try:
        admission = await service.admit(_uow(request), app[CALL_CONFIG], token, app[CLOCK].now(), address)
        del token  # not kept for the call's length
    except CallError as exc:
        log.info("call join refused", extra={"code": exc.code, "reason": getattr(exc, "reason", "")})
        await _close(socket, exc.close_code, exc.code)
        return
    room_id = admission.claims.room_id
    connection = Connection(admission.user.id, admission.claims.seat)
    departure = await hold_seat(request, socket, room_id, connection)
    await service.record_leave(
        _uow(request), admission.user, room_id, departure.reason, departure.ended, app[CLOCK].now(), address
    )


def _leave_reason(left: bool, close_code: Close | None) -> LeaveReason:
    """For the journal: how the connection ended, from the close the server chose (None: the browser's
    socket closed or broke)."""
    if left:
        return LeaveReason.NORMAL
    if close_code is Close.REPLACED:
        return LeaveReason.REPLACED
    if close_code is Close.SILENT:
        return LeaveReason.TIMEOUT
    if close_code in (Close.MALFORMED, Close.RATE_LIMITED, Close.TOO_BIG):
        return LeaveReason.REMOVED
    return LeaveReason.DROPPED


async def _read(
    socket: web.WebSocketResponse,
    connection: Connection,
    room_id: Any,
    request: web.Request,
    silence_seconds: float,
) -> bool:
    """Read until the socket ends; True if the participant left (hung up), False if they dropped."""
    hub = request.app[CALL_HUB]
    limit = RateLimit()
    last_quality = -QUALITY_MIN_INTERVAL_SECONDS
    last_ice: str | None = None
    while True:
        try:
            frame = await socket.receive(timeout=silence_seconds)
        except TimeoutError:
            connection.close(Close.SILENT)
            return False
        if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return False
        if frame.type is not WSMsgType.TEXT:
            connection.close(Close.MALFORMED)
            return False
        if not limit.allow(time.monotonic()):
            connection.close(Close.RATE_LIMITED)
            return False
        try:
            message = parse(frame.data)
        except UnknownType as unknown:
            connection.send(encode("error", code="unknown_type", detail=unknown.message_type))
            continue
        except ProtocolViolation as violation:
            connection.close(violation.close_code)
            return False
        if message.type == "leave":
            connection.close(Close.NORMAL)
            return True
        if message.type == "join":
            connection.close(Close.MALFORMED)  # one join per connection
            return False
        if message.type in RELAYED_TYPES:
            hub.relay(
                room_id, connection, encode(message.type, **{"from": connection.seat.value}, **message.fields)
            )
        elif message.type == "ice" and message.fields["state"] != last_ice:
            # A state the page repeats is written once: only changes go into the journal.
            last_ice = message.fields["state"]
            now = request.app[CLOCK].now()
            event = ice_event(room_id, connection.journal_user_id, last_ice, now)
            await service.record_event(_uow(request), event)
        elif message.type == "quality" and time.monotonic() - last_quality >= QUALITY_MIN_INTERVAL_SECONDS:
            last_quality = time.monotonic()
            now = request.app[CLOCK].now()
            event = quality_event(room_id, connection.journal_user_id, message.fields["quality"], now)
            await service.record_event(_uow(request), event)
        # heartbeat: receiving it was the point. What was received is not kept while waiting for the next
        # message (a process holds thousands of idle participants).
        del frame, message


async def _write(socket: web.WebSocketResponse, connection: Connection) -> None:
    """The only writer of the socket: messages in order, then the close."""
    while True:
        item = await connection.next()
        if isinstance(item, Close):
            await _close(socket, item)
            return
        try:
            await socket.send_str(item)
        except (ConnectionError, RuntimeError):
            return

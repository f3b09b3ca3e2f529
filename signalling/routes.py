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
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from signalling import service
from signalling.model import CallError
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


async def _serve(request: web.Request, socket: web.WebSocketResponse) -> None:
    app = request.app
    settings = app[SETTINGS]
    try:
        first = await socket.receive(timeout=JOIN_TIMEOUT_SECONDS)
    except TimeoutError:
        await _close(socket, Close.MALFORMED, "join expected")
        return
    if first.type is not WSMsgType.TEXT:
        await _close(socket, Close.TOO_BIG if first.type is WSMsgType.ERROR else Close.MALFORMED)
        return
    try:
        message = parse(first.data)
    except (ProtocolViolation, UnknownType):
        await _close(socket, Close.MALFORMED, "join expected")
        return
    if message.type != "join":
        await _close(socket, Close.MALFORMED, "join expected")
        return
    address = client_address_of(request)
    try:
        admission = await service.admit(
            _uow(request), app[CALL_CONFIG], message.fields["token"], app[CLOCK].now(), address
        )
    except CallError as exc:
        log.info("call join refused", extra={"code": exc.code, "reason": getattr(exc, "reason", "")})
        await _close(socket, exc.close_code, exc.code)
        return
    room_id = admission.claims.room_id
    connection = Connection(admission.user.id, admission.claims.seat)
    hub = app[CALL_HUB]
    peer_present = hub.join(room_id, connection)
    connection.send(
        encode(
            "joined",
            seat=connection.seat.value,
            polite=connection.seat.is_polite,
            peer_present=peer_present,
            heartbeat_seconds=settings.call_heartbeat_seconds,
            rejoin_seconds=settings.call_rejoin_seconds,
        )
    )
    writer = asyncio.create_task(_write(socket, connection), name="call-writer")
    beat = asyncio.create_task(_beat(connection, settings.call_heartbeat_seconds), name="call-heartbeat")
    left = False
    try:
        left = await _read(socket, connection, room_id, request, float(settings.call_silence_seconds))
    finally:
        hub.leave(room_id, connection, dropped=not left)
        beat.cancel()
        if connection.close_code is None:
            connection.close(Close.NORMAL if left else Close.SILENT)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer, timeout=5)
        writer.cancel()
        await _close(socket, Close.NORMAL)
        await service.record_leave(
            _uow(request), admission.user, room_id, not left, app[CLOCK].now(), address
        )


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
        # heartbeat: receiving it was the point


async def _write(socket: web.WebSocketResponse, connection: Connection) -> None:
    """The only writer of the socket: messages in order, then the close."""
    while True:
        item = await connection.outbox.get()
        if isinstance(item, Close):
            await _close(socket, item)
            return
        try:
            await socket.send_str(item)
        except (ConnectionError, RuntimeError):
            return


async def _beat(connection: Connection, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        connection.send(encode("heartbeat"))

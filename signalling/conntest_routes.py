"""HTTP of the connection test: the page, a small WebSocket echo (is the signalling path open?), the
WebRTC offer answered by the server's echo peer, and the browser's measures (the verdict). Mounted by
create_app; the echo peers live under :data:`signalling.conntest.CONNTEST_PEERS`."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from aiohttp import WSMsgType, web

from signalling import conntest
from signalling.conntest import CONNTEST_PEERS, Measures
from signalling.turn import ice_servers
from teleconsult import i18n
from teleconsult.db import UnitOfWork
from teleconsult.forms import Field, parse, read_json, uuid_in_path
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action
from teleconsult.keys import CALL_CONFIG, CLOCK, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, render_page
from teleconsult.routing import PageSpec, Routes

routes = Routes()

#: The WebSocket echo answers this many pings, then closes; each must come within the timeout.
WS_PINGS = 5
WS_TIMEOUT_SECONDS = 10.0
MAX_MEASURE = 10_000_000


def _ice_servers(request: web.Request, user: str) -> list[dict[str, Any]]:
    config = request.app[CALL_CONFIG]
    return ice_servers(
        config.stun_urls,
        config.turn_urls,
        config.turn_secret,
        user,
        request.app[CLOCK].now(),
        config.turn_ttl,
    )


def _appointment(request: web.Request) -> UUID | None:
    raw = request.query.get("appointment")
    if not raw:
        return None
    try:
        return UUID(raw)
    except ValueError as exc:
        raise web.HTTPNotFound() from exc


@routes.get(
    "/connection-test",
    name="conntest.page",
    action=Action.RUN_CONNECTION_TEST,
    page=PageSpec(role=Role.IDE, care_home=True),
)
async def connection_test_page(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    appointment_id = _appointment(request)
    router = request.app.router
    config = {
        "socket": str(router["conntest.ws"].url_for()),
        "offer": str(router["conntest.offer"].url_for()),
        "iceServers": _ice_servers(request, principal.user.id.hex),
        "forceRelay": request.app[SETTINGS].call_force_relay,
        "appointment": str(appointment_id) if appointment_id else None,
    }
    appointment_url = (
        str(router["appointments.view"].url_for(appointment_id=str(appointment_id)))
        if appointment_id
        else None
    )
    return render_page(
        request,
        "signalling/connection_test.html",
        config=json.dumps(config, separators=(",", ":")),
        appointment_url=appointment_url,
        ready_kbps=conntest.READY_MIN_KBPS,
        ready_rtt=conntest.READY_MAX_RTT_MS,
        audio_rtt=conntest.AUDIO_MAX_RTT_MS,
    )


@routes.get("/connection-test/ws", name="conntest.ws", action=Action.RUN_CONNECTION_TEST)
async def connection_test_socket(request: web.Request) -> web.StreamResponse:
    """Answers a few "ping" with "pong" (the page measures the WebSocket's round trip), then closes."""
    socket = web.WebSocketResponse(max_msg_size=1024, autoping=True)
    if not socket.can_prepare(request).ok:
        raise web.HTTPBadRequest()
    await socket.prepare(request)
    for _ in range(WS_PINGS):
        try:
            frame = await socket.receive(timeout=WS_TIMEOUT_SECONDS)
        except TimeoutError:
            break
        if frame.type is not WSMsgType.TEXT or frame.data != "ping":
            break
        await socket.send_str("pong")
    await socket.close()
    return socket


@routes.post("/connection-test/offer", name="conntest.offer", action=Action.RUN_CONNECTION_TEST)
async def connection_test_offer(request: web.Request) -> web.StreamResponse:
    """The browser's SDP offer (all candidates in it) -> the echo peer's answer and the test's id."""
    principal = current_principal(request)
    values = parse(await read_json(request), [Field("sdp", max_length=conntest.MAX_OFFER_CHARS)])
    test_id, answer = await request.app[CONNTEST_PEERS].answer(
        principal.user.id, values["sdp"], _ice_servers(request, "conntest")
    )
    result_url = request.app.router["conntest.result"].url_for(test_id=str(test_id))
    response = web.json_response({"id": str(test_id), "sdp": answer, "result": str(result_url)})
    response.headers["Cache-Control"] = "no-store"
    return response


def _count(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= MAX_MEASURE:
        raise ValueError(raw)
    return value


def _flag(raw: str) -> bool:
    if raw not in ("True", "False", "true", "false"):
        raise ValueError(raw)
    return raw in ("True", "true")


MEASURE_FIELDS = [
    Field("rtt_ms", required=False, max_length=12, convert=_count),
    Field("video_kbps", max_length=12, convert=_count),
    Field("video_frames", max_length=12, convert=_count),
    Field("audio_packets", max_length=12, convert=_count),
    Field("websocket_ok", max_length=5, convert=_flag),
    Field("appointment", required=False, max_length=36, convert=UUID),
]


@routes.post("/connection-test/{test_id}/result", name="conntest.result", action=Action.RUN_CONNECTION_TEST)
async def connection_test_result(request: web.Request) -> web.StreamResponse:
    """The measures: the echo peer is closed, the verdict returned (and recorded on the appointment's
    checklist when the test was run from one)."""
    test_id = uuid_in_path(request, "test_id")
    values = parse(await read_json(request), MEASURE_FIELDS)
    measures = Measures(
        rtt_ms=values["rtt_ms"],
        video_kbps=values["video_kbps"],
        video_frames=values["video_frames"],
        audio_packets=values["audio_packets"],
        websocket_ok=values["websocket_ok"],
    )
    verdict = await conntest.finish_test(
        UnitOfWork(request.app[SESSION_FACTORY]),
        request.app[CONNTEST_PEERS],
        current_principal(request),
        test_id,
        measures,
        values["appointment"],
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    return web.json_response(
        {
            "verdict": verdict.value,
            "message": i18n.gettext_(conntest.VERDICT_LABELS[verdict]),
            "recorded": values["appointment"] is not None,
        }
    )

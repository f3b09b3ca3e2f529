"""Video rooms on both backends: the call page's ticket, the WebSocket join with its token (every kind of
forged or stale token closed with 4401 and audited), relaying between the two seats, a drop and a return
to the same seat, and the protocol's limits (unknown type, size, rate, silence)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from html import unescape
from typing import Any

import jwt
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from records.audit.store import audit_events
from signalling.protocol import MAX_MESSAGE_BYTES
from signalling.tokens import AUDIENCE, load_signing_key
from teleconsult.identity.model import Role
from teleconsult.keys import CALL_CONFIG, SETTINGS
from teleconsult.settings import Settings
from tests.integration.conftest import ClientFactory, Env, build_env
from tests.integration.test_scheduling import book, booking, setup

CONFIG_RE = re.compile(r'data-config="([^"]+)"')
#: Every wait on the socket is bounded: a test never hangs.
WAIT = 10.0


async def booked_and_open(env: Env) -> uuid.UUID:
    """An appointment on Tuesday 14:00 Paris (13:00 UTC), the clock moved to 13:50 Paris: room open."""
    resident_id, expert_id = await setup(env)
    status, body = await book(env, booking(resident_id, expert_id))
    assert status == 201, body
    env.clock.advance(timedelta(hours=23, minutes=20))  # Monday 13:30 UTC -> Tuesday 12:50 UTC
    await env.login(Role.IDE)  # the session of Monday has expired
    return uuid.UUID(body["id"])


async def page_config(env: Env, appointment_id: uuid.UUID) -> dict[str, Any]:
    response = await env.client.get(f"/appointments/{appointment_id}/call")
    text = await response.text()
    assert response.status == 200, text
    match = CONFIG_RE.search(text)
    assert match, text[-3000:]
    config: dict[str, Any] = json.loads(unescape(match.group(1)))
    return config


async def ticket(env: Env, appointment_id: uuid.UUID, role: Role) -> str:
    await env.login(role)
    response = await env.client.get(
        f"/appointments/{appointment_id}/call/ticket", headers={"Accept": "application/json"}
    )
    assert response.status == 200, await response.text()
    token: str = (await response.json())["token"]
    return token


async def receive(socket: ClientWebSocketResponse) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    while True:
        frame = await socket.receive(timeout=WAIT)
        assert frame.type is WSMsgType.TEXT, (frame.type, frame.data, frame.extra)
        message: dict[str, Any] = json.loads(frame.data)
        if message["type"] != "heartbeat":
            return message


async def closed_with(socket: ClientWebSocketResponse) -> int | None:
    """The close code the server sent. Read from its close frame: aiohttp's client answers that frame and,
    when the server has already shut the connection by then (it may, having sent its close), overwrites
    ``socket.close_code`` with 1006 although the server's code arrived."""
    while True:
        frame = await socket.receive(timeout=WAIT)
        if frame.type is WSMsgType.CLOSE:
            code: int = frame.data
            return code
        if frame.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
            return socket.close_code
        assert frame.type is WSMsgType.TEXT


async def join(env: Env, token: str) -> ClientWebSocketResponse:
    socket = await env.client.ws_connect("/ws/call")
    await socket.send_json({"v": 1, "type": "join", "token": token})
    return socket


async def audited_at_least(env: Env, action: str, count: int) -> list[Any]:
    """The events, once there are ``count``: a leave is audited as the server's handler ends, which may be
    just after the client saw the socket close. A bounded poll."""
    rows: list[Any] = []
    for _ in range(int(WAIT / 0.05)):
        rows = await audited(env, action)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.05)
    return rows


async def audited(env: Env, action: str) -> list[Any]:
    async with env.uow().reading() as uow:
        rows = await uow.session.execute(select(audit_events).where(audit_events.c.action == action))
        return list(rows)


# ------------------------------------------------------------------------------------------ the page


async def test_the_call_page_gives_a_token_and_the_appointment_page_a_join_button(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    config = await page_config(env, appointment_id)
    assert config["socket"] == "/ws/call"
    assert config["iceServers"] == []  # no STUN or TURN configured: host candidates only
    claims = jwt.decode(config["token"], options={"verify_signature": False})
    assert claims["room"] == str(appointment_id)
    assert claims["seat"] == "care_home"
    assert claims["exp"] - claims["nbf"] <= 120
    assert jwt.get_unverified_header(config["token"])["alg"] == "EdDSA"
    appointment_page = await (await env.client.get(f"/appointments/{appointment_id}")).text()
    assert f"/appointments/{appointment_id}/call" in appointment_page
    await env.login(Role.EXPERT)
    assert (
        jwt.decode((await page_config(env, appointment_id))["token"], options={"verify_signature": False})[
            "seat"
        ]
        == "expert"
    )


async def test_the_room_is_closed_outside_its_hours_with_a_french_message(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    status, body = await book(env, booking(resident_id, expert_id))
    assert status == 201, body
    page = await env.client.get(f"/appointments/{body['id']}/call", headers={"Accept-Language": "fr"})
    assert page.status == 409
    assert "13:45" in await page.text()  # opens 15 minutes before 14:00 Paris
    appointment_page = await (await env.client.get(f"/appointments/{body['id']}")).text()
    assert f"/appointments/{body['id']}/call" not in appointment_page
    env.clock.advance(timedelta(days=1, hours=2))  # Tuesday 15:30 UTC: ended at 14:30 Paris + 30 min
    await env.login(Role.IDE)
    assert (await env.client.get(f"/appointments/{body['id']}/call")).status == 409


async def test_the_secretariat_may_not_join_and_another_care_home_does_not_see_the_room(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    await env.login(Role.SECRETARIAT)
    assert (await env.client.get(f"/appointments/{appointment_id}/call")).status == 403
    await env.login(Role.COORDINATEUR)
    assert (await env.client.get(f"/appointments/{appointment_id}/call")).status == 403


# ------------------------------------------------------------------------------------ joining, relaying


async def test_two_participants_join_relay_and_a_dropped_one_comes_back_to_the_same_seat(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    nurse = await join(env, await ticket(env, appointment_id, Role.IDE))
    joined = await receive(nurse)
    assert joined["type"] == "joined"
    assert joined == {**joined, "seat": "care_home", "polite": True, "peer_present": False}
    expert = await join(env, await ticket(env, appointment_id, Role.EXPERT))
    assert (await receive(expert))["peer_present"] is True
    assert await receive(nurse) == {"v": 1, "type": "peer-joined", "seat": "expert"}

    await expert.send_json({"v": 1, "type": "offer", "sdp": "v=0 offer", "extra": "dropped"})
    assert await receive(nurse) == {"v": 1, "type": "offer", "from": "expert", "sdp": "v=0 offer"}
    candidate = {
        "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    await nurse.send_json({"v": 1, "type": "candidate", "candidate": candidate})
    relayed = await receive(expert)
    assert relayed["candidate"] == {**candidate, "usernameFragment": None}
    await nurse.send_json({"v": 1, "type": "whatever"})
    assert (await receive(nurse))["code"] == "unknown_type"

    # The nurse's Wi-Fi drops: the expert stays, told the seat waits; the nurse comes back.
    await nurse.close()
    assert await receive(expert) == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}
    back = await join(env, await ticket(env, appointment_id, Role.IDE))
    assert (await receive(back))["peer_present"] is True
    assert await receive(expert) == {"v": 1, "type": "peer-joined", "seat": "care_home"}

    await expert.send_json({"v": 1, "type": "leave"})
    assert await closed_with(expert) == 1000
    assert await receive(back) == {"v": 1, "type": "peer-left", "seat": "expert", "reason": "left"}
    await back.close()
    assert len(await audited(env, "call.join")) == 3
    assert len(await audited_at_least(env, "call.leave", 1)) == 1
    assert len(await audited_at_least(env, "call.drop", 2)) == 2  # the nurse's drop, then her last close


async def test_a_second_connection_of_the_same_seat_replaces_the_first(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    first = await join(env, await ticket(env, appointment_id, Role.IDE))
    await receive(first)
    second = await join(env, await ticket(env, appointment_id, Role.IDEC))
    assert (await receive(second))["type"] == "joined"
    assert await closed_with(first) == 4409
    await second.close()


# ------------------------------------------------------------------------------------ refused tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    return signing_input + "." + _b64(sign(signing_input.encode()))


Forger = Callable[[Env, dict[str, Any]], str]


def _payload(env: Env, appointment_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    now = int(env.clock.now().timestamp())
    payload: dict[str, Any] = {
        "iss": env.app[SETTINGS].base_url,
        "aud": AUDIENCE,
        "sub": str(env.territory.users[Role.IDE].id),
        "room": str(appointment_id),
        "seat": "care_home",
        "jti": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def _good_key(env: Env) -> Ed25519PrivateKey:
    """The server's own key, from its file: the test signs as the server would."""
    return load_signing_key(env.app[SETTINGS].call_signing_key_path, generate=False)


def _kid(env: Env) -> str:
    return env.app[CALL_CONFIG].tokens.kid


def forge_none(env: Env, payload: dict[str, Any]) -> str:
    return _hand_made({"alg": "none", "typ": "JWT", "kid": _kid(env)}, payload, lambda _: b"")


def forge_hs256_with_public_key(env: Env, payload: dict[str, Any]) -> str:
    public_pem = (
        _good_key(env)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return _hand_made(
        {"alg": "HS256", "typ": "JWT", "kid": _kid(env)},
        payload,
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )


def forge_rs256(env: Env, payload: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": _kid(env)})


def forge_es256(env: Env, payload: dict[str, Any]) -> str:
    return jwt.encode(
        payload, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": _kid(env)}
    )


def signed(env: Env, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, _good_key(env), algorithm="EdDSA", headers={"kid": _kid(env)})


def forge_unknown_kid(env: Env, payload: dict[str, Any]) -> str:
    return jwt.encode(
        payload, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "0123456789abcdef"}
    )


def forge_own_key_under_our_kid(env: Env, payload: dict[str, Any]) -> str:
    return jwt.encode(payload, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": _kid(env)})


CASES: dict[str, tuple[Forger, dict[str, Any]]] = {
    "alg none": (forge_none, {}),
    "HS256 signed with the public key": (forge_hs256_with_public_key, {}),
    "RS256": (forge_rs256, {}),
    "ES256": (forge_es256, {}),
    "unknown kid": (forge_unknown_kid, {}),
    "another key under our kid": (forge_own_key_under_our_kid, {}),
    "missing exp": (signed, {"exp": None}),
    "expired": (signed, {"nbf": -600, "exp": -300}),
    "wrong audience": (signed, {"aud": "someone-else"}),
    "wrong issuer": (signed, {"iss": "https://evil.example"}),
    "lives too long": (signed, {"exp": 3600}),
    "another participant's seat": (signed, {"seat": "expert"}),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bad_token_is_closed_with_4401_and_audited(env: Env, case: str) -> None:
    appointment_id = await booked_and_open(env)
    forge, changes = CASES[case]
    now = int(env.clock.now().timestamp())
    relative = {k: now + v if k in ("exp", "nbf") and v is not None else v for k, v in changes.items()}
    socket = await join(env, forge(env, _payload(env, appointment_id, **relative)))
    assert await closed_with(socket) == 4401
    refusals = await audited(env, "call.join.refused")
    assert len(refusals) == 1
    assert refusals[0].outcome == "denied"
    assert not await audited(env, "call.join")


async def test_a_replayed_token_is_closed_with_4401_and_audited(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    token = await ticket(env, appointment_id, Role.IDE)
    first = await join(env, token)
    assert (await receive(first))["type"] == "joined"
    replay = await join(env, token)
    assert await closed_with(replay) == 4401
    assert len(await audited(env, "call.join.refused")) == 1
    await first.close()


async def test_a_token_for_a_room_that_closed_meanwhile_is_closed_with_4410(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    token = await ticket(env, appointment_id, Role.IDE)
    env.clock.advance(timedelta(hours=2))
    socket = await join(env, signed(env, _payload(env, appointment_id)))
    assert await closed_with(socket) == 4410
    assert token


# ---------------------------------------------------------------------------------------- limits


async def test_a_first_message_that_is_not_a_join_is_closed_with_4400(env: Env) -> None:
    socket = await env.client.ws_connect("/ws/call")
    await socket.send_json({"v": 1, "type": "offer", "sdp": "x"})
    assert await closed_with(socket) == 4400


async def test_a_message_over_64_kib_closes_the_connection(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    socket = await join(env, await ticket(env, appointment_id, Role.IDE))
    await receive(socket)
    await socket.send_str(json.dumps({"v": 1, "type": "offer", "sdp": "x" * MAX_MESSAGE_BYTES}))
    assert await closed_with(socket) == 1009


async def test_too_many_messages_close_the_connection_with_4429(env: Env) -> None:
    appointment_id = await booked_and_open(env)
    socket = await join(env, await ticket(env, appointment_id, Role.IDE))
    await receive(socket)
    for _ in range(300):
        await socket.send_json({"v": 1, "type": "heartbeat"})
    assert await closed_with(socket) == 4429


async def test_a_silent_participant_is_dropped_and_the_other_told(
    aiohttp_client: ClientFactory, settings: Settings, clock: Any
) -> None:
    env = await build_env(
        aiohttp_client, settings.replace(call_heartbeat_seconds=1, call_silence_seconds=2), clock
    )
    appointment_id = await booked_and_open(env)
    expert = await join(env, await ticket(env, appointment_id, Role.EXPERT))
    await receive(expert)
    nurse = await join(env, await ticket(env, appointment_id, Role.IDE))
    await receive(nurse)
    assert (await receive(expert))["type"] == "peer-joined"
    # The nurse sends nothing (not even heartbeats); the expert keeps beating while waiting.
    while True:
        await expert.send_json({"v": 1, "type": "heartbeat"})
        frame = await expert.receive(timeout=WAIT)
        message = json.loads(frame.data)
        if message["type"] != "heartbeat":
            break
    assert message == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}
    assert await closed_with(nurse) == 4408
    await expert.close()

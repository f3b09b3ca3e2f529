"""The connection test on both backends, with a real aiortc client in the browser's place: its offer is
answered by the server's echo peer, the frames it sends come back, and the measures it reports decide a
verdict that is recorded on the appointment's checklist. The limits: tests per user, an echo never used is
closed after the timeout, another user's test is not theirs, a garbage offer is a 422."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from html import unescape
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack

from signalling.conntest import CONNTEST_PEERS, Measures, Verdict, verdict_of
from teleconsult.clock import FixedClock
from teleconsult.identity.model import Role
from teleconsult.settings import Settings
from tests.integration.conftest import ClientFactory, Env, build_env
from tests.integration.test_scheduling import book, booking, setup

CONFIG_RE = re.compile(r'data-config="([^"]+)"')
CSRF_RE = re.compile(r'data-csrf="([0-9a-f]+)"')
#: Every wait is bounded: a test never hangs.
WAIT = 20.0


async def open_page(env: Env, query: str = "") -> tuple[dict[str, Any], str]:
    response = await env.client.get("/connection-test" + query)
    text = await response.text()
    assert response.status == 200, text[-2000:]
    config_match, csrf_match = CONFIG_RE.search(text), CSRF_RE.search(text)
    assert config_match and csrf_match
    return json.loads(unescape(config_match.group(1))), csrf_match.group(1)


async def post_json(env: Env, path: str, csrf: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await env.client.post(
        path, json=body, headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
    )
    return response.status, await response.json()


class Browser:
    """An aiortc peer that does what the page does: camera and microphone tracks, an offer with every
    candidate in it, the echo's answer, then frames back."""

    def __init__(self) -> None:
        self.peer = RTCPeerConnection()
        self.back: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
        self.peer.addTrack(VideoStreamTrack())
        self.peer.addTrack(AudioStreamTrack())

        @self.peer.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.back.put_nowait(track)

    async def offer(self) -> str:
        await self.peer.setLocalDescription(await self.peer.createOffer())
        return str(self.peer.localDescription.sdp)

    async def answer(self, sdp: str) -> None:
        await self.peer.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def video_back(self) -> Any:
        """The first video frame that came back from the echo."""
        while True:
            track = await asyncio.wait_for(self.back.get(), WAIT)
            if track.kind == "video":
                return await asyncio.wait_for(track.recv(), WAIT)

    async def close(self) -> None:
        await self.peer.close()


async def booked(env: Env) -> uuid.UUID:
    resident_id, expert_id = await setup(env)
    status, body = await book(env, booking(resident_id, expert_id))
    assert status == 201, body
    return uuid.UUID(body["id"])


async def checklist(env: Env, appointment_id: uuid.UUID) -> dict[str, bool]:
    response = await env.client.get(f"/api/v1/appointments/{appointment_id}")
    assert response.status == 200, await response.text()
    items: dict[str, bool] = (await response.json())["checklist"]
    return items


GOOD = {"rtt_ms": 12, "video_kbps": 600, "video_frames": 90, "audio_packets": 250, "websocket_ok": True}


async def test_the_echo_sends_the_frames_back_and_the_verdict_ticks_the_checklist(env: Env) -> None:
    appointment_id = await booked(env)
    await env.login(Role.IDEC)
    assert (await checklist(env, appointment_id))["test_connexion"] is False
    config, csrf = await open_page(env, f"?appointment={appointment_id}")
    assert config["appointment"] == str(appointment_id)
    assert config["offer"] == "/connection-test/offer"
    browser = Browser()
    try:
        status, answer = await post_json(env, config["offer"], csrf, {"sdp": await browser.offer()})
        assert status == 200, answer
        await browser.answer(answer["sdp"])
        frame = await browser.video_back()
        assert frame.width > 0 and frame.height > 0
        assert env.app[CONNTEST_PEERS].running() == 1

        status, result = await post_json(
            env, answer["result"], csrf, {**GOOD, "appointment": str(appointment_id)}
        )
        assert status == 200, result
        assert result["verdict"] == "ready"
        assert result["message"].startswith("Prêt")
        assert result["recorded"] is True
        assert env.app[CONNTEST_PEERS].running() == 0  # the echo peer is closed once the result is in
        assert (await checklist(env, appointment_id))["test_connexion"] is True

        # Reporting the same test twice: it is over.
        status, again = await post_json(env, answer["result"], csrf, GOOD)
        assert status == 404, again
    finally:
        await browser.close()


async def test_an_insufficient_network_unticks_the_item(env: Env) -> None:
    appointment_id = await booked(env)
    await env.login(Role.IDE)
    config, csrf = await open_page(env)
    for measures, ticked in (
        (GOOD, True),
        ({**GOOD, "rtt_ms": 1500}, False),
    ):
        browser = Browser()
        try:
            status, answer = await post_json(env, config["offer"], csrf, {"sdp": await browser.offer()})
            assert status == 200, answer
            status, result = await post_json(
                env, answer["result"], csrf, {**measures, "appointment": str(appointment_id)}
            )
            assert status == 200, result
            assert (await checklist(env, appointment_id))["test_connexion"] is ticked
        finally:
            await browser.close()
    assert result["message"].startswith("Réseau insuffisant")


async def test_a_test_is_not_recorded_on_another_care_homes_appointment(env: Env) -> None:
    appointment_id = await booked(env)
    await env.login(Role.EXPERT)  # may run a test, may not prepare the appointment
    config, csrf = await open_page(env)
    browser = Browser()
    try:
        status, answer = await post_json(env, config["offer"], csrf, {"sdp": await browser.offer()})
        assert status == 200, answer
        status, result = await post_json(
            env, answer["result"], csrf, {**GOOD, "appointment": str(appointment_id)}
        )
        assert status == 403, result
    finally:
        await browser.close()


async def test_another_users_test_is_not_theirs_and_garbage_offers_are_refused(env: Env) -> None:
    await env.login(Role.IDE)
    config, csrf = await open_page(env)
    browser = Browser()
    try:
        status, answer = await post_json(env, config["offer"], csrf, {"sdp": await browser.offer()})
        assert status == 200, answer
        await env.login(Role.IDEC)
        _, other_csrf = await open_page(env)
        status, body = await post_json(env, answer["result"], other_csrf, GOOD)
        assert status == 404, body
        assert env.app[CONNTEST_PEERS].running() == 1  # still the first user's
        status, body = await post_json(env, config["offer"], other_csrf, {"sdp": "v=0\r\nnonsense"})
        assert status == 422, body
        assert "navigateur" in body["message"]
        status, body = await post_json(env, answer["result"], other_csrf, {**GOOD, "rtt_ms": "a lot"})
        assert status == 422, body
    finally:
        await browser.close()


@pytest.fixture
async def strict_env(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Env:
    return await build_env(
        aiohttp_client, settings.replace(conntest_max_per_user=2, conntest_timeout_seconds=1), clock
    )


async def test_tests_per_user_are_limited_and_unused_echoes_are_closed(strict_env: Env) -> None:
    env = strict_env
    await env.login(Role.IDE)
    config, csrf = await open_page(env)
    browsers = [Browser() for _ in range(3)]
    try:
        for browser in browsers[:2]:
            status, answer = await post_json(env, config["offer"], csrf, {"sdp": await browser.offer()})
            assert status == 200, answer
        status, body = await post_json(env, config["offer"], csrf, {"sdp": await browsers[2].offer()})
        assert status == 429, body
        assert "déjà en cours" in body["message"]
        # Nobody reports: after the timeout (1 s here) both echo peers are closed. A bounded poll.
        peers = env.app[CONNTEST_PEERS]
        for _ in range(int(WAIT / 0.05)):
            if peers.running() == 0:
                break
            await asyncio.sleep(0.05)
        assert peers.running() == 0
        status, answer = await post_json(env, config["offer"], csrf, {"sdp": await browsers[2].offer()})
        assert status == 200, answer
    finally:
        for browser in browsers:
            await browser.close()


@pytest.mark.parametrize(
    ("measures", "verdict"),
    [
        (Measures(rtt_ms=50, video_kbps=600, video_frames=100, audio_packets=200), Verdict.READY),
        (Measures(rtt_ms=400, video_kbps=200, video_frames=1, audio_packets=0), Verdict.READY),
        (Measures(rtt_ms=401, video_kbps=600, video_frames=100, audio_packets=200), Verdict.AUDIO_ONLY),
        (Measures(rtt_ms=50, video_kbps=199, video_frames=100, audio_packets=200), Verdict.AUDIO_ONLY),
        (Measures(rtt_ms=1000, video_kbps=0, video_frames=0, audio_packets=10), Verdict.AUDIO_ONLY),
        (Measures(rtt_ms=1001, video_kbps=600, video_frames=100, audio_packets=200), Verdict.INSUFFICIENT),
        (Measures(rtt_ms=None, video_kbps=0, video_frames=0, audio_packets=0), Verdict.INSUFFICIENT),
        (Measures(rtt_ms=20, video_kbps=0, video_frames=0, audio_packets=0), Verdict.INSUFFICIENT),
        (
            Measures(rtt_ms=20, video_kbps=600, video_frames=100, audio_packets=200, websocket_ok=False),
            Verdict.INSUFFICIENT,
        ),
    ],
)
def test_the_verdicts_thresholds(measures: Measures, verdict: Verdict) -> None:
    assert verdict_of(measures) is verdict

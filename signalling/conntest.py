"""The connection test (/connection-test): before a teleconsultation, the care home's tablet checks its
camera, microphone, WebSocket and a real WebRTC call, to the server and back.

The server's side of that call is an aiortc **echo peer**: it answers the browser's offer, sends every
track it receives straight back (through the same TURN relays the calls use), and is closed when the
browser reports its measures, when its connection fails, or ``timeout`` seconds after the offer, whichever
comes first. A user may run ``max_per_user`` tests at once; each one holds a peer (sockets, an encoder).

The verdict is decided here from what the browser measured on the echo (round-trip time of the selected
candidate pair, bitrate and frames of the video that came back, audio packets that came back):

- **ready** ("prêt"): video came back at ``READY_MIN_KBPS`` kbit/s or more, and the round trip took at
  most ``READY_MAX_RTT_MS`` ms: a video call will be smooth.
- **audio only advised** ("audio seulement conseillé"): audio came back (or video too slowly for a
  readable image) with a round trip of at most ``AUDIO_MAX_RTT_MS`` ms: a conversation works, the image
  would freeze.
- **insufficient** ("réseau insuffisant"): nothing came back, the round trip is longer than that, or the
  WebSocket (the calls' signalling) could not be opened.

Run from an appointment, the result ticks (or unticks) its "test de connexion" checklist item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from uuid import UUID

from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay

from scheduling.model import ChecklistItem
from scheduling.service import set_checklist_item
from teleconsult.db import UnitOfWork
from teleconsult.errors import DomainError, NotFound
from teleconsult.i18n import N_
from teleconsult.identity.policy import Principal

log = logging.getLogger("teleconsult.conntest")

READY_MAX_RTT_MS: Final = 400
READY_MIN_KBPS: Final = 200
AUDIO_MAX_RTT_MS: Final = 1000
#: An SDP offer with an audio and a video track is a few KiB; nothing a browser sends is near this.
MAX_OFFER_CHARS: Final = 60_000


class Verdict(StrEnum):
    READY = "ready"
    AUDIO_ONLY = "audio_only"
    INSUFFICIENT = "insufficient"


VERDICT_LABELS: Final = {
    Verdict.READY: N_("Ready: video calls will work from this device and network."),
    Verdict.AUDIO_ONLY: N_("Audio only advised: the network is too slow for a smooth picture."),
    Verdict.INSUFFICIENT: N_("Network insufficient: the call would not work from here. Try another place."),
}


@dataclass(frozen=True, slots=True)
class Measures:
    """What the browser measured on the echo, over a few seconds once media flowed."""

    rtt_ms: int | None
    video_kbps: int
    video_frames: int
    audio_packets: int
    #: The WebSocket echo answered: without it, no call can even be set up.
    websocket_ok: bool = True


def verdict_of(measures: Measures) -> Verdict:
    rtt = measures.rtt_ms
    if not measures.websocket_ok or rtt is None or rtt > AUDIO_MAX_RTT_MS:
        return Verdict.INSUFFICIENT
    video_ok = measures.video_frames > 0 and measures.video_kbps >= READY_MIN_KBPS
    if video_ok and rtt <= READY_MAX_RTT_MS:
        return Verdict.READY
    if measures.audio_packets > 0 or measures.video_frames > 0:
        return Verdict.AUDIO_ONLY
    return Verdict.INSUFFICIENT


# ----------------------------------------------------------------------------------------------- errors


class TooManyTests(DomainError):
    code = "too_many_connection_tests"
    status = 429
    message = N_("A connection test is already running for you. Wait for it to end, then try again.")


class UnknownTest(NotFound):
    code = "unknown_connection_test"
    message = N_("This connection test is over. Start it again.")


class BadOffer(DomainError):
    code = "bad_offer"
    status = 422
    message = N_("The browser's call setup could not be read. Reload the page and try again.")


# --------------------------------------------------------------------------------------- the echo peers


@dataclass
class _Echo:
    owner: UUID
    peer: RTCPeerConnection | None = None
    timer: asyncio.TimerHandle | None = None
    relay: MediaRelay = field(default_factory=MediaRelay)


def _ice_configuration(ice_servers: Sequence[dict[str, Any]]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=server["urls"], username=server.get("username"), credential=server.get("credential")
            )
            for server in ice_servers
        ]
    )


class EchoPeers:
    """The echo peers of this process. Built by create_app; :meth:`close_all` at shutdown."""

    def __init__(self, timeout_seconds: float, max_per_user: int) -> None:
        self._timeout = timeout_seconds
        self._max_per_user = max_per_user
        self._echoes: dict[UUID, _Echo] = {}
        self._closing: set[asyncio.Task[bool]] = set()

    def running(self, owner: UUID | None = None) -> int:
        return sum(1 for echo in self._echoes.values() if owner is None or echo.owner == owner)

    async def answer(
        self, owner: UUID, offer_sdp: str, ice_servers: Sequence[dict[str, Any]]
    ) -> tuple[UUID, str]:
        """A new echo peer for ``owner``'s offer: (its id, the SDP answer, with all its candidates)."""
        if not offer_sdp or len(offer_sdp) > MAX_OFFER_CHARS:
            raise BadOffer()
        # Counted and reserved before the first await: two offers at once cannot both pass the limit.
        if self.running(owner) >= self._max_per_user:
            raise TooManyTests()
        test_id = uuid.uuid4()
        echo = _Echo(owner)
        self._echoes[test_id] = echo
        echo.timer = asyncio.get_running_loop().call_later(self._timeout, self._close_later, test_id)
        try:
            peer = RTCPeerConnection(_ice_configuration(ice_servers))
            echo.peer = peer

            @peer.on("track")
            def on_track(track: Any) -> None:
                # Sent back as received: the sender consumes the track, so nothing piles up.
                peer.addTrack(echo.relay.subscribe(track))

            @peer.on("connectionstatechange")
            async def on_state() -> None:
                # The browser went away or the path failed: the peer goes now, the test's entry stays
                # (the browser may still report its measures) until finished or timed out.
                if peer.connectionState in ("failed", "closed"):
                    await self._close_peer(echo)

            try:
                await peer.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
                raise BadOffer() from exc
            if not peer.getTransceivers():
                raise BadOffer()  # no audio nor video to send back
            await peer.setLocalDescription(await peer.createAnswer())
            return test_id, str(peer.localDescription.sdp)
        except BaseException:
            await self.close(test_id)
            raise

    def owner_of(self, test_id: UUID) -> UUID | None:
        echo = self._echoes.get(test_id)
        return echo.owner if echo else None

    def _close_later(self, test_id: UUID) -> None:
        task = asyncio.get_running_loop().create_task(self.close(test_id), name="conntest-close")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self, test_id: UUID) -> bool:
        """Close the echo peer (its tracks stop with it); False if it was closed already."""
        echo = self._echoes.pop(test_id, None)
        if echo is None:
            return False
        if echo.timer is not None:
            echo.timer.cancel()
        await self._close_peer(echo)
        return True

    @staticmethod
    async def _close_peer(echo: _Echo) -> None:
        peer, echo.peer = echo.peer, None
        if peer is not None:
            try:
                await peer.close()
            except Exception:  # closing must not fail the caller; the peer's sockets are gone either way
                log.exception("echo peer close failed")

    def is_open(self, test_id: UUID) -> bool:
        """The test is running and its echo peer still open."""
        echo = self._echoes.get(test_id)
        return echo is not None and echo.peer is not None

    async def close_all(self) -> None:
        for test_id in list(self._echoes):
            await self.close(test_id)
        for task in list(self._closing):
            with contextlib.suppress(asyncio.CancelledError):
                await task


CONNTEST_PEERS: Final = web.AppKey("conntest_peers", EchoPeers)


# --------------------------------------------------------------------------------------------- use cases


async def finish_test(
    uow: UnitOfWork,
    peers: EchoPeers,
    actor: Principal,
    test_id: UUID,
    measures: Measures,
    appointment_id: UUID | None,
    now: datetime,
    client_address: str | None = None,
) -> Verdict:
    """The browser's measures of its own test (another user's test id: :class:`UnknownTest`): the echo
    peer is closed and the verdict decided. With an appointment, the verdict is recorded as its
    "test de connexion" checklist item (done unless insufficient), by the scheduling service, which checks
    that the actor may prepare that appointment and audits it."""
    if peers.owner_of(test_id) != actor.user.id:
        raise UnknownTest()
    await peers.close(test_id)
    verdict = verdict_of(measures)
    log.info(
        "connection test",
        extra={"verdict": verdict.value, "rtt_ms": measures.rtt_ms, "video_kbps": measures.video_kbps},
    )
    if appointment_id is not None:
        await set_checklist_item(
            uow,
            actor,
            appointment_id,
            ChecklistItem.TEST_CONNEXION,
            verdict is not Verdict.INSUFFICIENT,
            now,
            client_address,
        )
    return verdict

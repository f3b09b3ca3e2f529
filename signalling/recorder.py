"""The recorder leg: a receive-only aiortc peer per participant's second RTCPeerConnection, writing the
VP8 and Opus frames it receives into WebM, as they came (no decoding, no re-encoding), encrypted into
the blob store as they arrive, so that no plaintext media touches the disk.

How a recording is written (docs/adr/0016-passthrough-recorder.md):
- :mod:`signalling.passthrough` hands each encoded frame over on the event loop; video waits for a
  keyframe (a PLI is sent at the start, again every second while waiting, and after a damaged frame).
- A worker thread per recording muxes the frames with PyAV's matroska muxer into :class:`HeldHeader`, a
  seekable file-like that keeps only the header (the bytes before the first cluster) in memory and hands
  every later byte to the blob store's encrypting writer at once (``blob store put`` runs in that thread).
- At the end the muxer seeks back into the header to write the duration and the cues' position: the
  header is complete only then. The final blob is the header followed by the body blob, decrypted and
  re-encrypted segment by segment in memory, so the file has a duration and cues (seekable in a browser).

The event loop does only cheap work per frame (a few byte checks and a queue put).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import logging
import struct
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any
from uuid import UUID

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from records.blobs import BlobStore
from records.crypto import DataKey, Place
from signalling import passthrough
from signalling.passthrough import EncodedFrame

log = logging.getLogger("teleconsult.signalling.recorder")

#: The matroska muxer counts in milliseconds.
_MS = Fraction(1, 1000)
#: Frames waiting for the muxer thread; past this the recorder drops video until the next keyframe.
MAX_QUEUED_FRAMES = 2000
#: How often the writer thread takes the frames received meanwhile.
POLL_SECONDS = 0.25
#: While no keyframe has come, ask again this often.
KEYFRAME_RETRY_SECONDS = 1.0
#: Audio frames held back while the first keyframe (and so the video size) is awaited.
MAX_HELD_AUDIO = 100
#: A recorder leg that received nothing for this long is over (the browser went away without a word).
SILENCE_SECONDS = 20.0
_CLUSTER_ID = b"\x1f\x43\xb6\x75"
DEFAULT_SIZE = (640, 480)


class RecordingFailed(RuntimeError):
    """The muxer did something the streaming output cannot do (a write into bytes already encrypted)."""


def opus_head(channels: int = 2, sample_rate: int = 48000, pre_skip: int = 312) -> bytes:
    """The Opus identification header (RFC 7845 section 5.1) that WebM keeps as the track's CodecPrivate."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, sample_rate, 0, 0)


def vp8_is_keyframe(data: bytes) -> bool:
    """RFC 6386 section 9.1: bit 0 of the frame tag is 0 on a keyframe, which carries a start code."""
    return len(data) >= 10 and data[0] & 1 == 0 and data[3:6] == b"\x9d\x01\x2a"


def vp8_is_whole(data: bytes) -> bool:
    """Whether the frame holds at least its first partition (a frame missing packets usually does not)."""
    if len(data) < 3:
        return False
    tag = data[0] | data[1] << 8 | data[2] << 16
    header = 10 if tag & 1 == 0 else 3
    return header + (tag >> 5) <= len(data)


def vp8_size(data: bytes) -> tuple[int, int]:
    """Width and height from a keyframe's header (14 bits each, RFC 6386 section 9.1)."""
    width, height = struct.unpack_from("<HH", data, 6)
    return width & 0x3FFF, height & 0x3FFF


class HeldHeader(io.RawIOBase):
    """The muxer's output: seekable while the header is written; then every byte past the header goes
    out through :meth:`take` as it comes (appends only), and writes back into the header (the duration,
    the cues' position) patch the copy held in memory. Anything else raises :class:`RecordingFailed`."""

    def __init__(self) -> None:
        super().__init__()
        self.head = bytearray()
        self._frozen_at: int | None = None
        self._pending: list[bytes] = []
        self._position = 0
        self._size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._position = offset
        elif whence == io.SEEK_CUR:
            self._position += offset
        else:
            self._position = self._size + offset
        return self._position

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        start, end = self._position, self._position + len(chunk)
        if self._frozen_at is None:
            if end > len(self.head):
                self.head.extend(bytes(end - len(self.head)))
            self.head[start:end] = chunk
            self._size = max(self._size, end)
        elif start >= self._frozen_at:
            if start != self._size:
                raise RecordingFailed("the muxer wrote into bytes already encrypted")
            self._pending.append(chunk)
            self._size = end
        elif end <= self._frozen_at:
            self.head[start:end] = chunk
        else:
            raise RecordingFailed("the muxer wrote across the end of the header")
        self._position = end
        return len(chunk)

    def freeze(self) -> None:
        """The header is written: from now on, bytes past it are streamed out."""
        if self._frozen_at is not None:
            return
        if not self.head or _CLUSTER_ID in self.head:
            raise RecordingFailed("the muxer did not write the header alone first")
        self._frozen_at = len(self.head)

    def take(self) -> list[bytes]:
        taken, self._pending = self._pending, []
        return taken


@dataclass(slots=True)
class _Queued:
    kind: str  # "audio" | "video"
    pts: int  # in the track's clock (RTP units) since the leg started
    clock_rate: int
    keyframe: bool
    data: bytes


class FrameQueue:
    """Frames from the event loop to the writer thread. The loop only appends (no lock, no wake-up: a
    wake-up per frame costs more than the muxing); the thread takes what is there every
    ``POLL_SECONDS``, and at once when the leg ends."""

    def __init__(self, limit: int = MAX_QUEUED_FRAMES) -> None:
        self._items: collections.deque[_Queued] = collections.deque()
        self._limit = limit
        self._ended = threading.Event()

    def put(self, item: _Queued) -> bool:
        """False (and nothing queued) when the writer is that far behind."""
        if len(self._items) >= self._limit:
            return False
        self._items.append(item)
        return True

    def end(self) -> None:
        self._ended.set()

    def items(self) -> Iterator[_Queued]:
        """Blocking (the writer thread): every frame put, in order, until :meth:`end`."""
        while True:
            ended = self._ended.is_set()  # frames put before end() are in the deque by now
            while self._items:
                yield self._items.popleft()
            if ended:
                return
            self._ended.wait(POLL_SECONDS)


@dataclass(frozen=True, slots=True)
class Written:
    """What a finished recording is: its blob's plaintext length, SHA-256 and duration."""

    blob_id: UUID
    length: int
    sha256: str
    duration_ms: int


class _Muxer:
    """Runs in the writer thread: frames from ``frames`` into the WebM container, bytes out."""

    def __init__(self, frames: FrameQueue, kinds: frozenset[str]) -> None:
        self._frames = frames
        self._kinds = kinds
        self.output = HeldHeader()
        self.duration_ms = 0

    def body(self) -> Iterator[bytes]:
        """The bytes of the WebM after its header, as the muxer writes them (blocks on the queue)."""
        container: Any = None
        streams: dict[str, Any] = {}
        held: list[_Queued] = []
        try:
            for item in self._frames.items():
                if container is None:
                    if item.kind == "audio" and "video" in self._kinds and len(held) < MAX_HELD_AUDIO:
                        held.append(item)  # the header needs the video's size: wait for its keyframe
                        continue
                    size = vp8_size(item.data) if item.kind == "video" else DEFAULT_SIZE
                    container, streams = self._open(size)
                    for early in held:
                        self._mux(container, streams, early)
                    held.clear()
                    self._mux(container, streams, item)
                    self.output.freeze()
                else:
                    self._mux(container, streams, item)
                yield from self.output.take()
            if container is None and held:
                container, streams = self._open(DEFAULT_SIZE)
                for early in held:
                    self._mux(container, streams, early)
                self.output.freeze()
        finally:
            if container is not None:
                container.close()  # the trailer: cues appended, the header patched
        yield from self.output.take()

    def _open(self, size: tuple[int, int]) -> tuple[Any, dict[str, Any]]:
        container = av.open(self.output, "w", format="webm")
        streams: dict[str, Any] = {}
        if "video" in self._kinds:
            video = container.add_stream("vp8")
            video.codec_context.width, video.codec_context.height = size
            streams["video"] = video
        if "audio" in self._kinds:
            audio = container.add_stream("opus")
            audio.codec_context.sample_rate = 48000
            audio.codec_context.layout = "stereo"
            audio.codec_context.extradata = opus_head()
            streams["audio"] = audio
        return container, streams

    def _mux(self, container: Any, streams: dict[str, Any], item: _Queued) -> None:
        stream = streams.get(item.kind)
        if stream is None:
            return
        packet = av.Packet(item.data)
        packet.stream = stream
        packet.time_base = Fraction(1, item.clock_rate)
        packet.pts = packet.dts = item.pts
        packet.is_keyframe = item.keyframe or item.kind == "audio"
        container.mux(packet)
        end_ms = item.pts * 1000 // item.clock_rate + (20 if item.kind == "audio" else 40)
        self.duration_ms = max(self.duration_ms, end_ms)


def write_recording(
    blobs: BlobStore,
    dek: DataKey,
    body_place: Place,
    final_place: Place,
    frames: FrameQueue,
    kinds: frozenset[str],
) -> Written:
    """Blocking (the writer thread): mux until ``frames`` yields None, streaming the body into an
    encrypted blob, then write the final blob (header + body) and remove the body's."""
    muxer = _Muxer(frames, kinds)
    body_id, final_id = uuid.uuid4(), uuid.uuid4()
    blobs.put(body_id, dek, body_place, muxer.body())
    try:
        head = bytes(muxer.output.head)

        def whole() -> Iterator[bytes]:
            yield head
            yield from blobs.open(body_id, dek, body_place)

        info = blobs.put(final_id, dek, final_place, whole())
    finally:
        blobs.delete(body_id)
    return Written(final_id, info.length, info.sha256, muxer.duration_ms)


#: Called once a leg has stopped, with what was written (None if writing failed).
Finished = Callable[["RecorderLeg", Written | None], Awaitable[None]]


@dataclass(eq=False)
class RecorderLeg:
    """One participant's recorder connection: receive-only, frames tapped, tracks consumed."""

    recording_id: UUID
    blobs: BlobStore
    dek: DataKey
    body_place: Place
    final_place: Place
    on_finished: Finished
    #: (participant id, appointment id): who may stop it.
    owner: tuple[UUID, UUID] | None = None
    pc: RTCPeerConnection = field(default_factory=RTCPeerConnection)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _frames: FrameQueue = field(default_factory=FrameQueue)
    _started: float | None = None
    _last_frame: float = field(default_factory=time.monotonic)
    _offsets: dict[str, int] = field(default_factory=dict)
    _waiting_keyframe: bool = True
    _last_pli: float = 0.0
    _video_receivers: list[Any] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _writer: asyncio.Future[Written] | None = None
    _stopping: bool = False
    frames_received: int = 0
    keyframe_requests: int = 0

    async def answer(self, offer_sdp: str) -> str:
        """Apply the browser's offer, tap its receivers and answer (receive only)."""
        passthrough.check_seam()
        self.pc.on("track", self._consume)
        self.pc.on("connectionstatechange", self._on_state)
        await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        kinds: set[str] = set()
        for transceiver in self.pc.getTransceivers():
            transceiver.direction = "recvonly"
            kind = transceiver.kind
            if kind not in ("audio", "video") or kind in kinds:
                transceiver.receiver._enabled = False  # a second track of a kind is not recorded
                continue
            kinds.add(kind)
            receiver = transceiver.receiver
            passthrough.tap(receiver, self._sink(kind, receiver))
            if kind == "video":
                self._video_receivers.append(receiver)
        if not kinds:
            raise ValueError("the offer has neither audio nor video to record")
        self._restrict_codecs()
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        loop = asyncio.get_running_loop()
        self._writer = loop.run_in_executor(
            None,
            write_recording,
            self.blobs,
            self.dek,
            self.body_place,
            self.final_place,
            self._frames,
            frozenset(kinds),
        )
        self._tasks.append(asyncio.ensure_future(self._watch()))
        return str(self.pc.localDescription.sdp)

    def _restrict_codecs(self) -> None:
        """Only what WebM holds and the muxer expects: VP8 and Opus."""
        from aiortc.rtcrtpsender import RTCRtpSender

        for transceiver in self.pc.getTransceivers():
            capabilities = RTCRtpSender.getCapabilities(transceiver.kind)
            if capabilities is None:
                continue
            wanted = {"video": ("video/VP8", "video/rtx"), "audio": ("audio/opus",)}.get(transceiver.kind, ())
            preferences = [codec for codec in capabilities.codecs if codec.mimeType in wanted]
            with contextlib.suppress(ValueError):
                transceiver.setCodecPreferences(preferences)

    def _consume(self, track: MediaStreamTrack) -> None:
        """Every received track is read until it ends (the tap leaves it empty; unread tracks grow)."""

        async def drain() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    await track.recv()

        self._tasks.append(asyncio.ensure_future(drain()))

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.stop()

    def _sink(self, kind: str, receiver: Any) -> passthrough.FrameSink:
        def sink(frame: EncodedFrame) -> None:
            self._on_frame(kind, receiver, frame)

        return sink

    def _on_frame(self, kind: str, receiver: Any, frame: EncodedFrame) -> None:
        if self._stopping:
            return
        now = time.monotonic()
        self._last_frame = now
        self.frames_received += 1
        if self._started is None:
            self._started = now  # the recording's time 0: its first frame, of either kind
        if kind not in self._offsets:
            # Tracks are aligned on when their first frame arrived (no RTCP sender reports are used).
            self._offsets[kind] = round((now - self._started) * frame.clock_rate) - frame.timestamp
        keyframe = False
        if kind == "video":
            if frame.codec != "VP8" or not vp8_is_whole(frame.data):
                self._lost(now)
                return
            keyframe = vp8_is_keyframe(frame.data)
            if self._waiting_keyframe and not keyframe:
                self._ask_keyframe(now)
                return
            self._waiting_keyframe = False
        elif frame.codec != "opus":
            return
        item = _Queued(kind, frame.timestamp + self._offsets[kind], frame.clock_rate, keyframe, frame.data)
        if not self._frames.put(item):
            self._lost(now)

    def _lost(self, now: float) -> None:
        self._waiting_keyframe = True
        self._ask_keyframe(now)

    def _ask_keyframe(self, now: float) -> None:
        if now - self._last_pli < KEYFRAME_RETRY_SECONDS:
            return
        self._last_pli = now
        for receiver in self._video_receivers:
            if passthrough.request_keyframe(receiver) is not None:
                self.keyframe_requests += 1

    async def _watch(self) -> None:
        """Ask for the first keyframe as soon as the sender is heard; stop a silent leg."""
        while not self._stopping:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            if (self._waiting_keyframe or not self.keyframe_requests) and self._video_receivers:
                self._ask_keyframe(now)
            if now - self._last_frame > SILENCE_SECONDS:
                log.info("recorder leg silent: stopping", extra={"recording_id": str(self.recording_id)})
                await self.stop()
                return

    async def stop(self) -> None:
        """Close the connection, finish the file and report it; safe to call several times."""
        if self._stopping:
            await self.stopped.wait()
            return
        self._stopping = True
        written: Written | None = None
        try:
            await self.pc.close()  # stops the receivers: their decoder threads end and the tracks with them
            for task in self._tasks:
                if task is not asyncio.current_task():
                    task.cancel()
            self._frames.end()
            if self._writer is not None:
                written = await self._writer
        except Exception:
            log.exception("recording could not be finished", extra={"recording_id": str(self.recording_id)})
        finally:
            try:
                await self.on_finished(self, written)
            finally:
                self.stopped.set()


class Recorder:
    """This process's recorder legs, so that shutdown stops (and finishes) every one of them."""

    def __init__(self) -> None:
        self._legs: dict[UUID, RecorderLeg] = {}
        self._lock = threading.Lock()

    def add(self, leg: RecorderLeg) -> None:
        with self._lock:
            self._legs[leg.recording_id] = leg

    def discard(self, leg: RecorderLeg) -> None:
        with self._lock:
            if self._legs.get(leg.recording_id) is leg:
                del self._legs[leg.recording_id]

    def legs(self) -> list[RecorderLeg]:
        with self._lock:
            return list(self._legs.values())

    async def stop_all(self) -> None:
        await asyncio.gather(*(leg.stop() for leg in self.legs()), return_exceptions=True)

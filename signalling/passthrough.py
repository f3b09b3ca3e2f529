"""The one place that reaches into aiortc's internals: take the encoded frames an ``RTCRtpReceiver`` hands
to its decoder thread, so that the recorder writes VP8 and Opus as they came, without decoding them.

aiortc has no public way to get encoded frames (its MediaRecorder decodes and re-encodes; aiortc issue
#984). Inside ``RTCRtpReceiver``, ``_handle_rtp_packet`` reassembles each frame in the jitter buffer and
puts ``(codec, JitterFrame)`` on ``self.__decoder_queue`` (a ``queue.Queue``), which the ``decoder_worker``
thread reads to decode; ``None`` on that queue stops the thread, which then ends the remote track. The
adapter replaces that queue, before ``receive()`` starts the thread, with one whose ``put`` hands frames
to a sink and keeps only the ``None``: the decoder thread then sleeps on ``get`` until the receiver stops,
decodes nothing, and still ends the track as before.

This is pinned to the aiortc version it was read from (:data:`PINNED_AIORTC`): :func:`check_seam` refuses
any other version and checks that the names it uses are there, and tests/unit/test_recorder_seam.py fails
loudly when either changes. See docs/adr/0016-passthrough-recorder.md.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import queue
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

#: The aiortc version whose internals this adapter was written against (read in its rtcrtpreceiver.py).
PINNED_AIORTC = "1.16.0"

_QUEUE_ATTRIBUTE = "_RTCRtpReceiver__decoder_queue"
_ACTIVE_SSRC_ATTRIBUTE = "_RTCRtpReceiver__active_ssrc"
_THREAD_ATTRIBUTE = "_RTCRtpReceiver__decoder_thread"
#: The lines of aiortc's receiver the seam depends on: where the frame is handed to the decoder queue.
_HANDOFF = "self.__decoder_queue.put((codec, encoded_frame))"
_STOP = "self.__decoder_queue.put(None)"


class SeamChanged(RuntimeError):
    """The installed aiortc is not the one the adapter was written for: recording must not start."""


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One frame as the sender encoded it: codec name (``VP8``, ``opus``), RTP clock rate, the RTP
    timestamp counted from the track's first frame, and the bytes (a VP8 frame or an Opus packet)."""

    codec: str
    clock_rate: int
    timestamp: int
    data: bytes


FrameSink = Callable[[EncodedFrame], None]


@functools.cache
def check_seam() -> None:
    """Raise :class:`SeamChanged` unless the installed aiortc is the pinned one, with the internals used."""
    try:
        version = metadata.version("aiortc")
    except metadata.PackageNotFoundError as exc:
        raise SeamChanged("aiortc is not installed") from exc
    if version != PINNED_AIORTC:
        raise SeamChanged(f"aiortc {version} installed; the recorder's adapter is pinned to {PINNED_AIORTC}")
    from aiortc import rtcrtpreceiver

    receiver = rtcrtpreceiver.RTCRtpReceiver
    sources = {
        "_handle_rtp_packet": inspect.getsource(receiver._handle_rtp_packet),
        "__init__": inspect.getsource(receiver.__init__),
        "stop_decoder": inspect.getsource(receiver._RTCRtpReceiver__stop_decoder),  # type: ignore[attr-defined]
        "decoder_worker": inspect.getsource(rtcrtpreceiver.decoder_worker),
    }
    expected = {
        "_handle_rtp_packet": (_HANDOFF, "encoded_frame.timestamp", "_send_rtcp_pli"),
        "__init__": ("self.__decoder_queue: queue.Queue = queue.Queue()", "self.__active_ssrc"),
        "stop_decoder": (_STOP,),
        "decoder_worker": ("input_q.get()", "if task is None:"),
    }
    for name, needles in expected.items():
        for needle in needles:
            if needle not in sources[name]:
                raise SeamChanged(f"aiortc's RTCRtpReceiver changed: {needle!r} is not in {name}")
    if not inspect.iscoroutinefunction(receiver._send_rtcp_pli):
        raise SeamChanged("aiortc's RTCRtpReceiver._send_rtcp_pli is no longer a coroutine")


class _TapQueue(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue: frames go to the sink (on the event loop, in
    ``_handle_rtp_packet``), only the stop marker reaches the (idle) decoder thread."""

    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self._sink = sink

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)
            return
        codec, frame = item
        self._sink(EncodedFrame(codec.name, codec.clockRate, frame.timestamp, frame.data))


def tap(receiver: Any, sink: FrameSink) -> None:
    """Send ``receiver``'s encoded frames to ``sink`` instead of its decoder. Call it after
    ``setRemoteDescription`` and before ``setLocalDescription`` (which starts the receiver)."""
    check_seam()
    if getattr(receiver, _THREAD_ATTRIBUTE) is not None:
        raise SeamChanged("the receiver's decoder already runs: tap it before the answer is applied")
    setattr(receiver, _QUEUE_ATTRIBUTE, _TapQueue(sink))


def is_tapped(receiver: Any) -> bool:
    return isinstance(getattr(receiver, _QUEUE_ATTRIBUTE, None), _TapQueue)


def request_keyframe(receiver: Any) -> asyncio.Task[None] | None:
    """Send a PLI (picture loss indication) for each SSRC the receiver has heard, so the sender's next
    video frame is a keyframe. None when nothing was received yet (the caller asks again later)."""
    ssrcs = list(getattr(receiver, _ACTIVE_SSRC_ATTRIBUTE))
    if not ssrcs:
        return None

    async def send() -> None:
        for ssrc in ssrcs:
            await receiver._send_rtcp_pli(ssrc)

    return asyncio.ensure_future(send())

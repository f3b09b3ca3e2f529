"""The recorder reaches into aiortc's RTCRtpReceiver (signalling/passthrough.py, ADR 0016). These tests
fail loudly when aiortc is upgraded or its receiver changes: re-read aiortc/rtcrtpreceiver.py, adapt the
adapter, then move PINNED_AIORTC. They also check the pure pieces of the recorder: VP8 frame headers and
the muxer's output that holds the header back."""

from __future__ import annotations

import asyncio
import io
import queue
from importlib import metadata
from types import SimpleNamespace
from typing import Any

import pytest
from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver

from signalling import passthrough
from signalling.passthrough import EncodedFrame
from signalling.recorder import (
    HeldHeader,
    RecordingFailed,
    opus_head,
    vp8_is_keyframe,
    vp8_is_whole,
    vp8_size,
)


def test_the_installed_aiortc_is_the_one_the_adapter_was_written_for() -> None:
    assert metadata.version("aiortc") == passthrough.PINNED_AIORTC, (
        "aiortc was upgraded: re-read aiortc/rtcrtpreceiver.py (where encoded frames are handed to the "
        "decoder thread), adapt signalling/passthrough.py, then update PINNED_AIORTC"
    )
    passthrough.check_seam()


def test_check_seam_refuses_another_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passthrough, "PINNED_AIORTC", "0.0.1")
    passthrough.check_seam.cache_clear()  # a successful check is remembered for the process
    try:
        with pytest.raises(passthrough.SeamChanged):
            passthrough.check_seam()
    finally:
        passthrough.check_seam.cache_clear()


def test_the_private_names_the_adapter_uses_exist_on_a_real_receiver() -> None:
    async def build() -> RTCRtpReceiver:
        transport = RTCDtlsTransport(
            RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()]
        )
        return RTCRtpReceiver("video", transport)

    receiver = asyncio.run(build())
    assert isinstance(receiver._RTCRtpReceiver__decoder_queue, queue.Queue)  # type: ignore[attr-defined]
    assert receiver._RTCRtpReceiver__decoder_thread is None  # type: ignore[attr-defined]
    assert receiver._RTCRtpReceiver__active_ssrc == {}  # type: ignore[attr-defined]

    seen: list[EncodedFrame] = []
    passthrough.tap(receiver, seen.append)
    assert passthrough.is_tapped(receiver)
    tapped: Any = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
    codec = SimpleNamespace(name="VP8", clockRate=90000)
    tapped.put((codec, SimpleNamespace(timestamp=3000, data=b"frame")))
    assert seen == [EncodedFrame("VP8", 90000, 3000, b"frame")]
    assert tapped.empty()  # the decoder thread gets nothing to decode...
    tapped.put(None)
    assert tapped.get_nowait() is None  # ...but still its stop marker


KEYFRAME = bytes([0x50, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(20)


def test_vp8_frame_headers() -> None:
    assert vp8_is_keyframe(KEYFRAME)
    assert vp8_size(KEYFRAME) == (640, 480)
    inter = bytes([0x51, 0x00, 0x00]) + bytes(5)
    assert not vp8_is_keyframe(inter) and vp8_is_whole(inter)
    # A first partition said to be longer than the frame: packets are missing.
    truncated = bytes([0xF1, 0xFF, 0x00]) + bytes(5)
    assert not vp8_is_whole(truncated)
    assert not vp8_is_whole(b"\x00")


def test_opus_head_is_rfc_7845() -> None:
    head = opus_head()
    assert head[:8] == b"OpusHead" and len(head) == 19 and head[9] == 2


def test_held_header_streams_the_body_and_patches_only_the_header() -> None:
    out = HeldHeader()
    out.write(b"HEADER--")
    out.freeze()
    out.write(b"cluster1")
    assert out.take() == [b"cluster1"]
    out.seek(2, io.SEEK_SET)
    out.write(b"ad")  # the duration, written at the end
    assert bytes(out.head) == b"HEadER--"
    out.seek(0, io.SEEK_END)
    out.write(b"cues")
    assert out.take() == [b"cues"]
    out.seek(10)
    with pytest.raises(RecordingFailed):
        out.write(b"x")  # into bytes already streamed (encrypted): impossible
    out.seek(6)
    with pytest.raises(RecordingFailed):
        out.write(b"xxxx")  # across the end of the header

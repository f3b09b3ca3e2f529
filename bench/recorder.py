"""Cost of the passthrough recorder (signalling/recorder.py, ADR 0016) against aiortc's MediaRecorder (which
decodes and re-encodes), in the same run.

Synthetic aiortc senders run in a child process: each call sends VP8 640x480 at 25 fps (~800 kbit/s, a
moving gradient with fine noise, encoded once at the start and replayed, so the senders keep their pace on
a busy machine) and Opus (a tone). This process answers them:
1. with passthrough recorder legs (frames tapped, muxed to WebM, encrypted into a LocalBlobStore), 4 calls;
   the event loop's lag is sampled every 10 ms meanwhile;
2. with aiortc's MediaRecorder writing WebM (the baseline), 2 calls (it needs far more CPU per call).
CPU is this process's (time.process_time: every thread) over the steady part of the calls (from 2 s after
the answers, once set up, for --seconds), divided by the wall time and the number of calls; the one-off
cost of finishing the files is printed beside it. The passthrough files are then
decrypted and demuxed to check they hold the frames.

Goal: CPU per recorded call <= 2.5% of a core; >= 20x cheaper than MediaRecorder; loop lag p99 < 20 ms
with 4 calls recorded.

    .venv/bin/python bench/recorder.py [--seconds 10] [--calls 4] [--baseline-calls 2]
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/recorder.py` puts bench/ first on sys.path, where bench/http.py would hide the standard
# library's http: put the repository root there instead.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from fractions import Fraction  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402
from pathlib import Path  # noqa: E402

import av  # noqa: E402
from aiortc import RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.contrib.media import MediaRecorder  # noqa: E402
from aiortc.mediastreams import MediaStreamTrack  # noqa: E402

from bench._common import percentile, result_line  # noqa: E402
from records.blobs import LocalBlobStore  # noqa: E402
from records.crypto import (  # noqa: E402
    DataKey,
    RecordRef,
    aead,
)
from signalling import passthrough  # noqa: E402
from signalling.recorder import RecorderLeg, Written  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 25
TIMEOUT = 60.0
#: Measured after this long: the connections' set-up (certificates, ICE, DTLS) is a one-off per call.
SETTLE_SECONDS = 2.0

# ------------------------------------------------------------------------------ the senders (child)


def _video_packets(count: int) -> list[av.Packet]:
    """``count`` frames of a moving gradient with fine noise (about a camera's texture), VP8 at ~800 kbit/s,
    encoded once: the senders replay the packets, so sending costs them almost nothing."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    encoder.time_base = Fraction(1, FPS)
    encoder.bit_rate = 800_000
    encoder.gop_size = count  # one keyframe per loop: the first packet, where a replay starts again
    encoder.options = {"deadline": "realtime", "cpu-used": "8"}
    encoder.open()
    noise = os.urandom(WIDTH * HEIGHT * 2).translate(bytes(b & 0x1F for b in range(256)))
    packets: list[av.Packet] = []
    for index in range(count):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        for plane_index, plane in enumerate(frame.planes):
            width = plane.line_size
            rows = plane.buffer_size // width
            start = (index * 997 * (plane_index + 1)) % (len(noise) - plane.buffer_size)
            grain = int.from_bytes(noise[start : start + plane.buffer_size], "big")
            row = bytes(((x + index * 3) * 2) & 0xE0 for x in range(width))
            plane.update((int.from_bytes(row * rows, "big") | grain).to_bytes(plane.buffer_size, "big"))
        frame.pts = index
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    return packets


def _audio_packets(count: int) -> list[av.Packet]:
    """``count`` Opus packets of 20 ms: a 440 Hz square wave, stereo, 48 kHz."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    encoder.open()
    samples = bytearray()
    for n in range(960):
        value = 3000 if math.sin(2 * math.pi * 440 * n / 48000) >= 0 else -3000
        samples += value.to_bytes(2, "little", signed=True) * 2
    packets: list[av.Packet] = []
    for index in range(count + 5):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=960)
        frame.planes[0].update(bytes(samples))
        frame.sample_rate = 48000
        frame.pts = index * 960
        packets += encoder.encode(frame)
    return packets[:count]


class ReplayTrack(MediaStreamTrack):
    """Sends already encoded packets at their pace (aiortc packetizes an av.Packet without encoding)."""

    def __init__(self, kind: str, packets: list[av.Packet], step: int, clock: int) -> None:
        super().__init__()
        self.kind = kind
        self._payloads = [bytes(packet) for packet in packets]
        self._step, self._clock = step, clock
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.Packet:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._count += 1
            due = self._start + self._count * self._step / self._clock
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        packet = av.Packet(self._payloads[self._count % len(self._payloads)])
        packet.pts = self._count * self._step
        packet.time_base = Fraction(1, self._clock)
        return packet


def senders_main(conn: Connection) -> None:
    asyncio.run(_senders(conn))


async def _senders(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    video, audio = _video_packets(FPS * 10), _audio_packets(50)
    conn.send("ready")
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message[0] == "quit":
            return
        _, calls = message
        pcs = []
        for _ in range(calls):
            pc = RTCPeerConnection()
            pc.addTrack(ReplayTrack("video", video, 90000 // FPS, 90000))
            pc.addTrack(ReplayTrack("audio", audio, 960, 48000))
            await pc.setLocalDescription(await pc.createOffer())
            pcs.append(pc)
        conn.send([pc.localDescription.sdp for pc in pcs])
        answers = await loop.run_in_executor(None, conn.recv)
        for pc, answer in zip(pcs, answers, strict=True):
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await loop.run_in_executor(None, conn.recv)  # "hang up"
        for pc in pcs:
            await pc.close()
        conn.send("closed")


# ---------------------------------------------------------------------------- the recorders (here)


class LagSampler:
    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.lags_ms.append((time.perf_counter() - before - 0.01) * 1000)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _exchange(conn: Connection, calls: int) -> list[str]:
    loop = asyncio.get_running_loop()
    conn.send(("start", calls))
    offers: list[str] = await asyncio.wait_for(loop.run_in_executor(None, conn.recv), TIMEOUT)
    return offers


async def _hang_up(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    conn.send("hang up")
    await asyncio.wait_for(loop.run_in_executor(None, conn.recv), TIMEOUT)


async def passthrough_run(
    conn: Connection, calls: int, seconds: float, store: LocalBlobStore
) -> tuple[float, list[float], list[tuple[Written | None, DataKey, RecordRef]]]:
    offers = await _exchange(conn, calls)
    finished: dict[uuid.UUID, Written | None] = {}

    async def on_finished(leg: RecorderLeg, written: Written | None) -> None:
        finished[leg.recording_id] = written

    legs: list[tuple[RecorderLeg, DataKey, RecordRef]] = []
    sampler = LagSampler()
    answers = []
    for offer in offers:
        recording_id = uuid.uuid4()
        ref = RecordRef("recordings", str(recording_id), "bench")
        dek = DataKey(aead.new_key())
        leg = RecorderLeg(recording_id, store, dek, ref.place("body"), ref.place("content"), on_finished)
        answers.append(await leg.answer(offer))
        legs.append((leg, dek, ref))
    conn.send(answers)
    await asyncio.sleep(SETTLE_SECONDS)  # connections set up, first keyframes
    sampler.start()
    start_cpu, start_wall = time.process_time(), time.monotonic()
    frames_before = sum(leg.frames_received for leg, _, _ in legs)
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - start_cpu, time.monotonic() - start_wall
    frames = sum(leg.frames_received for leg, _, _ in legs) - frames_before
    await sampler.stop()
    stop_cpu = time.process_time()
    await asyncio.gather(*(leg.stop() for leg, _, _ in legs))
    stop_cpu = time.process_time() - stop_cpu
    await _hang_up(conn)
    print(
        f"passthrough: {frames / wall / calls:.1f} frames/s per call received; finishing the files took "
        f"{stop_cpu * 1000 / calls:.0f} ms of CPU per call"
    )
    for leg, _, _ in legs:
        if leg.frames_received == 0:
            raise BenchFailed("a passthrough leg received nothing")
    per_call = 100 * cpu / wall / calls
    return per_call, sampler.lags_ms, [(finished.get(leg.recording_id), dek, ref) for leg, dek, ref in legs]


async def mediarecorder_run(conn: Connection, calls: int, seconds: float, directory: Path) -> float:
    offers = await _exchange(conn, calls)
    pcs: list[tuple[RTCPeerConnection, MediaRecorder]] = []
    answers = []
    for index, offer in enumerate(offers):
        pc = RTCPeerConnection()
        recorder = MediaRecorder(str(directory / f"baseline-{index}.webm"), format="webm")

        def add(track: MediaStreamTrack, recorder: MediaRecorder = recorder) -> None:
            recorder.addTrack(track)

        pc.on("track", add)
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await recorder.start()
        answers.append(pc.localDescription.sdp)
        pcs.append((pc, recorder))
    conn.send(answers)
    await asyncio.sleep(SETTLE_SECONDS)
    start_cpu, start_wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - start_cpu, time.monotonic() - start_wall
    for pc, recorder in pcs:
        await recorder.stop()
        await pc.close()
    await _hang_up(conn)
    for index in range(calls):
        if (directory / f"baseline-{index}.webm").stat().st_size == 0:
            raise BenchFailed("MediaRecorder wrote nothing")
    return 100 * cpu / wall / calls


async def receive_only_run(conn: Connection, calls: int, seconds: float) -> tuple[float, float]:
    """The floor both recorders stand on: aiortc receiving the same calls (ICE, SRTP, RTP, jitter buffer,
    RTCP), frames tapped and dropped, nothing written."""
    offers = await _exchange(conn, calls)
    pcs: list[RTCPeerConnection] = []
    answers = []
    drains: list[asyncio.Future[None]] = []

    def drain(track: MediaStreamTrack) -> None:
        async def read() -> None:
            with contextlib.suppress(Exception):
                while True:
                    await track.recv()

        drains.append(asyncio.ensure_future(read()))

    for offer in offers:
        pc = RTCPeerConnection()
        pc.on("track", drain)
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        for transceiver in pc.getTransceivers():
            passthrough.tap(transceiver.receiver, lambda frame: None)
        await pc.setLocalDescription(await pc.createAnswer())
        answers.append(pc.localDescription.sdp)
        pcs.append(pc)
    conn.send(answers)
    await asyncio.sleep(SETTLE_SECONDS)
    sampler = LagSampler()
    sampler.start()
    start_cpu, start_wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - start_cpu, time.monotonic() - start_wall
    await sampler.stop()
    for pc in pcs:
        await pc.close()
    for task in drains:
        task.cancel()
    await _hang_up(conn)
    return 100 * cpu / wall / calls, percentile(sampler.lags_ms, 99)


class BenchFailed(RuntimeError):
    """A recording did not hold what was sent: the figures would mean nothing."""


def check_file(
    store: LocalBlobStore, written: Written | None, dek: DataKey, ref: RecordRef, seconds: float
) -> None:
    if written is None:
        raise BenchFailed("a passthrough recording was not finished")
    data = b"".join(store.open(written.blob_id, dek, ref.place("content")))
    with av.open(io.BytesIO(data)) as container:
        codecs = sorted(stream.codec_context.name for stream in container.streams)
        video = sum(1 for packet in container.demux(video=0) if packet.size)
    if codecs != ["opus", "vp8"] or video < FPS * seconds * 0.5:
        raise BenchFailed(f"unexpected recording: {codecs}, {video} video frames")


async def main(arguments: argparse.Namespace) -> int:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=senders_main, args=(child,), daemon=True)
    process.start()
    loop = asyncio.get_running_loop()
    # The senders encode their video once first: slow on a busy machine, and not measured.
    if await asyncio.wait_for(loop.run_in_executor(None, parent.recv), 600) != "ready":
        raise BenchFailed("the senders did not start")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-recorder-") as directory:
            store = LocalBlobStore(Path(directory) / "blobs")
            per_call, lags, files = await passthrough_run(parent, arguments.calls, arguments.seconds, store)
            for written, dek, ref in files:
                check_file(store, written, dek, ref, arguments.seconds)
            baseline = await mediarecorder_run(
                parent, arguments.baseline_calls, arguments.seconds, Path(directory)
            )
            floor, floor_lag = await receive_only_run(parent, arguments.calls, arguments.seconds)
    finally:
        parent.send(("quit",))
        process.join(10)
    lag_p99 = percentile(lags, 99)
    ratio = baseline / per_call if per_call > 0 else math.nan
    print(
        f"passthrough: {arguments.calls} calls, {per_call:.2f}% of a core per call; "
        f"loop lag p99 {lag_p99:.1f} ms"
    )
    print(f"MediaRecorder: {arguments.baseline_calls} calls, {baseline:.2f}% of a core per call")
    print(
        f"aiortc receiving alone (the floor of both): {floor:.2f}% per call; above it, passthrough "
        f"{per_call - floor:.2f}%, MediaRecorder {baseline - floor:.2f}% "
        f"(x{(baseline - floor) / max(per_call - floor, 1e-9):.1f}); its loop lag p99 {floor_lag:.1f} ms"
    )
    print(result_line("recorder_cpu", "per_call_pct", per_call, "<=", 2.5, per_call <= 2.5))
    print(result_line("recorder_vs_mediarecorder", "ratio", ratio, ">=", 20, ratio >= 20))
    print(result_line("recorder_loop_lag", "p99_ms", lag_p99, "<", 20, lag_p99 < 20))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--baseline-calls", type=int, default=2)
    sys.exit(asyncio.run(main(parser.parse_args())))

"""Recorded calls on both backends: a synthetic aiortc sender (VP8 + Opus) offers to the server's recorder
leg for about 3 s, hangs up, and the expert plays the file back: a WebM of VP8 and Opus whose duration
matches the call within 1 s, while the bytes on disk are neither WebM nor the plaintext. Refusals: no
consent to record (403, in French), not in the call (409), a nurse playing back (403)."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from datetime import timedelta
from typing import Any

import av
from aiohttp import ClientWebSocketResponse
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from sqlalchemy import select

from records.blobs import LocalBlobStore
from records.residents.store import data_keys
from records.retention.model import RetentionPeriods
from records.retention.service import Recordings, run_retention
from signalling.recordings_routes import RECORDER
from signalling.recordings_store import Recording, RecordingStore, content_place, recordings
from teleconsult.identity.model import Role
from teleconsult.keys import BLOB_STORE, KEYRING
from tests.integration.conftest import Env
from tests.integration.test_scheduling import book, booking, headers, setup
from tests.integration.test_signalling import audited_at_least, join, receive, ticket

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
CALL_SECONDS = 3.0


async def booked(env: Env, record_call: bool) -> uuid.UUID:
    resident_id, expert_id = await setup(env)
    status, body = await book(env, booking(resident_id, expert_id, record_call=record_call))
    assert status == 201, body
    env.clock.advance(timedelta(hours=23, minutes=20))  # the room is open
    return uuid.UUID(body["id"])


async def in_call(env: Env, appointment_id: uuid.UUID) -> ClientWebSocketResponse:
    """The nurse joins the room (her seat is held), and stays logged in."""
    socket = await join(env, await ticket(env, appointment_id, Role.IDE))
    message = await receive(socket)
    assert message["type"] == "joined", message
    return socket


async def offer(env: Env, appointment_id: uuid.UUID, sdp: str) -> tuple[int, dict[str, Any]]:
    response = await env.client.post(
        f"/api/v1/appointments/{appointment_id}/recording/offer",
        json={"sdp": sdp},
        headers=await headers(env),
    )
    return response.status, await response.json()


def sender() -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTrack(VideoStreamTrack())
    pc.addTrack(AudioStreamTrack())
    return pc


async def record_a_call(env: Env, appointment_id: uuid.UUID) -> tuple[str, float]:
    pc = sender()
    try:
        await pc.setLocalDescription(await pc.createOffer())
        status, body = await offer(env, appointment_id, pc.localDescription.sdp)
        assert status == 200, body
        started = time.monotonic()
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "answer"))
        await asyncio.sleep(CALL_SECONDS)
        response = await env.client.post(
            f"/api/v1/appointments/{appointment_id}/recording/stop",
            json={"recording_id": body["recording_id"]},
            headers=await headers(env),
        )
        assert response.status == 200, await response.text()
        elapsed = time.monotonic() - started
    finally:
        await pc.close()
    return str(body["recording_id"]), elapsed


def demux(data: bytes) -> tuple[set[str], float]:
    """Codecs and the duration computed from the packets themselves (not from the header alone)."""
    with av.open(io.BytesIO(data)) as container:
        codecs = {stream.codec_context.name for stream in container.streams}
        end = 0.0
        for packet in container.demux():
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float(packet.pts * packet.time_base))
        header_duration = (container.duration or 0) / 1_000_000
    assert abs(header_duration - end) < 0.2, (header_duration, end)  # the header has its duration
    return codecs, end


async def test_a_recorded_call_plays_back_as_webm_and_is_encrypted_on_disk(env: Env) -> None:
    appointment_id = await booked(env, record_call=True)
    socket = await in_call(env, appointment_id)
    recording_id, elapsed = await record_a_call(env, appointment_id)
    await socket.close()
    assert env.app[RECORDER].legs() == []

    await env.login(Role.EXPERT)
    listed = await env.client.get(f"/api/v1/appointments/{appointment_id}/recordings")
    assert listed.status == 200, await listed.text()
    (item,) = (await listed.json())["recordings"]
    assert item["id"] == recording_id and item["playable"]
    response = await env.client.get(item["play_url"])
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "video/webm"
    data = await response.read()
    assert data.startswith(EBML_MAGIC)
    codecs, duration = demux(data)
    assert codecs == {"vp8", "opus"}
    assert abs(duration - elapsed) < 1.0, (duration, elapsed)

    async with env.uow().reading() as uow:
        row = (
            await uow.session.execute(select(recordings).where(recordings.c.id == uuid.UUID(recording_id)))
        ).one()
    assert row.byte_length == len(data) and abs(row.duration_ms / 1000 - elapsed) < 1.0
    store = env.app[BLOB_STORE]
    assert isinstance(store, LocalBlobStore)
    on_disk = store.path_of(row.blob_id).read_bytes()
    assert EBML_MAGIC not in on_disk and b"webm" not in on_disk
    assert data[100:164] not in on_disk  # no run of the plaintext
    # Only the finished blob is left: the one written during the call was removed.
    assert [path.name for path in store.root.rglob("*") if path.is_file()] == [str(row.blob_id)]

    ranged = await env.client.get(item["play_url"], headers={"Range": "bytes=100-1099"})
    assert ranged.status == 206
    assert ranged.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert await ranged.read() == data[100:1100]

    assert len(await audited_at_least(env, "recording.start", 1)) == 1
    assert len(await audited_at_least(env, "recording.stop", 1)) == 1
    assert len(await audited_at_least(env, "recording.read", 2)) == 2  # whole, then the range

    await env.login(Role.IDE)  # the nurse took part, but recordings are for the physicians
    refused = await env.client.get(item["play_url"])
    assert refused.status == 403


async def test_no_recording_without_consent(env: Env) -> None:
    appointment_id = await booked(env, record_call=False)
    socket = await in_call(env, appointment_id)
    pc = sender()
    try:
        await pc.setLocalDescription(await pc.createOffer())
        status, body = await offer(env, appointment_id, pc.localDescription.sdp)
    finally:
        await pc.close()
        await socket.close()
    assert status == 403
    assert body["error"] == "recording.not_consented"
    assert "enregistr" in body["message"].lower(), body  # in French
    assert env.app[RECORDER].legs() == []
    assert len(await audited_at_least(env, "recording.refused", 1)) == 1


async def test_no_recording_before_joining_the_call(env: Env) -> None:
    appointment_id = await booked(env, record_call=True)
    await env.login(Role.IDE)
    status, body = await offer(env, appointment_id, "v=0\r\n")
    assert status == 409, body
    assert body["error"] == "recording.not_in_call"


async def test_a_garbled_offer_is_a_400(env: Env) -> None:
    appointment_id = await booked(env, record_call=True)
    socket = await in_call(env, appointment_id)
    status, body = await offer(env, appointment_id, "v=0\r\nthis is not sdp\r\n")
    await socket.close()
    assert status == 400, body
    assert env.app[RECORDER].legs() == []
    async with env.uow().reading() as uow:
        assert list(await uow.session.execute(select(recordings))) == []


async def test_retention_crypto_shreds_recordings_past_their_period(env: Env) -> None:
    appointment_id = await booked(env, record_call=True)
    keys, blobs = env.app[KEYRING], env.app[BLOB_STORE]
    ehpad_id = env.territory.ehpad.id
    made: list[tuple[uuid.UUID, uuid.UUID]] = []
    for age_days in (31, 29):
        recording_id, blob_id = uuid.uuid4(), uuid.uuid4()
        dek, wrapped = RecordingStore.new_key(keys, recording_id, ehpad_id)
        blobs.put(blob_id, dek, content_place(recording_id, ehpad_id), [b"webm bytes"])
        started = env.clock.now() - timedelta(days=age_days)
        recording = Recording(
            recording_id,
            appointment_id,
            ehpad_id,
            env.territory.users[Role.IDE].id,
            None,
            started,
            None,
            None,
            None,
            None,
        )
        async with env.uow() as uow:
            store = uow.store(RecordingStore)
            await store.add(recording, wrapped)
            await store.finish(recording_id, blob_id, started, 1000, 10, "0" * 64)
            await uow.commit()
        made.append((recording_id, blob_id))
    periods = RetentionPeriods(medical_records_years=20, technical_months=12, recordings_days=30)
    purger = Recordings(blobs)

    preview = await run_retention(env.uow, periods, env.clock.now(), dry_run=True, purgers=[purger])
    assert preview[0].ids == (str(made[0][0]),)
    assert blobs.exists(made[0][1])

    (done,) = await run_retention(env.uow, periods, env.clock.now(), dry_run=False, purgers=[purger])
    assert done.counts == {"recordings": 1}
    assert not blobs.exists(made[0][1]) and blobs.exists(made[1][1])
    async with env.uow().reading() as uow:
        left = (await uow.session.scalars(select(recordings.c.id))).all()
        keys_left = (
            await uow.session.scalars(select(data_keys.c.id).where(data_keys.c.id == made[0][0]))
        ).all()
    assert left == [made[1][0]] and keys_left == []
    assert len(await audited_at_least(env, "recording.retention", 1)) == 1


async def test_server_shutdown_finishes_a_running_recording(env: Env) -> None:
    appointment_id = await booked(env, record_call=True)
    socket = await in_call(env, appointment_id)
    pc = sender()
    try:
        await pc.setLocalDescription(await pc.createOffer())
        status, body = await offer(env, appointment_id, pc.localDescription.sdp)
        assert status == 200, body
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "answer"))
        (leg,) = env.app[RECORDER].legs()
        for _ in range(200):  # a bounded wait for the first frames
            if leg.frames_received > 10:
                break
            await asyncio.sleep(0.05)
        assert leg.frames_received > 10
        await env.app.shutdown()  # what aiohttp runs on SIGTERM, before the database closes
    finally:
        await pc.close()
        await socket.close()
    assert env.app[RECORDER].legs() == []
    async with env.uow().reading() as uow:
        row = (await uow.session.execute(select(recordings))).one()
    assert row.ended_at is not None and row.blob_id is not None and row.byte_length > 0
    assert env.app[BLOB_STORE].exists(row.blob_id)

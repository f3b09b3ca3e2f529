"""HTTP of call recordings: the browser's recorder offer (answered by a receive-only aiortc peer), its
stop on hang-up, the appointment's list of recordings, and playback (decrypted on the fly, single byte
ranges, so a ``<video>`` element can seek). ``install(app)`` mounts them and stops every recorder leg at
shutdown (each finishes its file)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Iterator
from typing import Any, Final
from uuid import UUID

from aiohttp import hdrs, web

from records.blobs import BlobNotFound
from records.crypto import CryptoError
from signalling import recordings_service as service
from signalling.recorder import Recorder
from signalling.recordings_service import OpenedRecording, RecorderContext
from signalling.recordings_store import Recording
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput
from teleconsult.forms import Field, parse, read_json, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity.policy import Action
from teleconsult.keys import BLOB_STORE, CALL_CONFIG, CALL_HUB, CLOCK, KEYRING, SESSION_FACTORY
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal
from teleconsult.ranges import ByteRange, RangeNotSatisfiable, parse_range
from teleconsult.routing import Routes, mount

log = logging.getLogger("teleconsult.signalling.recordings")

routes = Routes()

RECORDER: Final = web.AppKey("recorder", Recorder)
RECORDER_CONTEXT: Final = web.AppKey("recorder_context", RecorderContext)
#: An SDP offer of two tracks is a few kilobytes.
MAX_SDP_CHARS = 64 * 1024
WEBM = "video/webm"


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


async def _start(app: web.Application) -> None:
    session_factory = app[SESSION_FACTORY]
    app[RECORDER_CONTEXT] = RecorderContext(
        recorder=app[RECORDER],
        hub=app[CALL_HUB],
        config=app[CALL_CONFIG],
        keys=app[KEYRING],
        blobs=app[BLOB_STORE],
        clock=app[CLOCK],
        new_uow=lambda: UnitOfWork(session_factory),
    )


async def _stop_legs(app: web.Application) -> None:
    """Shutdown: every recorder leg stops and finishes its file before the database closes."""
    await app[RECORDER].stop_all()


def install(app: web.Application) -> None:
    app[RECORDER] = Recorder()
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop_legs)
    mount(app, routes)


def recording_json(request: web.Request, appointment_id: str, recording: Recording) -> dict[str, Any]:
    play = request.app.router["api.recordings.play"].url_for(
        appointment_id=appointment_id, recording_id=str(recording.id)
    )
    return {
        "id": str(recording.id),
        "participant_id": str(recording.participant_id),
        "started_at": recording.started_at.isoformat(),
        "ended_at": recording.ended_at.isoformat() if recording.ended_at else None,
        "duration_ms": recording.duration_ms,
        "byte_length": recording.byte_length,
        "playable": recording.is_finished,
        "play_url": str(play) if recording.is_finished else None,
    }


@routes.post(
    "/api/v1/appointments/{appointment_id}/recording/offer",
    name="api.recording.offer",
    action=Action.RECORD_CALL,
)
async def offer(request: web.Request) -> web.Response:
    body = await read_json(request)  # at most max_body_bytes, like every JSON body
    sdp = body.get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > MAX_SDP_CHARS:
        raise InvalidInput({"sdp": N_("This value is not valid.")})
    started = await service.start_recording(
        request.app[RECORDER_CONTEXT],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        sdp,
        client_address_of(request),
    )
    return web.json_response(
        {"recording_id": str(started.recording_id), "sdp": started.answer_sdp, "type": "answer"}
    )


@routes.post(
    "/api/v1/appointments/{appointment_id}/recording/stop",
    name="api.recording.stop",
    action=Action.RECORD_CALL,
)
async def stop(request: web.Request) -> web.Response:
    values = parse(await read_json(request), [Field("recording_id", max_length=36, convert=UUID)])
    await service.stop_recording(
        request.app[RECORDER_CONTEXT],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        values["recording_id"],
    )
    return web.json_response({"stopped": True})


async def list_for(request: web.Request) -> list[Recording]:
    return await service.list_recordings(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )


@routes.get(
    "/api/v1/appointments/{appointment_id}/recordings",
    name="api.recordings",
    action=Action.VIEW_RECORDINGS,
)
async def list_recordings(request: web.Request) -> web.Response:
    appointment_id = request.match_info["appointment_id"]
    found = await list_for(request)
    return web.json_response({"recordings": [recording_json(request, appointment_id, r) for r in found]})


@routes.get(
    "/api/v1/appointments/{appointment_id}/recordings/{recording_id}",
    name="api.recordings.play",
    action=Action.VIEW_RECORDINGS,
)
async def play(request: web.Request) -> web.StreamResponse:
    """The WebM, decrypted as it is sent: whole (verified entirely first) or the single range asked."""
    opened = await service.open_recording(
        _uow(request),
        request.app[KEYRING],
        request.app[BLOB_STORE],
        current_principal(request),
        uuid_in_path(request, "appointment_id"),
        uuid_in_path(request, "recording_id"),
        request.app[CLOCK].now(),
        client_address_of(request),
    )
    length = opened.length
    headers = {
        hdrs.CONTENT_TYPE: WEBM,
        hdrs.CONTENT_DISPOSITION: f'inline; filename="enregistrement-{opened.recording.id}.webm"',
        hdrs.CACHE_CONTROL: "no-store",
        hdrs.ACCEPT_RANGES: "bytes",
        "X-Content-Type-Options": "nosniff",
    }
    byte_range: ByteRange | None = None
    if hdrs.IF_RANGE not in request.headers:
        try:
            byte_range = parse_range(request.headers.get(hdrs.RANGE), length)
        except RangeNotSatisfiable:
            raise web.HTTPRequestRangeNotSatisfiable(
                headers={**headers, hdrs.CONTENT_RANGE: f"bytes */{length}"}
            ) from None
    response = web.StreamResponse(status=200 if byte_range is None else 206, headers=headers)
    if byte_range is None:
        byte_range = ByteRange(0, length, length)
    else:
        response.headers[hdrs.CONTENT_RANGE] = byte_range.content_range
    response.content_length = byte_range.end - byte_range.start
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    if response.status == 200:
        await asyncio.to_thread(opened.verify)
    return await _stream(request, response, opened, byte_range)


async def _stream(
    request: web.Request, response: web.StreamResponse, opened: OpenedRecording, byte_range: ByteRange
) -> web.StreamResponse:
    chunks: Iterator[bytes] = opened.read_range(byte_range.start, byte_range.end)
    try:
        piece = await asyncio.to_thread(next, chunks, None)
        await response.prepare(request)
        try:
            while piece is not None:
                await response.write(piece)
                piece = await asyncio.to_thread(next, chunks, None)
        except (CryptoError, BlobNotFound) as exc:
            log.error(
                "recording unreadable during playback: connection aborted",
                extra={"code": exc.code, "recording_id": str(opened.recording.id)},
            )
            if request.transport is not None:
                request.transport.abort()
            return response
        except ConnectionError:
            return response
        await response.write_eof()
        return response
    finally:
        if isinstance(chunks, Generator):
            chunks.close()

"""Use cases of call recordings: start a participant's recorder leg (their browser's second offer), finish
it, list an appointment's recordings and open one for playback.

Who: a recorder leg is answered only for a user the policy lets record the call (RECORD_CALL: those who
join it), on an appointment whose consent to record is given (``record_call``), booked, with its room open
and the user's side seated in the room (they have joined). Recordings are listed and played back by the
booked expert and the care home's médecin coordonnateur (VIEW_RECORDINGS; ADR 0016). Every start, stop,
refusal, list and playback is audited (ids only).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from records.blobs import BlobStore
from records.crypto import DataKey, IntegrityError, KeyProvider
from scheduling.model import AppointmentStatus
from scheduling.service import appointment_times
from signalling import passthrough
from signalling.model import AppointmentNotBooked, seat_of
from signalling.recorder import Finished, Recorder, RecorderLeg, Written
from signalling.recordings_store import Recording, RecordingStore, body_place, content_place
from signalling.rooms import Hub
from signalling.service import CallConfig, room_hours
from teleconsult.clock import Clock
from teleconsult.db import UnitOfWork
from teleconsult.errors import Conflict, DomainError, Forbidden, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.model import User
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit, audit_alone

log = logging.getLogger("teleconsult.signalling.recordings")

OBJECT_TYPE = "recording"
APPOINTMENT_OBJECT_TYPE = "appointment"


class RecordingNotConsented(Forbidden):
    code = "recording.not_consented"
    message = N_("Recording was not agreed for this appointment: the call cannot be recorded.")


class NotInCall(Conflict):
    code = "recording.not_in_call"
    message = N_("Join the call first: only a participant in the call can be recorded.")


class RecorderUnavailable(DomainError):
    code = "recording.unavailable"
    status = 503
    message = N_("Recording is unavailable on this server for now. The call itself goes on.")


class InvalidOffer(DomainError):
    code = "recording.invalid_offer"
    status = 400
    message = N_("The recording connection could not be set up. Reload the page to try again.")


@dataclass(frozen=True, slots=True)
class Started:
    recording_id: UUID
    answer_sdp: str


@dataclass(frozen=True, slots=True)
class RecorderContext:
    """What the recorder legs need beyond one request: built once by the routes' setup."""

    recorder: Recorder
    hub: Hub
    config: CallConfig
    keys: KeyProvider
    blobs: BlobStore
    clock: Clock
    new_uow: Callable[[], UnitOfWork]


async def start_recording(
    context: RecorderContext,
    actor: Principal,
    appointment_id: UUID,
    offer_sdp: str,
    client_address: str | None = None,
) -> Started:
    """Answer the browser's recorder offer. Raises NotFound /
    AccessDenied (policy), RecordingNotConsented (403), AppointmentNotBooked / room hours, NotInCall
    (409), InvalidOffer (400), RecorderUnavailable (503: the aiortc adapter does not fit the installed
    aiortc)."""
    now = context.clock.now()
    uow = context.new_uow()
    async with uow.reading():
        times = await appointment_times(uow, appointment_id)
        policy.require(actor, Action.RECORD_CALL, times.ref)
        consented = await uow.store(RecordingStore).record_call_consented(appointment_id)
    try:
        if not consented:
            raise RecordingNotConsented()
        if times.status is not AppointmentStatus.BOOKED:
            raise AppointmentNotBooked()
        room_hours(context.config, times).check_open(now)
        if not context.hub.seat_held(appointment_id, seat_of(actor.role)):
            raise NotInCall()
        passthrough.check_seam()
    except passthrough.SeamChanged as exc:
        log.error("recorder adapter does not fit the installed aiortc", extra={"reason": str(exc)})
        raise RecorderUnavailable() from exc
    except DomainError:
        await audit_alone(
            context.new_uow(),
            now,
            "recording.refused",
            Outcome.DENIED,
            actor.user,
            client_address,
            APPOINTMENT_OBJECT_TYPE,
            appointment_id,
        )
        raise
    recording_id = uuid.uuid4()
    ehpad_id = times.ref.ehpad_id
    dek, wrapped = RecordingStore.new_key(context.keys, recording_id, ehpad_id)
    leg = RecorderLeg(
        recording_id,
        context.blobs,
        dek,
        body_place(recording_id, ehpad_id),
        content_place(recording_id, ehpad_id),
        _on_finished(context, actor.user),
        owner=(actor.user.id, appointment_id),
    )
    try:
        answer = await leg.answer(offer_sdp)
    except (ValueError, KeyError, TypeError) as exc:  # aiortc's answers to an SDP it cannot use
        await leg.stop()
        raise InvalidOffer() from exc
    recording = Recording(
        recording_id, appointment_id, ehpad_id, actor.user.id, None, now, None, None, None, None
    )
    try:
        async with context.new_uow() as write:
            await write.store(RecordingStore).add(recording, wrapped)
            await audit(
                write,
                now,
                "recording.start",
                Outcome.SUCCESS,
                actor.user,
                client_address,
                OBJECT_TYPE,
                recording_id,
            )
            await write.commit()
    except BaseException:
        await leg.stop()
        raise
    context.recorder.add(leg)
    return Started(recording_id, answer)


def _on_finished(context: RecorderContext, participant: User) -> Finished:
    async def finished(leg: RecorderLeg, written: Written | None) -> None:
        context.recorder.discard(leg)
        ended = context.clock.now()
        keep = written is not None and written.length > 0
        if written is not None and not keep:
            await asyncio.to_thread(context.blobs.delete, written.blob_id)
        async with context.new_uow() as uow:
            done = await uow.store(RecordingStore).finish(
                leg.recording_id,
                written.blob_id if keep and written else None,
                ended,
                written.duration_ms if keep and written else 0,
                written.length if keep and written else 0,
                written.sha256 if keep and written else None,
            )
            if done:
                await audit(
                    uow,
                    ended,
                    "recording.stop",
                    Outcome.SUCCESS if written is not None else Outcome.FAILURE,
                    participant,
                    None,
                    OBJECT_TYPE,
                    leg.recording_id,
                )
            await uow.commit()
        if not done and keep and written is not None:  # no row (its start failed): no orphan blob
            await asyncio.to_thread(context.blobs.delete, written.blob_id)

    return finished


async def stop_recording(
    context: RecorderContext, actor: Principal, appointment_id: UUID, recording_id: UUID
) -> None:
    """The participant hangs up: their leg stops and its file is finished (NotFound if it is not theirs
    or not running in this process)."""
    uow = context.new_uow()
    async with uow.reading():
        times = await appointment_times(uow, appointment_id)
    policy.require(actor, Action.RECORD_CALL, times.ref)
    for leg in context.recorder.legs():
        if leg.recording_id == recording_id and leg.owner == (actor.user.id, appointment_id):
            await leg.stop()
            return
    raise NotFound()


@dataclass(frozen=True, slots=True)
class OpenedRecording:
    """A finished recording the actor may play, with what decrypts it (blocking: call in a thread)."""

    recording: Recording
    blobs: BlobStore
    dek: DataKey

    @property
    def length(self) -> int:
        return self.recording.byte_length or 0

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        assert self.recording.blob_id is not None  # noqa: S101 - only finished recordings are opened
        place = content_place(self.recording.id, self.recording.ehpad_id)
        return self.blobs.read_range(self.recording.blob_id, self.dek, place, start, end)

    def verify(self) -> None:
        assert self.recording.blob_id is not None  # noqa: S101 - only finished recordings are opened
        digest = hashlib.sha256()
        length = 0
        place = content_place(self.recording.id, self.recording.ehpad_id)
        for piece in self.blobs.open(self.recording.blob_id, self.dek, place):
            digest.update(piece)
            length += len(piece)
        if length != self.recording.byte_length or digest.hexdigest() != self.recording.sha256:
            raise IntegrityError()


async def list_recordings(
    uow: UnitOfWork, actor: Principal, appointment_id: UUID, now: datetime, client_address: str | None = None
) -> list[Recording]:
    async with uow:
        times = await appointment_times(uow, appointment_id)
        policy.require(actor, Action.VIEW_RECORDINGS, times.ref)
        found = await uow.store(RecordingStore).list_for(appointment_id)
        await audit(
            uow,
            now,
            "recording.list",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            APPOINTMENT_OBJECT_TYPE,
            appointment_id,
        )
        await uow.commit()
    return found


async def open_recording(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    appointment_id: UUID,
    recording_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> OpenedRecording:
    async with uow:
        times = await appointment_times(uow, appointment_id)
        policy.require(actor, Action.VIEW_RECORDINGS, times.ref)
        found = await uow.store(RecordingStore).get(appointment_id, recording_id, keys)
        if found is None:
            raise NotFound()
        await audit(
            uow, now, "recording.read", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, recording_id
        )
        await uow.commit()
    recording, dek = found
    return OpenedRecording(recording, blobs, dek)

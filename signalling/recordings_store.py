"""Persistence of call recordings: one row per recorder leg (one participant's media, from the moment
their recorder connection was answered until it stopped), its wrapped data key in ``data_keys`` and the id
of its encrypted blob (set when the file is finished). The media itself is only in the blob store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Uuid,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from records.crypto import DataKey, KeyProvider, Place, RecordRef, WrappedKey, new_data_key, open_data_key
from records.residents.store import data_keys
from scheduling.store import appointments
from teleconsult.db import UTCDateTime, metadata

TABLE = "recordings"
#: The blob of a finished recording, and the one written while it runs (removed at the end).
CONTENT_COLUMN = "content"
BODY_COLUMN = "content_body"

recordings = Table(
    TABLE,
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("appointment_id", Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=False),
    Column("ehpad_id", Uuid, ForeignKey("establishments.id"), nullable=False),
    # Whose camera and microphone this is (each participant's browser sends its own recorder leg).
    Column("participant_id", Uuid, ForeignKey("users.id"), nullable=False),
    # Nullable: crypto-shredding deletes the data key and leaves nothing readable.
    Column("data_key_id", Uuid, ForeignKey("data_keys.id", ondelete="SET NULL"), nullable=True, unique=True),
    Column("blob_id", Uuid, nullable=True, unique=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("duration_ms", BigInteger, nullable=True),
    Column("byte_length", BigInteger, nullable=True),
    Column("sha256", String(64), nullable=True),
    CheckConstraint("byte_length IS NULL OR byte_length >= 0", name="byte_length"),
    CheckConstraint("duration_ms IS NULL OR duration_ms >= 0", name="duration_ms"),
    Index("ix_recordings_appointment_id_started_at", "appointment_id", "started_at"),
)


def record_ref(recording_id: UUID, ehpad_id: UUID) -> RecordRef:
    return RecordRef(TABLE, str(recording_id), str(ehpad_id))


def content_place(recording_id: UUID, ehpad_id: UUID) -> Place:
    return record_ref(recording_id, ehpad_id).place(CONTENT_COLUMN)


def body_place(recording_id: UUID, ehpad_id: UUID) -> Place:
    return record_ref(recording_id, ehpad_id).place(BODY_COLUMN)


@dataclass(frozen=True, slots=True)
class Recording:
    id: UUID
    appointment_id: UUID
    ehpad_id: UUID
    participant_id: UUID
    blob_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    duration_ms: int | None
    byte_length: int | None
    sha256: str | None

    @property
    def is_finished(self) -> bool:
        return self.blob_id is not None and self.byte_length is not None


_COLUMNS = (
    recordings.c.id,
    recordings.c.appointment_id,
    recordings.c.ehpad_id,
    recordings.c.participant_id,
    recordings.c.blob_id,
    recordings.c.started_at,
    recordings.c.ended_at,
    recordings.c.duration_ms,
    recordings.c.byte_length,
    recordings.c.sha256,
)


def _recording(row: Any) -> Recording:
    return Recording(*row)


class RecordingStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_call_consented(self, appointment_id: UUID) -> bool:
        """The appointment's consent to record the call (a plaintext column of scheduling's table)."""
        query = select(appointments.c.record_call).where(appointments.c.id == appointment_id)
        return bool(await self._session.scalar(query))

    @staticmethod
    def new_key(keys: KeyProvider, recording_id: UUID, ehpad_id: UUID) -> tuple[DataKey, WrappedKey]:
        return new_data_key(keys, record_ref(recording_id, ehpad_id))

    async def add(self, recording: Recording, wrapped: WrappedKey) -> None:
        await self._session.execute(
            insert(data_keys).values(
                id=recording.id,
                wrapped=wrapped.to_bytes(),
                kek_id=wrapped.kek_id,
                created_at=recording.started_at,
            )
        )
        await self._session.execute(
            insert(recordings).values(
                id=recording.id,
                appointment_id=recording.appointment_id,
                ehpad_id=recording.ehpad_id,
                participant_id=recording.participant_id,
                data_key_id=recording.id,
                started_at=recording.started_at,
            )
        )

    async def finish(
        self,
        recording_id: UUID,
        blob_id: UUID | None,
        ended_at: datetime,
        duration_ms: int,
        byte_length: int,
        sha256: str | None,
    ) -> bool:
        result = await self._session.execute(
            update(recordings)
            .where(recordings.c.id == recording_id, recordings.c.ended_at.is_(None))
            .values(
                blob_id=blob_id,
                ended_at=ended_at,
                duration_ms=duration_ms,
                byte_length=byte_length,
                sha256=sha256,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def list_for(self, appointment_id: UUID) -> list[Recording]:
        query = (
            select(*_COLUMNS)
            .where(recordings.c.appointment_id == appointment_id)
            .order_by(recordings.c.started_at, recordings.c.id)
        )
        return [_recording(row) for row in (await self._session.execute(query)).all()]

    async def get(
        self, appointment_id: UUID, recording_id: UUID, keys: KeyProvider
    ) -> tuple[Recording, DataKey] | None:
        """A finished recording of the appointment with its data key, or None (also when shredded)."""
        query = (
            select(*_COLUMNS, data_keys.c.wrapped)
            .join(data_keys, data_keys.c.id == recordings.c.data_key_id)
            .where(recordings.c.id == recording_id, recordings.c.appointment_id == appointment_id)
        )
        row = (await self._session.execute(query)).one_or_none()
        if row is None:
            return None
        recording = _recording(tuple(row)[: len(_COLUMNS)])
        if not recording.is_finished:
            return None
        dek = open_data_key(
            keys, WrappedKey.from_bytes(row.wrapped), record_ref(recording.id, recording.ehpad_id)
        )
        return recording, dek

    async def started_before(
        self, cutoff: datetime, limit: int
    ) -> tuple[int, list[tuple[UUID, UUID | None]]]:
        """How many recordings were made before ``cutoff``, and up to ``limit`` of them (id, blob id)."""
        where = recordings.c.started_at < cutoff
        count = await self._session.scalar(select(func.count()).select_from(recordings).where(where))
        query = (
            select(recordings.c.id, recordings.c.blob_id)
            .where(where)
            .order_by(recordings.c.started_at)
            .limit(limit)
        )
        return int(count or 0), [(row.id, row.blob_id) for row in (await self._session.execute(query)).all()]

    async def delete(self, recording_ids: list[UUID]) -> int:
        """Crypto-shred: the data keys first (the blobs become unreadable), then the rows."""
        if not recording_ids:
            return 0
        await self._session.execute(delete(data_keys).where(data_keys.c.id.in_(recording_ids)))
        result = await self._session.execute(delete(recordings).where(recordings.c.id.in_(recording_ids)))
        return int(getattr(result, "rowcount", 0))

"""Persistence of key rotation: the re-wrap jobs (``key_rotations``) and the queries on ``data_keys`` a
job needs. A data key is wrapped with its owner's identity as associated data (records/crypto/envelope.py),
so reading a batch joins every table that owns data keys (:data:`OWNERS`) to rebuild that identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Column,
    Integer,
    String,
    Table,
    Uuid,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from records.crypto import RecordRef, WrappedKey
from records.crypto.rotation import RotationProgress, StoredKey
from records.residents.store import data_keys, residents
from teleconsult.db import UTCDateTime, metadata

key_rotations = Table(
    "key_rotations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("target_kek_id", String(64), nullable=False),
    Column("last_key_id", Uuid, nullable=True),  # the last data key processed, in id order
    Column("rewrapped", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("batches", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True, index=True),
    CheckConstraint("rewrapped >= 0 AND skipped >= 0 AND batches >= 0", name="counts"),
)


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """A table whose rows own data keys: how to find a key's record identity (its wrapping context)."""

    table: Table
    key_column: Column[Any]
    id_column: Column[Any]
    establishment_column: Column[Any]


#: Every table that owns data keys. A new owner (reports, blobs, recordings) adds itself here.
OWNERS = (KeyOwner(residents, residents.c.data_key_id, residents.c.id, residents.c.ehpad_id),)


def _batch_query(after: UUID | None, limit: int) -> Any:
    columns: list[Any] = [data_keys.c.id, data_keys.c.wrapped]
    joined: Any = data_keys
    for n, owner in enumerate(OWNERS):
        columns += [
            owner.id_column.label(f"owner_{n}_id"),
            owner.establishment_column.label(f"owner_{n}_est"),
        ]
        joined = joined.outerjoin(owner.table, owner.key_column == data_keys.c.id)
    query = select(*columns).select_from(joined).order_by(data_keys.c.id).limit(limit)
    return query if after is None else query.where(data_keys.c.id > after)


def _stored_key(row: Any) -> StoredKey:
    mapping = row._mapping
    for n, owner in enumerate(OWNERS):
        record_id = mapping[f"owner_{n}_id"]
        if record_id is not None:
            ref = RecordRef(owner.table.name, str(record_id), str(mapping[f"owner_{n}_est"]))
            return StoredKey(mapping["id"], mapping["wrapped"], ref)
    return StoredKey(mapping["id"], mapping["wrapped"], None)


def _progress(row: Any) -> RotationProgress:
    return RotationProgress(
        id=row.id,
        target_kek_id=row.target_kek_id,
        last_key_id=row.last_key_id,
        rewrapped=row.rewrapped,
        skipped=row.skipped,
        batches=row.batches,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class RotationStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def unfinished(self, *, lock: bool = False) -> RotationProgress | None:
        """The job that has not finished, if any (the latest one should there be several)."""
        query = (
            select(key_rotations)
            .where(key_rotations.c.finished_at.is_(None))
            .order_by(key_rotations.c.started_at.desc())
            .limit(1)
        )
        row = (await self._session.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else _progress(row)

    async def get(self, job_id: UUID, *, lock: bool = False) -> RotationProgress | None:
        query = select(key_rotations).where(key_rotations.c.id == job_id)
        row = (await self._session.execute(query.with_for_update() if lock else query)).first()
        return None if row is None else _progress(row)

    async def add(self, job: RotationProgress) -> None:
        await self._session.execute(insert(key_rotations).values(**_values(job)))

    async def save(self, job: RotationProgress) -> None:
        values = _values(job)
        del values["id"]
        await self._session.execute(
            update(key_rotations).where(key_rotations.c.id == job.id).values(**values)
        )

    async def keys_after(self, after: UUID | None, limit: int) -> list[StoredKey]:
        """The next ``limit`` data keys after ``after`` in id order, each with its owning record."""
        rows = (await self._session.execute(_batch_query(after, limit))).all()
        return [_stored_key(row) for row in rows]

    async def replace_wrapped(self, key_id: UUID, old_kek_id: str, wrapped: WrappedKey) -> bool:
        """Store the new wrapped form, unless the key is gone or was re-wrapped meanwhile (False)."""
        result = await self._session.execute(
            update(data_keys)
            .where(data_keys.c.id == key_id, data_keys.c.kek_id == old_kek_id)
            .values(wrapped=wrapped.to_bytes(), kek_id=wrapped.kek_id)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def count_by_kek(self) -> dict[str, int]:
        """How many data keys each KEK id wraps."""
        query = select(data_keys.c.kek_id, func.count()).group_by(data_keys.c.kek_id)
        return {kek_id: count for kek_id, count in (await self._session.execute(query)).all()}


def _values(job: RotationProgress) -> dict[str, Any]:
    return {
        "id": job.id,
        "target_kek_id": job.target_kek_id,
        "last_key_id": job.last_key_id,
        "rewrapped": job.rewrapped,
        "skipped": job.skipped,
        "batches": job.batches,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }

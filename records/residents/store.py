"""Persistence of residents: one row per resident whose health fields are ciphertext (see fields.py), its
wrapped data key in ``data_keys`` (delete that row and the resident is crypto-shredded), and the blind
indexes of its INS and name tokens. Queries live here and return model objects.

``last_activity_at`` is when the record last changed; the retention period of a medical record runs from
it (records/retention). Retention deletes the data key, then the row and its name tokens (:meth:`shred`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Uuid,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from records.crypto import CryptoError, DataKey, RecordRef, WrappedKey, new_data_key, open_data_key
from records.residents.fields import (
    SEALED_COLUMNS,
    SealingKeys,
    ins_index,
    name_token_indexes,
    open_details,
    record_ref,
    seal_details,
)
from records.residents.model import IdentityStatus, InsTaken, Resident, StaleResident, UnreadableRecord
from records.sealing import DossierKey
from teleconsult.db import UTCDateTime, insert_rows, metadata

log = logging.getLogger("teleconsult.records.residents")

data_keys = Table(
    "data_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("kek_id", String(64), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
)

_STATUSES = ", ".join(f"'{status.value}'" for status in IdentityStatus)

residents = Table(
    "residents",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("ehpad_id", Uuid, ForeignKey("establishments.id"), nullable=False, index=True),
    # Nullable: should a data key be deleted alone, the row stays and reads as UnreadableRecord.
    Column("data_key_id", Uuid, ForeignKey("data_keys.id", ondelete="SET NULL"), nullable=True, unique=True),
    Column("identity_status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("ins_index", String(64), nullable=True),
    # Always written by this store; nullable only because migration 0005 added it. NULL: never due.
    Column("last_activity_at", UTCDateTime, nullable=True, index=True),
    *(Column(name, LargeBinary, nullable=False) for name in SEALED_COLUMNS),
    CheckConstraint(f"identity_status IN ({_STATUSES})", name="identity_status"),
    CheckConstraint("version >= 1", name="version"),
    # Identity-vigilance: one record per person and care home (NULLs, residents without INS, may repeat).
    Index("uq_residents_ehpad_id_ins_index", "ehpad_id", "ins_index", unique=True),
)

resident_name_tokens = Table(
    "resident_name_tokens",
    metadata,
    Column("resident_id", Uuid, ForeignKey("residents.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, index=True),
    PrimaryKeyConstraint("resident_id", "token_hash"),
)

#: What a read needs to rebuild a resident, in this order (see ``_to_resident``): not the columns only
#: the store itself uses (ins_index, last_activity_at, data_key_id).
_READ_HEAD = (
    residents.c.id,
    residents.c.ehpad_id,
    residents.c.identity_status,
    residents.c.version,
    residents.c.created_at,
    residents.c.updated_at,
    data_keys.c.wrapped,
)
_ROW = select(*_READ_HEAD, *(residents.c[column] for column in SEALED_COLUMNS)).join_from(
    residents, data_keys, residents.c.data_key_id == data_keys.c.id, isouter=True
)
_SEALED_START = len(_READ_HEAD)


class ResidentStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, resident: Resident, keys: SealingKeys, now: datetime) -> None:
        """Insert a new resident with a fresh data key; raises InsTaken if the EHPAD has this INS."""
        ref = record_ref(resident.id, resident.ehpad_id)
        dek, wrapped = new_data_key(keys, ref)
        sealed = seal_details(dek, ref, resident.details)
        index = self._ins_index(keys, resident)
        if index is not None and await self.ids_by_ins(resident.ehpad_id, index):
            raise InsTaken()
        key_id = resident.id  # one data key per resident: the same id keeps them easy to pair
        await self._session.execute(
            insert(data_keys).values(
                id=key_id, wrapped=wrapped.to_bytes(), kek_id=wrapped.kek_id, created_at=now
            )
        )
        try:
            await self._session.execute(
                insert(residents).values(
                    id=resident.id,
                    ehpad_id=resident.ehpad_id,
                    data_key_id=key_id,
                    identity_status=resident.details.identity_status.value,
                    version=resident.version,
                    created_at=resident.created_at,
                    updated_at=resident.updated_at,
                    last_activity_at=resident.updated_at,
                    ins_index=index,
                    **sealed,
                )
            )
        except IntegrityError as exc:  # another nurse saved the same INS at the same moment
            raise InsTaken() from exc
        await self._replace_tokens(resident, keys)

    async def add_many(self, new_residents: Sequence[Resident], keys: SealingKeys, now: datetime) -> None:
        """Insert many new residents, each with its own fresh data key, in three multi-row statements
        (data keys, residents, name tokens) rather than five per resident: for imports and the demo.
        Raises InsTaken if two of them, or one of them and a stored resident, share an EHPAD and an INS
        (the unique index decides; nothing is inserted then, the caller's transaction rolls back)."""
        if not new_residents:
            return
        key_rows: list[dict[str, Any]] = []
        resident_rows: list[dict[str, Any]] = []
        token_rows: list[dict[str, Any]] = []
        for resident in new_residents:
            ref = record_ref(resident.id, resident.ehpad_id)
            dek, wrapped = new_data_key(keys, ref)
            key_rows.append(
                {
                    "id": resident.id,
                    "wrapped": wrapped.to_bytes(),
                    "kek_id": wrapped.kek_id,
                    "created_at": now,
                }
            )
            resident_rows.append(
                {
                    "id": resident.id,
                    "ehpad_id": resident.ehpad_id,
                    "data_key_id": resident.id,
                    "identity_status": resident.details.identity_status.value,
                    "version": resident.version,
                    "created_at": resident.created_at,
                    "updated_at": resident.updated_at,
                    "last_activity_at": resident.updated_at,
                    "ins_index": self._ins_index(keys, resident),
                    **seal_details(dek, ref, resident.details),
                }
            )
            hashes = name_token_indexes(keys.index_key, resident.ehpad_id, resident.details.traits)
            token_rows.extend({"resident_id": resident.id, "token_hash": token} for token in sorted(hashes))
        await insert_rows(self._session, data_keys, key_rows)
        try:
            await insert_rows(self._session, residents, resident_rows)
        except IntegrityError as exc:
            raise InsTaken() from exc
        if token_rows:
            await insert_rows(self._session, resident_name_tokens, token_rows)

    async def update(self, resident: Resident, expected_version: int, keys: SealingKeys) -> None:
        """Save new details under the resident's own data key, if nobody saved since ``expected_version``;
        raises StaleResident otherwise, InsTaken if another resident of the EHPAD has the new INS."""
        wrapped = await self._session.scalar(
            select(data_keys.c.wrapped)
            .join(residents, residents.c.data_key_id == data_keys.c.id)
            .where(residents.c.id == resident.id)
        )
        if wrapped is None:
            raise UnreadableRecord()
        ref = record_ref(resident.id, resident.ehpad_id)
        dek = _open_key(keys, wrapped, ref)
        index = self._ins_index(keys, resident)
        if index is not None and set(await self.ids_by_ins(resident.ehpad_id, index)) - {resident.id}:
            raise InsTaken()
        try:
            result = await self._session.execute(
                update(residents)
                .where(residents.c.id == resident.id, residents.c.version == expected_version)
                .values(
                    identity_status=resident.details.identity_status.value,
                    version=resident.version,
                    updated_at=resident.updated_at,
                    last_activity_at=resident.updated_at,
                    ins_index=index,
                    **seal_details(dek, ref, resident.details),
                )
            )
        except IntegrityError as exc:
            raise InsTaken() from exc
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise StaleResident()
        await self._replace_tokens(resident, keys)

    async def dossier_key(self, resident_id: UUID, keys: SealingKeys) -> DossierKey | None:
        """The opened data key of the resident's dossier (None: no such resident); raises UnreadableRecord
        when the key is gone (crypto-shredded) or does not open."""
        row = (
            await self._session.execute(
                select(residents.c.ehpad_id, data_keys.c.wrapped)
                .join_from(residents, data_keys, residents.c.data_key_id == data_keys.c.id, isouter=True)
                .where(residents.c.id == resident_id)
            )
        ).one_or_none()
        if row is None:
            return None
        if row.wrapped is None:
            raise UnreadableRecord()
        ref = record_ref(resident_id, row.ehpad_id)
        return DossierKey(resident_id, row.ehpad_id, _open_key(keys, row.wrapped, ref))

    async def dossier_keys(self, resident_ids: Sequence[UUID], keys: SealingKeys) -> dict[UUID, DossierKey]:
        """The opened data keys of these residents' dossiers, in one query (unknown ids are left out);
        raises UnreadableRecord when one of them is gone or does not open."""
        if not resident_ids:
            return {}
        rows = (
            await self._session.execute(
                select(residents.c.id, residents.c.ehpad_id, data_keys.c.wrapped)
                .join_from(residents, data_keys, residents.c.data_key_id == data_keys.c.id, isouter=True)
                .where(residents.c.id.in_(list(resident_ids)))
            )
        ).all()
        found: dict[UUID, DossierKey] = {}
        for row in rows:
            if row.wrapped is None:
                raise UnreadableRecord()
            found[row.id] = DossierKey(
                row.id, row.ehpad_id, _open_key(keys, row.wrapped, record_ref(row.id, row.ehpad_id))
            )
        return found

    async def count(self) -> int:
        return await self._session.scalar(select(func.count()).select_from(residents)) or 0

    async def ehpad_of(self, resident_id: UUID) -> UUID | None:
        """The resident's EHPAD, read before anything is decrypted (for the access policy)."""
        return await self._session.scalar(select(residents.c.ehpad_id).where(residents.c.id == resident_id))

    async def get(self, resident_id: UUID, keys: SealingKeys) -> Resident | None:
        row = (await self._session.execute(_ROW.where(residents.c.id == resident_id))).one_or_none()
        return None if row is None else _to_resident(row, keys)

    async def list_for_ehpad(self, ehpad_id: UUID, keys: SealingKeys, limit: int) -> list[Resident]:
        query = _ROW.where(residents.c.ehpad_id == ehpad_id).order_by(residents.c.created_at).limit(limit)
        rows = (await self._session.execute(query)).all()
        return [_to_resident(row, keys) for row in rows]

    async def get_many(self, ids: Sequence[UUID], keys: SealingKeys) -> list[Resident]:
        if not ids:
            return []
        rows = (await self._session.execute(_ROW.where(residents.c.id.in_(ids)))).all()
        return [_to_resident(row, keys) for row in rows]

    async def ids_by_ins(self, ehpad_id: UUID, index: str) -> list[UUID]:
        query = select(residents.c.id).where(residents.c.ehpad_id == ehpad_id, residents.c.ins_index == index)
        return list((await self._session.scalars(query)).all())

    async def ids_with_all_tokens(self, ehpad_id: UUID, token_hashes: set[str], limit: int) -> list[UUID]:
        """Residents of the EHPAD whose name tokens include every one of ``token_hashes``."""
        query = (
            select(resident_name_tokens.c.resident_id)
            .join(residents, residents.c.id == resident_name_tokens.c.resident_id)
            .where(residents.c.ehpad_id == ehpad_id, resident_name_tokens.c.token_hash.in_(token_hashes))
            .group_by(resident_name_tokens.c.resident_id)
            .having(func.count() == len(token_hashes))
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())

    async def ids_inactive_since(self, before: datetime, limit: int) -> list[UUID]:
        """Residents whose last activity is older than ``before``, oldest first (for retention)."""
        query = (
            select(residents.c.id)
            .where(residents.c.last_activity_at < before)
            .order_by(residents.c.last_activity_at, residents.c.id)
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())

    async def count_inactive_since(self, before: datetime) -> int:
        query = select(func.count()).select_from(residents).where(residents.c.last_activity_at < before)
        return int(await self._session.scalar(query) or 0)

    async def touch_activity(self, resident_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(residents).where(residents.c.id == resident_id).values(last_activity_at=now)
        )

    async def shred(self, resident_ids: Sequence[UUID]) -> list[UUID]:
        """Crypto-shred residents: delete their data keys, then their rows (their name tokens go with
        them). Returns the ids actually deleted, so a run that finds some already gone still says the truth.
        The database must zero freed space (SQLite ``secure_delete``, see teleconsult/db.py)."""
        if not resident_ids:
            return []
        rows = (
            await self._session.execute(
                select(residents.c.id, residents.c.data_key_id).where(residents.c.id.in_(resident_ids))
            )
        ).all()
        key_ids = [row.data_key_id for row in rows if row.data_key_id is not None]
        if key_ids:
            await self._session.execute(delete(data_keys).where(data_keys.c.id.in_(key_ids)))
        found = [row.id for row in rows]
        await self._session.execute(delete(residents).where(residents.c.id.in_(found)))
        return found

    async def _replace_tokens(self, resident: Resident, keys: SealingKeys) -> None:
        await self._session.execute(
            delete(resident_name_tokens).where(resident_name_tokens.c.resident_id == resident.id)
        )
        hashes = name_token_indexes(keys.index_key, resident.ehpad_id, resident.details.traits)
        if hashes:
            await self._session.execute(
                insert(resident_name_tokens),
                [{"resident_id": resident.id, "token_hash": token} for token in sorted(hashes)],
            )

    @staticmethod
    def _ins_index(keys: SealingKeys, resident: Resident) -> str | None:
        ins = resident.details.ins
        return None if ins is None else ins_index(keys.index_key, resident.ehpad_id, ins.matricule)


def _to_resident(row: Row[Any], keys: SealingKeys) -> Resident:
    """A resident from a row of ``_ROW``; raises UnreadableRecord (its key shredded, or not opening)."""
    resident_id, ehpad_id, identity_status, version, created_at, updated_at, wrapped = row[:_SEALED_START]
    if wrapped is None:  # crypto-shredded
        raise UnreadableRecord()
    ref = record_ref(resident_id, ehpad_id)
    dek = _open_key(keys, wrapped, ref)
    try:
        details = open_details(
            dek,
            ref,
            dict(zip(SEALED_COLUMNS, row[_SEALED_START:], strict=True)),
            IdentityStatus(identity_status),
        )
    except CryptoError as exc:
        log.error("resident record unreadable", extra={"code": exc.code})
        raise UnreadableRecord() from exc
    return Resident(resident_id, ehpad_id, details, version, created_at, updated_at)


def _open_key(keys: SealingKeys, wrapped: bytes, ref: RecordRef) -> DataKey:
    try:
        return open_data_key(keys, WrappedKey.from_bytes(wrapped), ref)
    except CryptoError as exc:
        log.error("resident record unreadable", extra={"code": exc.code})
        raise UnreadableRecord() from exc

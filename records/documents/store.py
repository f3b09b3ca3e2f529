"""Persistence of residents' documents: one row per document, with its sealed title and file name, its
wrapped data key in ``data_keys`` (shared with the residents' records) and the id of its encrypted blob.
Queries live here and return model objects; the blob itself is written by the service, through the blob
store."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Uuid,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from records.crypto import CryptoError, DataKey, KeyProvider, WrappedKey, new_data_key, open_data_key
from records.documents.fields import SEALED_COLUMNS, open_fields, record_ref, seal_fields
from records.documents.model import Document, DocumentContext, StoredType, UnreadableDocument
from records.residents.store import data_keys
from teleconsult.db import UTCDateTime, metadata

log = logging.getLogger("teleconsult.records.documents")

_TYPES = ", ".join(f"'{content_type.value}'" for content_type in StoredType)

resident_documents = Table(
    "resident_documents",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("resident_id", Uuid, ForeignKey("residents.id"), nullable=False),
    Column("ehpad_id", Uuid, ForeignKey("establishments.id"), nullable=False, index=True),
    # Nullable: crypto-shredding deletes the data key and leaves a row (and a blob) nobody can read.
    Column("data_key_id", Uuid, ForeignKey("data_keys.id", ondelete="SET NULL"), nullable=True, unique=True),
    Column("content_type", String(64), nullable=False),
    Column("byte_length", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("blob_id", Uuid, nullable=False, unique=True),
    Column("context_type", String(32), nullable=True),
    Column("context_id", Uuid, nullable=True),
    Column("uploaded_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
    *(Column(name, LargeBinary, nullable=False) for name in SEALED_COLUMNS),
    CheckConstraint(f"content_type IN ({_TYPES})", name="content_type"),
    CheckConstraint("byte_length >= 0", name="byte_length"),
    CheckConstraint("(context_type IS NULL) = (context_id IS NULL)", name="context"),
    Index("ix_resident_documents_resident_id_uploaded_at", "resident_id", "uploaded_at"),
    Index("ix_resident_documents_context_type_context_id", "context_type", "context_id"),
)

_ROW = select(resident_documents, data_keys.c.wrapped).join_from(
    resident_documents, data_keys, resident_documents.c.data_key_id == data_keys.c.id, isouter=True
)


class DocumentStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def shred_for_residents(self, resident_ids: list[UUID]) -> list[UUID]:
        """Crypto-shred every document of these residents: their data keys, then their rows. Returns the
        blob ids, whose files nobody can decrypt any more and which the caller may delete."""
        if not resident_ids:
            return []
        rows = (
            await self._session.execute(
                select(resident_documents.c.blob_id, resident_documents.c.data_key_id).where(
                    resident_documents.c.resident_id.in_(resident_ids)
                )
            )
        ).all()
        key_ids = [row.data_key_id for row in rows if row.data_key_id is not None]
        if key_ids:
            await self._session.execute(delete(data_keys).where(data_keys.c.id.in_(key_ids)))
        await self._session.execute(
            delete(resident_documents).where(resident_documents.c.resident_id.in_(resident_ids))
        )
        return [row.blob_id for row in rows]

    @staticmethod
    def new_key(keys: KeyProvider, document_id: UUID, ehpad_id: UUID) -> tuple[DataKey, WrappedKey]:
        """A fresh data key for a document about to be stored (its blob is encrypted under it first)."""
        return new_data_key(keys, record_ref(document_id, ehpad_id))

    async def add(self, document: Document, dek: DataKey, wrapped: WrappedKey) -> None:
        """Insert the row of a document whose blob is already stored, with its wrapped data key."""
        await self._session.execute(
            insert(data_keys).values(
                id=document.id,
                wrapped=wrapped.to_bytes(),
                kek_id=wrapped.kek_id,
                created_at=document.uploaded_at,
            )
        )
        context = document.context
        await self._session.execute(
            insert(resident_documents).values(
                id=document.id,
                resident_id=document.resident_id,
                ehpad_id=document.ehpad_id,
                data_key_id=document.id,
                content_type=document.content_type.value,
                byte_length=document.byte_length,
                sha256=document.sha256,
                blob_id=document.blob_id,
                context_type=context.type if context else None,
                context_id=context.id if context else None,
                uploaded_by=document.uploaded_by,
                uploaded_at=document.uploaded_at,
                **seal_fields(dek, document.id, document.ehpad_id, document.title, document.file_name),
            )
        )

    async def list_for_resident(
        self, resident_id: UUID, keys: KeyProvider, context: DocumentContext | None = None
    ) -> list[Document]:
        """The resident's documents, newest first; only those of ``context`` when it is given."""
        query = _ROW.where(resident_documents.c.resident_id == resident_id)
        if context is not None:
            query = query.where(
                resident_documents.c.context_type == context.type,
                resident_documents.c.context_id == context.id,
            )
        query = query.order_by(resident_documents.c.uploaded_at.desc(), resident_documents.c.id)
        rows = (await self._session.execute(query)).all()
        return [self._to_document(row._mapping, keys)[0] for row in rows]

    async def get(
        self, resident_id: UUID, document_id: UUID, keys: KeyProvider
    ) -> tuple[Document, DataKey] | None:
        """The document of this resident with its data key (to decrypt the blob), or None."""
        query = _ROW.where(
            resident_documents.c.id == document_id, resident_documents.c.resident_id == resident_id
        )
        row = (await self._session.execute(query)).one_or_none()
        return None if row is None else self._to_document(row._mapping, keys)

    def _to_document(self, row: Any, keys: KeyProvider) -> tuple[Document, DataKey]:
        document_id, ehpad_id = row["id"], row["ehpad_id"]
        try:
            if row["wrapped"] is None:  # crypto-shredded
                raise UnreadableDocument()
            dek = open_data_key(
                keys, WrappedKey.from_bytes(row["wrapped"]), record_ref(document_id, ehpad_id)
            )
            plain = open_fields(
                dek, document_id, ehpad_id, {column: row[column] for column in SEALED_COLUMNS}
            )
        except CryptoError as exc:
            log.error(
                "document unreadable",
                extra={"code": exc.code, "document_id": str(document_id), "ehpad_id": str(ehpad_id)},
            )
            raise UnreadableDocument() from exc
        context = (
            DocumentContext(row["context_type"], row["context_id"])
            if row["context_type"] is not None
            else None
        )
        document = Document(
            id=document_id,
            resident_id=row["resident_id"],
            ehpad_id=ehpad_id,
            title=plain["title"],
            file_name=plain["file_name"],
            content_type=StoredType(row["content_type"]),
            byte_length=row["byte_length"],
            sha256=row["sha256"],
            blob_id=row["blob_id"],
            uploaded_by=row["uploaded_by"],
            uploaded_at=row["uploaded_at"],
            context=context,
        )
        return document, dek

"""Use cases of residents' documents: attach a file to a resident (optionally for a context such as an
appointment), list a resident's documents, open one for download.

Who: care-home staff of the resident's EHPAD (EDIT_RESIDENTS to attach, VIEW_RESIDENTS to list and
download); staff of another EHPAD get 404, as for the resident itself. The policy is asked before the
upload's body is read and before anything is decrypted. Every upload, list and download writes an audit
event (ids only) in the transaction of the use case; a refused upload writes one too.

Attaching never leaves half a document: the blob is written whole (or not at all) before the row, and
removed again if the row's transaction does not commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from records.blobs import BlobStore
from records.crypto import DataKey, IntegrityError, KeyProvider
from records.documents.fields import content_place
from records.documents.images import prepare_upload
from records.documents.model import (
    Document,
    DocumentContext,
    DocumentError,
    StoredType,
    UploadLimits,
    check_title,
    clean_file_name,
)
from records.documents.store import DocumentStore
from records.residents.store import ResidentStore
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, NotFound
from teleconsult.identity import policy
from teleconsult.identity.model import User
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit, audit_alone

log = logging.getLogger("teleconsult.records.documents")

OBJECT_TYPE = "document"
RESIDENT_OBJECT_TYPE = "resident"


@dataclass(frozen=True, slots=True)
class Upload:
    """What was received: the title typed, the file's own name, its bytes (already capped in size), and the
    small form fields the caller asked for besides (e.g. whether the file is the DLU)."""

    title: str
    file_name: str
    data: bytes
    fields: Mapping[str, str] = field(default_factory=dict)


#: Reads the upload; called only once the policy has allowed it (so nobody else's body is ever read).
UploadReader = Callable[[], Awaitable[Upload]]
#: Runs in the transaction that stores the document, so that what follows from it commits with it.
AfterAttach = Callable[[UnitOfWork, Document, Upload], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class OpenedDocument:
    """A document the actor may read, with what decrypts it. Its methods do blocking file I/O and crypto:
    call them in a thread. Each yields only verified bytes and raises records.crypto's IntegrityError or
    MalformedCiphertext (or records.blobs' BlobNotFound) when the stored file is not what was written."""

    document: Document
    blobs: BlobStore
    dek: DataKey

    def read_range(self, start: int, end: int) -> Iterator[bytes]:
        """Plaintext bytes ``[start, end)``, decrypting only the segments that cover them."""
        place = content_place(self.document.id, self.document.ehpad_id)
        return self.blobs.read_range(self.document.blob_id, self.dek, place, start, end)

    def verify(self) -> None:
        """Decrypt the whole blob and compare its length and SHA-256 with the row's, sending nothing."""
        digest = hashlib.sha256()
        length = 0
        place = content_place(self.document.id, self.document.ehpad_id)
        for piece in self.blobs.open(self.document.blob_id, self.dek, place):
            digest.update(piece)
            length += len(piece)
        if length != self.document.byte_length or digest.hexdigest() != self.document.sha256:
            raise IntegrityError()


async def _resident_ehpad(uow: UnitOfWork, actor: Principal, action: Action, resident_id: UUID) -> UUID:
    """The resident's EHPAD, once the policy allows ``action`` on it (404 for another EHPAD's staff)."""
    ehpad_id = await uow.store(ResidentStore).ehpad_of(resident_id)
    if ehpad_id is None:
        raise NotFound()
    policy.require(actor, action, ehpad_id)
    return ehpad_id


async def attach_document(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    resident_id: UUID,
    read_upload: UploadReader,
    limits: UploadLimits,
    now: datetime,
    client_address: str | None = None,
    context: DocumentContext | None = None,
    after: AfterAttach | None = None,
) -> Document:
    """Care-home staff of the resident's EHPAD attach a file to the resident (for ``context`` if given:
    the scheduling package attaches an appointment's preparation photos this way).

    Raises NotFound / AccessDenied before reading anything; then InvalidInput (title), UnsupportedType or
    DamagedFile (415), TooLarge or TooManyPixels (413). Images are re-encoded without their metadata.
    ``after`` runs in the transaction that stores the row (scheduling ticks its checklist there)."""
    async with uow.reading():
        ehpad_id = await _resident_ehpad(uow, actor, Action.EDIT_RESIDENTS, resident_id)
    try:
        upload = await read_upload()
        title = check_title(upload.title)
        prepared = await asyncio.to_thread(prepare_upload, upload.data, limits)
    except (DocumentError, InvalidInput) as exc:
        await audit_alone(
            uow,
            now,
            "document.upload",
            Outcome.FAILURE,
            actor.user,
            client_address,
            RESIDENT_OBJECT_TYPE,
            resident_id,
        )
        log.info("document refused", extra={"code": exc.code, "resident_id": str(resident_id)})
        raise
    document_id, blob_id = uuid.uuid4(), uuid.uuid4()
    dek, wrapped = DocumentStore.new_key(keys, document_id, ehpad_id)
    place = content_place(document_id, ehpad_id)
    info = await asyncio.to_thread(blobs.put, blob_id, dek, place, [prepared.data])
    document = Document(
        id=document_id,
        resident_id=resident_id,
        ehpad_id=ehpad_id,
        title=title,
        file_name=clean_file_name(upload.file_name),
        content_type=prepared.content_type,
        byte_length=info.length,
        sha256=info.sha256,
        blob_id=blob_id,
        uploaded_by=actor.user.id,
        uploaded_at=now,
        context=context,
    )
    try:
        async with uow:
            # The resident may have moved or gone while the file was read: ask again, in the transaction.
            if await _resident_ehpad(uow, actor, Action.EDIT_RESIDENTS, resident_id) != ehpad_id:
                raise NotFound()
            await uow.store(DocumentStore).add(document, dek, wrapped)
            await audit(
                uow,
                now,
                "document.upload",
                Outcome.SUCCESS,
                actor.user,
                client_address,
                OBJECT_TYPE,
                document_id,
            )
            if after is not None:
                await after(uow, document, upload)
            await uow.commit()
    except BaseException:
        # Synchronously, so that even a cancelled request removes its blob (an unlink and an fsync).
        blobs.delete(blob_id)
        raise
    return document


async def list_documents(
    uow: UnitOfWork,
    keys: KeyProvider,
    actor: Principal,
    resident_id: UUID,
    now: datetime,
    client_address: str | None = None,
    context: DocumentContext | None = None,
) -> list[Document]:
    """Care-home staff of the resident's EHPAD list its documents (of ``context`` only, if given), newest
    first. One audit event, naming the resident."""
    async with uow:
        await _resident_ehpad(uow, actor, Action.VIEW_RESIDENTS, resident_id)
        documents = await uow.store(DocumentStore).list_for_resident(resident_id, keys, context)
        await audit(
            uow,
            now,
            "document.list",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            RESIDENT_OBJECT_TYPE,
            resident_id,
        )
        await uow.commit()
    return documents


async def open_document(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    resident_id: UUID,
    document_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> OpenedDocument:
    """Care-home staff of the resident's EHPAD open one of its documents to download it; audited as a
    read. Raises NotFound for a document of another resident (even of the same EHPAD)."""
    async with uow:
        await _resident_ehpad(uow, actor, Action.VIEW_RESIDENTS, resident_id)
        found = await uow.store(DocumentStore).get(resident_id, document_id, keys)
        if found is None:
            raise NotFound()
        await audit(
            uow, now, "document.read", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, document_id
        )
        await uow.commit()
    document, dek = found
    return OpenedDocument(document, blobs, dek)


async def documents_in(
    uow: UnitOfWork,
    keys: KeyProvider,
    actor: Principal,
    resident_id: UUID,
    context: DocumentContext,
    now: datetime,
    client_address: str | None = None,
) -> list[Document]:
    """The resident's documents of ``context``, newest first, in the caller's open transaction, with the
    listing's audit event (naming the context's object). For another package's service that has asked the
    policy about ``context`` itself."""
    found = await uow.store(DocumentStore).list_for_resident(resident_id, keys, context)
    await audit(
        uow, now, "document.list", Outcome.SUCCESS, actor.user, client_address, context.type, context.id
    )
    return found


async def document_in(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    resident_id: UUID,
    context: DocumentContext,
    document_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> OpenedDocument:
    """One document of the resident attached for ``context``, in the caller's open transaction, with the
    read's audit event, for a service that has asked the policy about ``context`` itself. Raises NotFound
    for any other document."""
    found = await uow.store(DocumentStore).get(resident_id, document_id, keys)
    if found is None or found[0].context != context:
        raise NotFound()
    document, dek = found
    await audit(
        uow, now, "document.read", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, document_id
    )
    return OpenedDocument(document, blobs, dek)


async def add_generated_in(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    author: User,
    resident_id: UUID,
    ehpad_id: UUID,
    title: str,
    file_name: str,
    data: bytes,
    content_type: StoredType,
    context: DocumentContext,
    now: datetime,
    client_address: str | None = None,
) -> Document:
    """A document the service produced itself (a compte-rendu's PDF), stored encrypted like any other, in
    the caller's open transaction, for a service that has asked the policy itself. The blob is written
    first; if the caller's transaction then fails, the caller deletes ``document.blob_id`` (its data key
    was never committed, so the blob could not be read anyway)."""
    document_id, blob_id = uuid.uuid4(), uuid.uuid4()
    dek, wrapped = DocumentStore.new_key(keys, document_id, ehpad_id)
    info = await asyncio.to_thread(blobs.put, blob_id, dek, content_place(document_id, ehpad_id), [data])
    document = Document(
        id=document_id,
        resident_id=resident_id,
        ehpad_id=ehpad_id,
        title=check_title(title),
        file_name=clean_file_name(file_name),
        content_type=content_type,
        byte_length=info.length,
        sha256=info.sha256,
        blob_id=blob_id,
        uploaded_by=author.id,
        uploaded_at=now,
        context=context,
    )
    try:
        await uow.store(DocumentStore).add(document, dek, wrapped)
        await audit(
            uow, now, "document.generate", Outcome.SUCCESS, author, client_address, OBJECT_TYPE, document_id
        )
    except BaseException:
        blobs.delete(blob_id)
        raise
    return document

"""Use cases of a tele-expertise request's photos (wound photos, documents): stored by records.documents on
the request's resident, with the context ("expertise", its id).

Who: care-home staff of the request's EHPAD attach them while the request is open (REQUEST_EXPERTISE on
the EHPAD); those who may read the request read them (VIEW_EXPERTISE on the ExpertiseRef: the care home,
the experts whose queue it reaches while unclaimed, the expert who took it on); anyone else gets 404.
Every upload, list and download is audited.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from records.blobs import BlobStore
from records.crypto import KeyProvider
from records.documents import service as documents
from records.documents.model import Document, DocumentContext, UploadLimits
from records.documents.service import OpenedDocument, Upload, UploadReader
from scheduling.expertise.model import OPEN_STATUSES, ExpertiseStatus, NotOpen
from scheduling.expertise.service import OBJECT_TYPE, _ref
from scheduling.expertise.store import ExpertiseStore
from teleconsult.db import UnitOfWork
from teleconsult.errors import NotFound
from teleconsult.identity import policy
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit

CONTEXT_TYPE = "expertise"


def context_of(request_id: UUID) -> DocumentContext:
    return DocumentContext(CONTEXT_TYPE, request_id)


async def _resident_if_viewable(uow: UnitOfWork, actor: Principal, request_id: UUID) -> UUID:
    policy.require(actor, Action.VIEW_EXPERTISE, await _ref(uow, request_id))
    header = await uow.store(ExpertiseStore).header(request_id)
    if header is None:
        raise NotFound()
    resident_id: UUID = header.resident_id
    return resident_id


async def attach_to_expertise(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    request_id: UUID,
    read_upload: UploadReader,
    limits: UploadLimits,
    now: datetime,
    client_address: str | None = None,
) -> Document:
    """Care-home staff of the request's EHPAD attach a photo or a PDF to an open request. Raises NotFound /
    AccessDenied before the body is read, NotOpen once answered or withdrawn, then the documents' errors."""
    async with uow.reading():
        header = await uow.store(ExpertiseStore).header(request_id)
        if header is None:
            raise NotFound()
        policy.require(actor, Action.REQUEST_EXPERTISE, header.ehpad_id)
        if ExpertiseStatus(header.status) not in OPEN_STATUSES:
            raise NotOpen()
        resident_id: UUID = header.resident_id

    async def record(tx: UnitOfWork, document: Document, upload: Upload) -> None:
        await audit(
            tx, now, "expertise.attach", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, request_id
        )

    return await documents.attach_document(
        uow,
        keys,
        blobs,
        actor,
        resident_id,
        read_upload,
        limits,
        now,
        client_address,
        context=context_of(request_id),
        after=record,
    )


async def expertise_documents(
    uow: UnitOfWork,
    keys: KeyProvider,
    actor: Principal,
    request_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> list[Document]:
    """Those who may read the request list its photos and documents, newest first; audited."""
    async with uow:
        resident_id = await _resident_if_viewable(uow, actor, request_id)
        found = await documents.documents_in(
            uow, keys, actor, resident_id, context_of(request_id), now, client_address
        )
        await uow.commit()
    return found


async def open_expertise_document(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    request_id: UUID,
    document_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> OpenedDocument:
    """Those who may read the request open one of its documents; audited as a read. NotFound for a
    document that is not this request's."""
    async with uow:
        resident_id = await _resident_if_viewable(uow, actor, request_id)
        opened = await documents.document_in(
            uow, keys, blobs, actor, resident_id, context_of(request_id), document_id, now, client_address
        )
        await uow.commit()
    return opened


async def documents_of_requests(
    uow: UnitOfWork,
    keys: KeyProvider,
    actor: Principal,
    request_ids: list[UUID],
    now: datetime,
    client_address: str | None = None,
) -> dict[UUID, list[Document]]:
    """The photos and documents of the requests a page shows (the care home's list, an expert's queue), in
    one transaction; each request is asked about again and each listing audited."""
    found: dict[UUID, list[Document]] = {}
    async with uow:
        for request_id in request_ids:
            resident_id = await _resident_if_viewable(uow, actor, request_id)
            found[request_id] = await documents.documents_in(
                uow, keys, actor, resident_id, context_of(request_id), now, client_address
            )
        await uow.commit()
    return found

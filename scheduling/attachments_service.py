"""Use cases of an appointment's preparation documents (DLU, prescriptions, wound photos): stored by
records.documents on the appointment's resident, with the context ("appointment", its id).

Who: care-home staff of the appointment's EHPAD attach them (PREPARE_APPOINTMENT on the AppointmentRef),
while the appointment is booked; both sides read them (VIEW_APPOINTMENT: the appointment's expert and the
care home's staff); anyone else gets 404. Attaching ticks the checklist's PHOTOS item (and DLU when the
nurse says the file is the DLU) in the transaction that stores the document, so readiness follows.
Every list and download is audited, naming the appointment or the document.
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
from scheduling.model import AppointmentStatus, ChecklistItem, NotBookable
from scheduling.service import OBJECT_TYPE, _ref
from scheduling.store import SchedulingStore
from teleconsult.db import UnitOfWork
from teleconsult.errors import NotFound
from teleconsult.identity import policy
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit

CONTEXT_TYPE = "appointment"
#: The upload form's field saying the file is the resident's DLU.
IS_DLU_FIELD = "is_dlu"


def context_of(appointment_id: UUID) -> DocumentContext:
    return DocumentContext(CONTEXT_TYPE, appointment_id)


def is_dlu(upload: Upload) -> bool:
    return upload.fields.get(IS_DLU_FIELD, "").strip().lower() in {"1", "yes", "on", "true"}


async def _resident_of(uow: UnitOfWork, actor: Principal, action: Action, appointment_id: UUID) -> UUID:
    """The appointment's resident, once the policy allows ``action`` on the appointment (404 otherwise)."""
    ref, _version = await _ref(uow, appointment_id)
    policy.require(actor, action, ref)
    header = await uow.store(SchedulingStore).header(appointment_id)
    if header is None:
        raise NotFound()
    resident_id: UUID = header.resident_id
    return resident_id


async def attach_to_appointment(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    appointment_id: UUID,
    read_upload: UploadReader,
    limits: UploadLimits,
    now: datetime,
    client_address: str | None = None,
) -> Document:
    """Care-home staff of the appointment's EHPAD attach a preparation document to a booked appointment;
    PHOTOS (and DLU when the form says so) are ticked with it. Raises NotFound / AccessDenied before the
    body is read, NotBookable for an appointment no longer booked, then the documents' own errors."""
    async with uow.reading():
        resident_id = await _resident_of(uow, actor, Action.PREPARE_APPOINTMENT, appointment_id)
        header = await uow.store(SchedulingStore).header(appointment_id)
        if header is None or header.status != AppointmentStatus.BOOKED.value:
            raise NotBookable()

    async def tick(tx: UnitOfWork, document: Document, upload: Upload) -> None:
        store = tx.store(SchedulingStore)
        items = [ChecklistItem.PHOTOS, *([ChecklistItem.DLU] if is_dlu(upload) else [])]
        for item in items:
            await store.set_checklist_item(appointment_id, item, True, actor.user.id, now, keep_date=True)
        await store.touch(appointment_id, now)
        await audit(
            tx,
            now,
            "appointment.prepare",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            appointment_id,
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
        context=context_of(appointment_id),
        after=tick,
    )


async def appointment_documents(
    uow: UnitOfWork,
    keys: KeyProvider,
    actor: Principal,
    appointment_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> list[Document]:
    """Either side of the appointment lists its preparation documents, newest first; audited."""
    async with uow:
        resident_id = await _resident_of(uow, actor, Action.VIEW_APPOINTMENT, appointment_id)
        found = await documents.documents_in(
            uow, keys, actor, resident_id, context_of(appointment_id), now, client_address
        )
        await uow.commit()
    return found


async def open_appointment_document(
    uow: UnitOfWork,
    keys: KeyProvider,
    blobs: BlobStore,
    actor: Principal,
    appointment_id: UUID,
    document_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> OpenedDocument:
    """Either side of the appointment opens one of its preparation documents to download it; audited as a
    read. NotFound for a document that is not this appointment's (even of the same resident)."""
    async with uow:
        resident_id = await _resident_of(uow, actor, Action.VIEW_APPOINTMENT, appointment_id)
        opened = await documents.document_in(
            uow, keys, blobs, actor, resident_id, context_of(appointment_id), document_id, now, client_address
        )
        await uow.commit()
    return opened

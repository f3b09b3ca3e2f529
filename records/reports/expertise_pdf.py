"""The compte-rendu of a tele-expertise answer as an A4 PDF, for the care home and the treating physician.

When the expert answers, the PDF is rendered, stored encrypted as one of the resident's documents with a
context of its own ("expertise_report", the request's id; the care home's photos have "expertise") and
handed to the outbox. Whoever may read the request (its care home's staff, the expert who answered)
downloads it. A PDF
that could not be rendered at the answer (Pango missing, a crash) never costs the answer, which is saved
first: it is rendered at the first download. Every generation and download is audited (ids only).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome as AuditOutcome
from records.blobs import BlobStore
from records.documents import service as documents
from records.documents.model import Document, DocumentContext, StoredType
from records.documents.service import OpenedDocument
from records.documents.store import DocumentStore
from records.reports.model import BillingHint, ReportKind, billing_hint
from records.reports.outbox import Outbox, OutgoingReport
from records.residents.fields import SealingKeys
from scheduling.expertise import service as expertise
from scheduling.expertise.model import Answer, ExpertiseRequest
from scheduling.expertise.service import ExpertiseView
from scheduling.model import PARIS
from teleconsult.db import UnitOfWork
from teleconsult.errors import NotFound
from teleconsult.identity.model import Establishment, User
from teleconsult.identity.policy import Principal
from teleconsult.identity.service.trail import audit
from teleconsult.identity.store import IdentityStore

log = logging.getLogger("teleconsult.records.reports.expertise")

#: The answer's PDF, apart from the request's own files (scheduling.expertise.attachments: "expertise").
CONTEXT_TYPE = "expertise_report"
OBJECT_TYPE = "expertise"


@dataclass(frozen=True, slots=True)
class ExpertisePdfPage:
    """What the PDF shows: the answered request with its resident, care home and requester, the answer,
    the expert who gave it and their hospital (the letterhead), and the billing hint."""

    view: ExpertiseView
    answer: Answer
    expert: User | None
    hospital: Establishment | None
    hint: BillingHint


#: Turns the page into PDF bytes (a Jinja2 template and WeasyPrint, given by the web layer).
ExpertisePdfRenderer = Callable[[ExpertisePdfPage], Awaitable[bytes]]


def context_of(request_id: UUID) -> DocumentContext:
    return DocumentContext(CONTEXT_TYPE, request_id)


def is_answer_pdf(document: Document, request: ExpertiseRequest) -> bool:
    """Whether ``document`` is the request's compte-rendu: a PDF under the answer's own context (the care
    home's files, PDFs included, are under the request's)."""
    return (
        request.answer is not None
        and document.context == context_of(request.id)
        and document.content_type is StoredType.PDF
    )


async def _answered_in(
    uow: UnitOfWork, keys: SealingKeys, actor: Principal, request_id: UUID, now: datetime
) -> tuple[ExpertiseView, Answer]:
    """The request once the policy allowed the actor to read it; NotFound while it has no answer."""
    view = await expertise.view_in(uow, keys, actor, request_id, now)
    if view.request.answer is None:
        raise NotFound()
    return view, view.request.answer


async def _newest_pdf_in(uow: UnitOfWork, keys: SealingKeys, request: ExpertiseRequest) -> Document | None:
    found = await uow.store(DocumentStore).list_for_resident(
        request.resident_id, keys, context_of(request.id)
    )
    return next((document for document in found if is_answer_pdf(document, request)), None)


async def _page_in(
    uow: UnitOfWork, keys: SealingKeys, actor: Principal, request_id: UUID, now: datetime
) -> ExpertisePdfPage:
    view, answer = await _answered_in(uow, keys, actor, request_id, now)
    identity = uow.store(IdentityStore)
    found = await identity.get_users([answer.by])
    expert = found[0] if found else None
    hospital = await identity.get_establishment(expert.establishment_id) if expert else None
    return ExpertisePdfPage(view, answer, expert, hospital, billing_hint(ReportKind.EXPERTISE))


async def store_answer_pdf(
    uow: UnitOfWork,
    keys: SealingKeys,
    blobs: BlobStore,
    render: ExpertisePdfRenderer,
    outbox: Outbox,
    actor: Principal,
    request_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> Document:
    """Render the answered request's compte-rendu, store it encrypted among the resident's documents and
    hand it to the outbox for the treating physician. For whoever may read the request (the expert right
    after answering, the care home at a first download). Raises NotFound, PdfUnavailable."""
    async with uow.reading():
        page = await _page_in(uow, keys, actor, request_id, now)
    data = await render(page)
    request = page.view.request
    day = page.answer.at.astimezone(PARIS).date()
    document: Document | None = None
    try:
        async with uow:
            document = await documents.add_generated_in(
                uow,
                keys,
                blobs,
                actor.user,
                request.resident_id,
                request.ehpad_id,
                f"Compte-rendu de téléexpertise du {day.strftime('%d/%m/%Y')}",
                f"compte-rendu-teleexpertise-{day.isoformat()}.pdf",
                data,
                StoredType.PDF,
                context_of(request.id),
                now,
                client_address,
            )
            await audit(
                uow,
                now,
                "expertise.pdf.generate",
                AuditOutcome.SUCCESS,
                actor.user,
                client_address,
                OBJECT_TYPE,
                request.id,
            )
            await uow.commit()
    except BaseException:
        if document is not None:
            blobs.delete(document.blob_id)
        raise
    await outbox.send(
        OutgoingReport(
            request.id, request.resident_id, request.ehpad_id, document.id, now, ReportKind.EXPERTISE
        )
    )
    return document


async def after_answer(
    uow: UnitOfWork,
    keys: SealingKeys,
    blobs: BlobStore,
    render: ExpertisePdfRenderer,
    outbox: Outbox,
    actor: Principal,
    request_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> Document | None:
    """:func:`store_answer_pdf` right after the expert's answer was saved. Never raises: the answer stands
    whatever happens here, and a PDF not made now (None) is made at the first download."""
    try:
        return await store_answer_pdf(
            uow, keys, blobs, render, outbox, actor, request_id, now, client_address
        )
    except Exception:
        log.exception(
            "tele-expertise PDF not produced at the answer", extra={"expertise_id": str(request_id)}
        )
        return None


async def open_answer_pdf(
    uow: UnitOfWork,
    keys: SealingKeys,
    blobs: BlobStore,
    render: ExpertisePdfRenderer,
    outbox: Outbox,
    actor: Principal,
    request_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> OpenedDocument:
    """The newest compte-rendu of an answered request, for whoever may read the request (404 for anyone
    else, and while it has no answer); made now if the answer could not make it. Audited as a read of the
    document and of the request's PDF."""
    async with uow.reading():
        view, _answer = await _answered_in(uow, keys, actor, request_id, now)
        newest = await _newest_pdf_in(uow, keys, view.request)
    if newest is None:
        await store_answer_pdf(uow, keys, blobs, render, outbox, actor, request_id, now, client_address)
    async with uow:
        view, _answer = await _answered_in(uow, keys, actor, request_id, now)
        newest = await _newest_pdf_in(uow, keys, view.request)
        if newest is None:
            raise NotFound()
        opened = await documents.document_in(
            uow,
            keys,
            blobs,
            actor,
            view.request.resident_id,
            context_of(request_id),
            newest.id,
            now,
            client_address,
        )
        await audit(
            uow,
            now,
            "expertise.pdf",
            AuditOutcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            request_id,
        )
        await uow.commit()
    return opened

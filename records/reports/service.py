"""Use cases of comptes-rendus: the booked expert reads, saves (autosave), finalises a teleconsultation's
report and adds addenda; the care home's staff read it and download its PDF.

Each use case asks the access policy (READ_REPORT / WRITE_REPORT on the appointment), runs in one
transaction, writes its audit event (ids only) and seals the free fields under the resident's dossier key.
Finalising marks the appointment held, then renders the PDF, which is stored encrypted as one of the
resident's documents (context "report") and handed to the outbox for the treating physician. A PDF that
could not be rendered then (Pango missing, a crash) is rendered again at the first download.
"""

from __future__ import annotations

import logging
import uuid
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
from records.reports.model import (
    Addendum,
    BillingHint,
    Report,
    ReportContent,
    ReportKind,
    ReportStatus,
    StaleReport,
    billing_hint,
    check_addendum,
    check_draft,
    finalised,
    saved,
)
from records.reports.outbox import Outbox, OutgoingReport
from records.reports.store import ReportHeader, ReportStore
from records.residents import service as residents
from records.residents.fields import SealingKeys
from records.residents.model import Resident
from scheduling import service as scheduling
from scheduling.model import PARIS, AppointmentStatus
from scheduling.service import AppointmentTimes, AppointmentView
from teleconsult.db import UnitOfWork
from teleconsult.errors import Conflict, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.model import Establishment, User
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit
from teleconsult.identity.store import IdentityStore

log = logging.getLogger("teleconsult.records.reports")

OBJECT_TYPE = "report"
APPOINTMENT_OBJECT_TYPE = "appointment"
CONTEXT_TYPE = "report"


class NotYetHeld(Conflict):
    code = "consultation_not_started"
    message = N_(
        "The consultation has not started yet: you can prepare a draft, and finalise it after the call."
    )


class CancelledConsultation(Conflict):
    code = "appointment_cancelled"
    message = N_("This appointment was cancelled: there is no consultation to report on.")


@dataclass(frozen=True, slots=True)
class ReportPage:
    """What the report's screens and its PDF show: the report (None before the first save), its
    appointment with resident and expert, the hospital, the billing hint and the PDFs stored."""

    report: Report | None
    appointment: AppointmentView
    hospital: Establishment | None
    author: User | None
    addendum_authors: dict[UUID, User]
    hint: BillingHint
    pdfs: list[Document]

    @property
    def resident(self) -> Resident | None:
        return self.appointment.resident


#: Turns a report page into PDF bytes (a Jinja2 template and WeasyPrint, given by the web layer).
PdfRenderer = Callable[[ReportPage], Awaitable[bytes]]


async def _ref_for(
    uow: UnitOfWork, actor: Principal, action: Action, appointment_id: UUID
) -> AppointmentTimes:
    times = await scheduling.appointment_times(uow, appointment_id)
    policy.require(actor, action, times.ref)
    return times


async def _page(
    uow: UnitOfWork,
    keys: SealingKeys,
    appointment_id: UUID,
    actor: Principal,
    now: datetime,
    client: str | None,
) -> ReportPage:
    view = await scheduling.appointment_in(uow, keys, appointment_id)
    key = await residents.dossier_key_in(uow, keys, view.appointment.resident_id)
    report = await uow.store(ReportStore).get_for_appointment(appointment_id, key)
    identity = uow.store(IdentityStore)
    expert = view.expert
    hospital = await identity.get_establishment(expert.establishment_id) if expert else None
    people = {a.author_id for a in report.addenda} if report else set()
    if report:
        people.add(report.author_id)
    users = {user.id: user for user in await identity.get_users(sorted(people))}
    pdfs: list[Document] = []
    if report and report.is_final:
        pdfs = await documents.documents_in(
            uow,
            keys,
            actor,
            view.appointment.resident_id,
            DocumentContext(CONTEXT_TYPE, report.id),
            now,
            client,
        )
    return ReportPage(
        report=report,
        appointment=view,
        hospital=hospital,
        author=users.get(report.author_id) if report else expert,
        addendum_authors=users,
        hint=billing_hint(ReportKind.TELECONSULTATION),
        pdfs=pdfs,
    )


async def require_writer(uow: UnitOfWork, actor: Principal, appointment_id: UUID) -> None:
    """Ask the policy before a request's body is read: an outsider learns nothing from how it is refused
    (404 for an appointment they may not know of), whatever they sent."""
    async with uow.reading():
        await _ref_for(uow, actor, Action.WRITE_REPORT, appointment_id)


async def report_page(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> ReportPage:
    """The appointment's report for whoever may read it (the booked expert, the care home's staff)."""
    async with uow:
        await _ref_for(uow, actor, Action.READ_REPORT, appointment_id)
        page = await _page(uow, keys, appointment_id, actor, now, client_address)
        target = (OBJECT_TYPE, page.report.id) if page.report else (APPOINTMENT_OBJECT_TYPE, appointment_id)
        await audit(uow, now, "report.read", AuditOutcome.SUCCESS, actor.user, client_address, *target)
        await uow.commit()
    return page


async def save_draft(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    content: ReportContent,
    expected_version: int | None,
    now: datetime,
    client_address: str | None = None,
) -> Report:
    """The booked expert saves the draft (autosave). ``expected_version`` None: the first save (a report
    saved meanwhile by another tab answers 409). Raises ReportFinalised (409, addendum), StaleReport."""
    async with uow:
        times = await _ref_for(uow, actor, Action.WRITE_REPORT, appointment_id)
        report, _before = await _draft(
            uow, keys, actor, appointment_id, times.status, content, expected_version, now
        )
        await audit(
            uow, now, "report.save", AuditOutcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, report.id
        )
        await uow.commit()
    return report


async def _draft(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    status: AppointmentStatus,
    content: ReportContent,
    expected_version: int | None,
    now: datetime,
) -> tuple[Report, Report | None]:
    """(the saved draft, the report as it was before: None when this save created it)."""
    if status is AppointmentStatus.CANCELLED:
        raise CancelledConsultation()
    view = await scheduling.appointment_in(uow, keys, appointment_id)
    appointment = view.appointment
    key = await residents.dossier_key_in(uow, keys, appointment.resident_id)
    store = uow.store(ReportStore)
    current = await store.get_for_appointment(appointment_id, key)
    expected = expected_version or 0
    if current is None:
        if expected != 0:
            raise StaleReport()
        check_draft(content)
        created = Report(
            id=uuid.uuid4(),
            kind=ReportKind.TELECONSULTATION,
            subject_id=appointment_id,
            resident_id=appointment.resident_id,
            ehpad_id=appointment.ehpad_id,
            specialty=appointment.specialty.value,
            author_id=actor.user.id,
            status=ReportStatus.DRAFT,
            content=content,
            created_at=now,
            updated_at=now,
            finalised_at=None,
            version=1,
        )
        if not await store.add_draft(created, key):
            raise StaleReport()  # another tab created it in the same instant
        return created, None
    changed = saved(current, content, expected, now)
    if not await store.save(changed, current.version, key):
        raise StaleReport()
    return changed, current


async def finalise(
    uow: UnitOfWork,
    keys: SealingKeys,
    blobs: BlobStore,
    render: PdfRenderer,
    outbox: Outbox,
    actor: Principal,
    appointment_id: UUID,
    content: ReportContent,
    expected_version: int | None,
    now: datetime,
    client_address: str | None = None,
) -> Report:
    """The booked expert finalises: 422 naming every missing field; 409 if final already (addendum) or
    changed elsewhere. The appointment becomes held in the same transaction; then the PDF is rendered,
    stored encrypted and handed to the outbox (a failure there leaves the report final, the PDF is made at
    the first download)."""
    today = now.astimezone(PARIS).date()
    async with uow:
        times = await _ref_for(uow, actor, Action.WRITE_REPORT, appointment_id)
        if now < times.starts_at:
            raise NotYetHeld()
        draft, _before = await _draft(
            uow, keys, actor, appointment_id, times.status, content, expected_version, now
        )
        final = finalised(draft, content, draft.version, now, today)
        key = await residents.dossier_key_in(uow, keys, final.resident_id)
        if not await uow.store(ReportStore).save(final, draft.version, key):
            raise StaleReport()
        await scheduling.mark_held_in(uow, keys, appointment_id, now)
        await audit(
            uow,
            now,
            "report.finalise",
            AuditOutcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            final.id,
        )
        await uow.commit()
    try:
        document = await _store_pdf(uow, keys, blobs, render, actor, appointment_id, now, client_address)
        await outbox.send(OutgoingReport(final.id, final.resident_id, final.ehpad_id, document.id, now))
    except Exception:
        log.exception("report PDF not produced at finalisation", extra={"report_id": str(final.id)})
    return final


async def _store_pdf(
    uow: UnitOfWork,
    keys: SealingKeys,
    blobs: BlobStore,
    render: PdfRenderer,
    actor: Principal,
    appointment_id: UUID,
    now: datetime,
    client_address: str | None,
) -> Document:
    """Render the report's current state and store it as the resident's newest PDF of this report."""
    async with uow.reading():
        page = await _page(uow, keys, appointment_id, actor, now, client_address)
    report = page.report
    if report is None or not report.is_final:
        raise NotFound()
    data = await render(page)
    day = report.finalised_at.astimezone(PARIS).date() if report.finalised_at else now.date()
    title = f"Compte-rendu de téléconsultation du {day.strftime('%d/%m/%Y')}"
    if report.addenda:
        title += (
            f" (avec {len(report.addenda)} addendum)"
            if len(report.addenda) == 1
            else (f" (avec {len(report.addenda)} addenda)")
        )
    document: Document | None = None
    try:
        async with uow:
            document = await documents.add_generated_in(
                uow,
                keys,
                blobs,
                actor.user,
                report.resident_id,
                report.ehpad_id,
                title,
                f"compte-rendu-{day.isoformat()}.pdf",
                data,
                StoredType.PDF,
                DocumentContext(CONTEXT_TYPE, report.id),
                now,
                client_address,
            )
            await uow.commit()
    except BaseException:
        if document is not None:
            blobs.delete(document.blob_id)
        raise
    return document


async def add_addendum(
    uow: UnitOfWork,
    keys: SealingKeys,
    blobs: BlobStore,
    render: PdfRenderer,
    actor: Principal,
    appointment_id: UUID,
    text: str,
    now: datetime,
    client_address: str | None = None,
) -> Addendum:
    """The booked expert corrects or completes a final report: an addendum with its own audit event; the
    PDF is made again with it."""
    async with uow:
        await _ref_for(uow, actor, Action.WRITE_REPORT, appointment_id)
        view = await scheduling.appointment_in(uow, keys, appointment_id)
        key = await residents.dossier_key_in(uow, keys, view.appointment.resident_id)
        report = await uow.store(ReportStore).get_for_appointment(appointment_id, key)
        if report is None:
            raise NotFound()
        check_addendum(report, text)
        addendum = Addendum(uuid.uuid4(), actor.user.id, now, text.strip())
        await uow.store(ReportStore).add_addendum(report.id, addendum, key)
        await audit(
            uow,
            now,
            "report.addendum",
            AuditOutcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            report.id,
        )
        await uow.commit()
    try:
        await _store_pdf(uow, keys, blobs, render, actor, appointment_id, now, client_address)
    except Exception:
        log.exception("report PDF not produced after an addendum", extra={"report_id": str(report.id)})
    return addendum


async def open_pdf(
    uow: UnitOfWork,
    keys: SealingKeys,
    blobs: BlobStore,
    render: PdfRenderer,
    actor: Principal,
    appointment_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> OpenedDocument:
    """The newest PDF of the appointment's final report, for whoever may read the report; audited as a read
    of the document. Made now if finalisation could not make it."""
    async with uow:
        await _ref_for(uow, actor, Action.READ_REPORT, appointment_id)
        header = await uow.store(ReportStore).header_for_appointment(appointment_id)
        if header is None or header.status is not ReportStatus.FINAL:
            raise NotFound()
        context = DocumentContext(CONTEXT_TYPE, header.id)
        newest = await uow.store(DocumentStore).list_for_resident(header.resident_id, keys, context)
    if not newest:
        await _store_pdf(uow, keys, blobs, render, actor, appointment_id, now, client_address)
    async with uow:
        await _ref_for(uow, actor, Action.READ_REPORT, appointment_id)
        found = await uow.store(DocumentStore).list_for_resident(header.resident_id, keys, context)
        if not found:
            raise NotFound()
        opened = await documents.document_in(
            uow, keys, blobs, actor, header.resident_id, context, found[0].id, now, client_address
        )
        await uow.commit()
    return opened


async def report_headers_in(uow: UnitOfWork, resident_id: UUID) -> list[ReportHeader]:
    """The resident's reports' clear columns (for the timeline), in the caller's unit of work."""
    return await uow.store(ReportStore).headers_for_resident(resident_id)

"""A resident's timeline: requests, teleconsultations, comptes-rendus, tele-expertise requests and answers,
and documents, newest first, for the care-home staff who may read the resident. One audited read.

It reads through the other packages' service functions (never their tables) inside one unit of work, after
the policy allowed VIEW_RESIDENTS on the resident's EHPAD."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from records.audit.model import Outcome as AuditOutcome
from records.documents.store import DocumentStore
from records.reports.model import Outcome, ReportStatus
from records.reports.store import ReportStore
from records.residents import service as residents
from records.residents.fields import SealingKeys
from records.residents.model import Resident
from records.residents.store import ResidentStore
from scheduling import service as scheduling
from scheduling.expertise import service as expertise
from teleconsult.db import UnitOfWork
from teleconsult.errors import NotFound
from teleconsult.identity import policy
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit


class EntryKind(StrEnum):
    REQUEST = "request"  # a teleconsultation booked
    CONSULTATION = "consultation"  # its date: held, missed, cancelled or to come
    REPORT = "report"
    EXPERTISE = "expertise"
    ANSWER = "answer"
    DOCUMENT = "document"


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of the timeline. ``ref`` is the id the page links to (appointment, request or document);
    ``label`` a code the page translates (a status, an outcome, a specialty); ``text`` what was written."""

    kind: EntryKind
    at: datetime
    ref: UUID
    label: str
    text: str = ""
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    resident: Resident
    entries: list[TimelineEntry]


async def resident_timeline(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    resident_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> Timeline:
    async with uow:
        ehpad_id = await uow.store(ResidentStore).ehpad_of(resident_id)
        if ehpad_id is None:
            raise NotFound()
        policy.require(actor, Action.VIEW_RESIDENTS, ehpad_id)
        people = await residents.residents_in(uow, keys, [resident_id])
        resident = people.get(resident_id)
        if resident is None:
            raise NotFound()
        entries: list[TimelineEntry] = []
        for view in await scheduling.resident_appointments_in(uow, keys, resident_id):
            a = view.appointment
            entries.append(TimelineEntry(EntryKind.REQUEST, a.created_at, a.id, a.specialty.value))
            entries.append(TimelineEntry(EntryKind.CONSULTATION, a.starts_at, a.id, a.status.value))
        for header in await uow.store(ReportStore).headers_for_resident(resident_id):
            if header.status is ReportStatus.FINAL and header.finalised_at and header.appointment_id:
                entries.append(
                    TimelineEntry(
                        EntryKind.REPORT,
                        header.finalised_at,
                        header.appointment_id,
                        "final",
                        "",
                        header.outcome,
                    )
                )
        for request in await expertise.resident_requests_in(uow, keys, resident_id):
            entries.append(
                TimelineEntry(
                    EntryKind.EXPERTISE,
                    request.requested_at,
                    request.id,
                    request.specialty.value,
                    request.question,
                )
            )
            if request.answer is not None:
                entries.append(
                    TimelineEntry(
                        EntryKind.ANSWER,
                        request.answer.at,
                        request.id,
                        request.answer.outcome.value,
                        request.answer.text,
                    )
                )
        for document in await uow.store(DocumentStore).list_for_resident(resident_id, keys):
            entries.append(
                TimelineEntry(EntryKind.DOCUMENT, document.uploaded_at, document.id, "", document.title)
            )
        entries.sort(key=lambda entry: entry.at, reverse=True)
        await audit(
            uow,
            now,
            "resident.timeline",
            AuditOutcome.SUCCESS,
            actor.user,
            client_address,
            "resident",
            resident_id,
        )
        await uow.commit()
    return Timeline(resident, entries)

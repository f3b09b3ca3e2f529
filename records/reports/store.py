"""Persistence of comptes-rendus: one report per appointment or tele-expertise request, its addenda.

The free fields (text, advice on prescriptions, department, dates) are sealed under the resident's dossier
key in ``body``; the outcome category, the specialty and the EHPAD stay in clear so that activity is
aggregated in SQL without opening a dossier (docs/adr/0014-reports-and-activity.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
    Select,
    String,
    Table,
    Uuid,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from records.reports.model import Addendum, Outcome, Report, ReportContent, ReportKind, ReportStatus
from records.sealing import DossierKey
from teleconsult.db import UTCDateTime, metadata

_STATUSES = ", ".join(f"'{status.value}'" for status in ReportStatus)
_KINDS = ", ".join(f"'{kind.value}'" for kind in ReportKind)
_OUTCOMES = ", ".join(f"'{outcome.value}'" for outcome in Outcome)

reports = Table(
    "reports",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    # Shredding a resident's dossier deletes its reports (sealed under its key) with the appointment.
    Column(
        "appointment_id", Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=True, unique=True
    ),
    Column(
        "expertise_id",
        Uuid,
        ForeignKey("expertise_requests.id", ondelete="CASCADE"),
        nullable=True,
        unique=True,
    ),
    Column("resident_id", Uuid, ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("ehpad_id", Uuid, ForeignKey("establishments.id"), nullable=False),
    Column("specialty", String(32), nullable=False),
    Column("author_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outcome", String(32), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finalised_at", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    CheckConstraint(f"kind IN ({_KINDS})", name="kind"),
    CheckConstraint(f"status IN ({_STATUSES})", name="status"),
    CheckConstraint(f"outcome IS NULL OR outcome IN ({_OUTCOMES})", name="outcome"),
    CheckConstraint("(appointment_id IS NULL) <> (expertise_id IS NULL)", name="subject"),
    CheckConstraint(
        "status <> 'final' OR (outcome IS NOT NULL AND finalised_at IS NOT NULL)", name="final_complete"
    ),
    CheckConstraint("version >= 1", name="version"),
    Index("ix_reports_ehpad_id_finalised_at", "ehpad_id", "finalised_at"),
)

report_addenda = Table(
    "report_addenda",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("report_id", Uuid, ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("author_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),
)


def final_outcomes() -> Select[tuple[object, ...]]:
    """(appointment_id, expertise_id, outcome, finalised_at) of each finalised report, for activity."""
    return select(
        reports.c.appointment_id, reports.c.expertise_id, reports.c.outcome, reports.c.finalised_at
    ).where(reports.c.status == ReportStatus.FINAL.value)


BODY_COLUMN = "body"
ADDENDUM_TABLE = "report_addenda"


def _seal_body(key: DossierKey, table: str, record_id: UUID, fields: dict[str, str]) -> bytes:
    return key.seal(table, record_id, {BODY_COLUMN: json.dumps(fields, ensure_ascii=False)})[BODY_COLUMN]


def _open_body(key: DossierKey, table: str, record_id: UUID, body: bytes) -> dict[str, str]:
    loaded = json.loads(key.open(table, record_id, {BODY_COLUMN: body})[BODY_COLUMN])
    return {str(name): str(value) for name, value in loaded.items()}


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """The clear columns of a report: enough for the policy and lists, nothing to decrypt."""

    id: UUID
    kind: ReportKind
    appointment_id: UUID | None
    resident_id: UUID
    status: ReportStatus
    outcome: Outcome | None
    finalised_at: datetime | None
    version: int


#: The clear columns of a report (see ReportHeader).
_HEADER = select(
    reports.c.id,
    reports.c.kind,
    reports.c.appointment_id,
    reports.c.resident_id,
    reports.c.status,
    reports.c.outcome,
    reports.c.finalised_at,
    reports.c.version,
)


class ReportStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_draft(self, report: Report, key: DossierKey) -> bool:
        """Insert the first draft of an appointment's report; False when one exists already (a race)."""
        values: dict[str, Any] = {
            "id": report.id,
            "kind": report.kind.value,
            "appointment_id": report.subject_id if report.kind is ReportKind.TELECONSULTATION else None,
            "expertise_id": report.subject_id if report.kind is ReportKind.EXPERTISE else None,
            "resident_id": report.resident_id,
            "ehpad_id": report.ehpad_id,
            "specialty": report.specialty,
            "author_id": report.author_id,
            "status": report.status.value,
            "outcome": report.content.outcome.value if report.content.outcome else None,
            "created_at": report.created_at,
            "updated_at": report.updated_at,
            "finalised_at": report.finalised_at,
            "version": report.version,
            "body": _seal_body(key, reports.name, report.id, report.content.sealed_fields()),
        }
        try:
            async with self._session.begin_nested():
                await self._session.execute(insert(reports).values(**values))
        except IntegrityError:
            return False
        return True

    async def header_for_appointment(self, appointment_id: UUID) -> ReportHeader | None:
        row = (await self._session.execute(_HEADER.where(reports.c.appointment_id == appointment_id))).first()
        return _header(row) if row else None

    async def headers_for_resident(self, resident_id: UUID) -> list[ReportHeader]:
        rows = await self._session.execute(_HEADER.where(reports.c.resident_id == resident_id))
        return [_header(row) for row in rows]

    async def get_for_appointment(self, appointment_id: UUID, key: DossierKey) -> Report | None:
        row = (
            await self._session.execute(select(reports).where(reports.c.appointment_id == appointment_id))
        ).first()
        if row is None:
            return None
        m = row._mapping
        fields = _open_body(key, reports.name, m["id"], m["body"])
        addenda = await self._addenda(m["id"], key)
        return Report(
            id=m["id"],
            kind=ReportKind(m["kind"]),
            subject_id=m["appointment_id"] or m["expertise_id"],
            resident_id=m["resident_id"],
            ehpad_id=m["ehpad_id"],
            specialty=m["specialty"],
            author_id=m["author_id"],
            status=ReportStatus(m["status"]),
            content=ReportContent.from_sealed(Outcome(m["outcome"]) if m["outcome"] else None, fields),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
            finalised_at=m["finalised_at"],
            version=m["version"],
            addenda=addenda,
        )

    async def _addenda(self, report_id: UUID, key: DossierKey) -> tuple[Addendum, ...]:
        rows = await self._session.execute(
            select(report_addenda)
            .where(report_addenda.c.report_id == report_id)
            .order_by(report_addenda.c.created_at, report_addenda.c.id)
        )
        return tuple(
            Addendum(
                id=row.id,
                author_id=row.author_id,
                created_at=row.created_at,
                text=_open_body(key, ADDENDUM_TABLE, row.id, row.body)["text"],
            )
            for row in rows
        )

    async def save(self, changed: Report, expected_version: int, key: DossierKey) -> bool:
        """Write a changed draft (or its finalisation) if nobody wrote in between: one conditional UPDATE,
        whose row count says whether it won (the same on both backends)."""
        result = await self._session.execute(
            update(reports)
            .where(
                reports.c.id == changed.id,
                reports.c.version == expected_version,
                reports.c.status == ReportStatus.DRAFT.value,
            )
            .values(
                status=changed.status.value,
                outcome=changed.content.outcome.value if changed.content.outcome else None,
                updated_at=changed.updated_at,
                finalised_at=changed.finalised_at,
                version=changed.version,
                body=_seal_body(key, reports.name, changed.id, changed.content.sealed_fields()),
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def add_addendum(self, report_id: UUID, addendum: Addendum, key: DossierKey) -> None:
        await self._session.execute(
            insert(report_addenda).values(
                id=addendum.id,
                report_id=report_id,
                author_id=addendum.author_id,
                created_at=addendum.created_at,
                body=_seal_body(key, ADDENDUM_TABLE, addendum.id, {"text": addendum.text}),
            )
        )


def _header(row: Any) -> ReportHeader:
    return ReportHeader(
        id=row.id,
        kind=ReportKind(row.kind),
        appointment_id=row.appointment_id,
        resident_id=row.resident_id,
        status=ReportStatus(row.status),
        outcome=Outcome(row.outcome) if row.outcome else None,
        finalised_at=row.finalised_at,
        version=row.version,
    )

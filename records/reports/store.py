"""Persistence of comptes-rendus: one report per appointment or tele-expertise request, its addenda.

The free fields (text, advice on prescriptions, department, dates) are sealed under the resident's dossier
key in ``body``; the outcome category, the specialty and the EHPAD stay in clear so that activity is
aggregated in SQL without opening a dossier (docs/adr/0014-reports-and-activity.md).
"""

from __future__ import annotations

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
    select,
)

from records.reports.model import Outcome, ReportKind, ReportStatus
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

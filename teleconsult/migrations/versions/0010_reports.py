"""Comptes-rendus: one report per appointment or tele-expertise request (free fields sealed in ``body``,
the outcome category in clear for activity) and their addenda.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = (
    "'advice', 'treatment_change', 'direct_admission', 'second_consultation', 'emergency_referral', 'other'"
)


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("expertise_id", sa.Uuid(), nullable=True),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("ehpad_id", sa.Uuid(), nullable=False),
        sa.Column("specialty", sa.String(length=32), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("kind IN ('teleconsultation', 'expertise')", name=op.f("ck_reports_kind")),
        sa.CheckConstraint("status IN ('draft', 'final')", name=op.f("ck_reports_status")),
        sa.CheckConstraint(f"outcome IS NULL OR outcome IN ({OUTCOMES})", name=op.f("ck_reports_outcome")),
        sa.CheckConstraint(
            "(appointment_id IS NULL) <> (expertise_id IS NULL)", name=op.f("ck_reports_subject")
        ),
        sa.CheckConstraint(
            "status <> 'final' OR (outcome IS NOT NULL AND finalised_at IS NOT NULL)",
            name=op.f("ck_reports_final_complete"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_reports_version")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_reports_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["expertise_id"],
            ["expertise_requests.id"],
            name=op.f("fk_reports_expertise_id_expertise_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_reports_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ehpad_id"], ["establishments.id"], name=op.f("fk_reports_ehpad_id_establishments")
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_reports_author_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_reports_appointment_id")),
        sa.UniqueConstraint("expertise_id", name=op.f("uq_reports_expertise_id")),
    )
    op.create_index(op.f("ix_reports_resident_id"), "reports", ["resident_id"], unique=False)
    op.create_index("ix_reports_ehpad_id_finalised_at", "reports", ["ehpad_id", "finalised_at"], unique=False)
    op.create_table(
        "report_addenda",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_report_addenda_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_report_addenda_author_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_addenda")),
    )
    op.create_index(op.f("ix_report_addenda_report_id"), "report_addenda", ["report_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_report_addenda_report_id"), table_name="report_addenda")
    op.drop_table("report_addenda")
    op.drop_index("ix_reports_ehpad_id_finalised_at", table_name="reports")
    op.drop_index(op.f("ix_reports_resident_id"), table_name="reports")
    op.drop_table("reports")

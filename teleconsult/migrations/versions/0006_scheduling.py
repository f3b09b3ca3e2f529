"""Scheduling: availability windows and leave, appointments (sealed health fields) and their checklist.

On PostgreSQL, exclusion constraints (btree_gist) make overlapping active appointments of one expert, or
of one resident, impossible; on both backends partial unique indexes forbid two active appointments that
start at the same instant.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED_COLUMNS = ("reason", "details", "consent_person", "physician_note", "cancel_reason")
ACTIVE = "status IN ('booked', 'done', 'no_show')"


def upgrade() -> None:
    op.create_table(
        "availability_windows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("specialty", sa.String(length=32), nullable=False),
        sa.Column("weekdays", sa.String(length=13), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("end_time", sa.String(length=5), nullable=False),
        sa.Column("consultation_minutes", sa.Integer(), nullable=False),
        sa.Column("report_minutes", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_availability_windows_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"], ["users.id"], name=op.f("fk_availability_windows_expert_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_windows")),
    )
    op.create_index(
        op.f("ix_availability_windows_expert_id"), "availability_windows", ["expert_id"], unique=False
    )
    op.create_table(
        "availability_leaves",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_availability_leaves_leave_period")),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_availability_leaves_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"], ["users.id"], name=op.f("fk_availability_leaves_expert_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_leaves")),
    )
    op.create_index(
        "ix_availability_leaves_expert_id_starts_at",
        "availability_leaves",
        ["expert_id", "starts_at"],
        unique=False,
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("expert_id", sa.Uuid(), nullable=False),
        sa.Column("ehpad_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("specialty", sa.String(length=32), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("attendees", sa.String(length=100), nullable=False),
        sa.Column("record_call", sa.Boolean(), nullable=False),
        sa.Column("consent_given_by", sa.String(length=32), nullable=False),
        sa.Column("consent_given_on", sa.Date(), nullable=False),
        sa.Column("consent_method", sa.String(length=16), nullable=False),
        sa.Column("physician_agreement", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("rescheduled_from", sa.Uuid(), nullable=True),
        sa.Column("cancelled_side", sa.String(length=16), nullable=True),
        sa.Column("cancelled_by", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        *(sa.Column(name, sa.LargeBinary(), nullable=False) for name in SEALED_COLUMNS),
        sa.CheckConstraint(
            "status IN ('booked', 'cancelled', 'no_show', 'done')", name=op.f("ck_appointments_status")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_appointments_period")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_appointments_version")),
        sa.ForeignKeyConstraint(
            ["cancelled_by"], ["users.id"], name=op.f("fk_appointments_cancelled_by_users")
        ),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_appointments_created_by_users")),
        sa.ForeignKeyConstraint(
            ["ehpad_id"], ["establishments.id"], name=op.f("fk_appointments_ehpad_id_establishments")
        ),
        sa.ForeignKeyConstraint(["expert_id"], ["users.id"], name=op.f("fk_appointments_expert_id_users")),
        sa.ForeignKeyConstraint(
            ["rescheduled_from"],
            ["appointments.id"],
            name=op.f("fk_appointments_rescheduled_from_appointments"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_appointments_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    for column in ("expert_id", "ehpad_id", "resident_id"):
        op.create_index(
            f"ix_appointments_{column}_starts_at", "appointments", [column, "starts_at"], unique=False
        )
    for column, name in (("expert_id", "expert"), ("resident_id", "resident")):
        op.create_index(
            f"uq_appointments_{name}_start_active",
            "appointments",
            [column, "starts_at"],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )
    op.create_index(
        "uq_appointments_created_by_idempotency_key",
        "appointments",
        ["created_by", "idempotency_key"],
        unique=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        for column, name in (("expert_id", "expert"), ("resident_id", "resident")):
            op.execute(
                f"ALTER TABLE appointments ADD CONSTRAINT ex_appointments_{name}_overlap "
                f"EXCLUDE USING gist ({column} WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
                f"WHERE ({ACTIVE})"
            )
    op.create_table(
        "appointment_checklist",
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("item", sa.String(length=32), nullable=False),
        sa.Column("done_by", sa.Uuid(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_checklist_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["done_by"], ["users.id"], name=op.f("fk_appointment_checklist_done_by_users")
        ),
        sa.PrimaryKeyConstraint("appointment_id", "item", name=op.f("pk_appointment_checklist")),
    )


def downgrade() -> None:
    op.drop_table("appointment_checklist")
    op.drop_table("appointments")
    op.drop_index("ix_availability_leaves_expert_id_starts_at", table_name="availability_leaves")
    op.drop_table("availability_leaves")
    op.drop_index(op.f("ix_availability_windows_expert_id"), table_name="availability_windows")
    op.drop_table("availability_windows")

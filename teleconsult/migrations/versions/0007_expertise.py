"""Tele-expertise: requests to a specialty queue (sealed question, context, consent person, physician's
note and answer) and the requester's notifications.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED_COLUMNS = ("question", "context", "consent_person", "physician_note", "answer_text")


def upgrade() -> None:
    op.create_table(
        "expertise_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ehpad_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("specialty", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("wished_deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent_given_by", sa.String(length=32), nullable=False),
        sa.Column("consent_given_on", sa.Date(), nullable=False),
        sa.Column("consent_method", sa.String(length=16), nullable=False),
        sa.Column("physician_agreement", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requester_role", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.Uuid(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_outcome", sa.String(length=32), nullable=True),
        sa.Column("answered_by", sa.Uuid(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.Uuid(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.LargeBinary(), nullable=False) for name in SEALED_COLUMNS),
        sa.CheckConstraint(
            "status IN ('submitted', 'claimed', 'answered', 'withdrawn', 'converted')",
            name=op.f("ck_expertise_requests_status"),
        ),
        sa.CheckConstraint("level IN (1, 2)", name=op.f("ck_expertise_requests_level")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_expertise_requests_version")),
        sa.CheckConstraint(
            "status NOT IN ('claimed', 'answered', 'converted') "
            "OR (claimed_by IS NOT NULL AND accepted_deadline IS NOT NULL)",
            name=op.f("ck_expertise_requests_claim"),
        ),
        sa.CheckConstraint(
            "status <> 'answered' OR answer_outcome IS NOT NULL", name=op.f("ck_expertise_requests_answer")
        ),
        sa.CheckConstraint(
            "status <> 'converted' OR appointment_id IS NOT NULL",
            name=op.f("ck_expertise_requests_conversion"),
        ),
        sa.ForeignKeyConstraint(
            ["ehpad_id"], ["establishments.id"], name=op.f("fk_expertise_requests_ehpad_id_establishments")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_expertise_requests_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_expertise_requests_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["users.id"], name=op.f("fk_expertise_requests_claimed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["users.id"], name=op.f("fk_expertise_requests_answered_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by"], ["users.id"], name=op.f("fk_expertise_requests_withdrawn_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_expertise_requests_appointment_id_appointments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expertise_requests")),
    )
    op.create_index(
        op.f("ix_expertise_requests_resident_id"), "expertise_requests", ["resident_id"], unique=False
    )
    for columns in (("ehpad_id", "requested_at"), ("status", "specialty"), ("claimed_by", "status")):
        op.create_index(
            f"ix_expertise_requests_{'_'.join(columns)}", "expertise_requests", list(columns), unique=False
        )
    op.create_table(
        "expertise_notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('claimed', 'answered', 'converted')", name=op.f("ck_expertise_notifications_kind")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["expertise_requests.id"],
            name=op.f("fk_expertise_notifications_request_id_expertise_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_expertise_notifications_recipient_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expertise_notifications")),
    )
    op.create_index(
        op.f("ix_expertise_notifications_request_id"), "expertise_notifications", ["request_id"], unique=False
    )
    op.create_index(
        "ix_expertise_notifications_recipient_id_seen_at",
        "expertise_notifications",
        ["recipient_id", "seen_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("expertise_notifications")
    op.drop_table("expertise_requests")

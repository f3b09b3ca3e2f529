"""Documents: residents' photos and PDFs, each with its own wrapped data key, sealed title and file name,
and the id of its encrypted blob; optionally attached to a context (an appointment...).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resident_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("ehpad_id", sa.Uuid(), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("byte_length", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=False),
        sa.Column("context_type", sa.String(length=32), nullable=True),
        sa.Column("context_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("title", sa.LargeBinary(), nullable=False),
        sa.Column("file_name", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "content_type IN ('image/jpeg', 'image/png', 'application/pdf')",
            name=op.f("ck_resident_documents_content_type"),
        ),
        sa.CheckConstraint("byte_length >= 0", name=op.f("ck_resident_documents_byte_length")),
        sa.CheckConstraint(
            "(context_type IS NULL) = (context_id IS NULL)", name=op.f("ck_resident_documents_context")
        ),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_resident_documents_data_key_id_data_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ehpad_id"], ["establishments.id"], name=op.f("fk_resident_documents_ehpad_id_establishments")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_resident_documents_resident_id_residents")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_resident_documents_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_documents")),
        sa.UniqueConstraint("blob_id", name=op.f("uq_resident_documents_blob_id")),
        sa.UniqueConstraint("data_key_id", name=op.f("uq_resident_documents_data_key_id")),
    )
    op.create_index(op.f("ix_resident_documents_ehpad_id"), "resident_documents", ["ehpad_id"], unique=False)
    op.create_index(
        "ix_resident_documents_resident_id_uploaded_at",
        "resident_documents",
        ["resident_id", "uploaded_at"],
        unique=False,
    )
    op.create_index(
        "ix_resident_documents_context_type_context_id",
        "resident_documents",
        ["context_type", "context_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_resident_documents_context_type_context_id", table_name="resident_documents")
    op.drop_index("ix_resident_documents_resident_id_uploaded_at", table_name="resident_documents")
    op.drop_index(op.f("ix_resident_documents_ehpad_id"), table_name="resident_documents")
    op.drop_table("resident_documents")

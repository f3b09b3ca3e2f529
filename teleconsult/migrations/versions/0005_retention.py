"""Key rotation and retention: the re-wrap jobs' progress (``key_rotations``) and the residents' last
activity (``residents.last_activity_at``), from which the retention period of a medical record runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_rotations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_kek_id", sa.String(length=64), nullable=False),
        sa.Column("last_key_id", sa.Uuid(), nullable=True),
        sa.Column("rewrapped", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "rewrapped >= 0 AND skipped >= 0 AND batches >= 0", name=op.f("ck_key_rotations_counts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_rotations")),
    )
    op.create_index(op.f("ix_key_rotations_finished_at"), "key_rotations", ["finished_at"], unique=False)
    # Nullable because SQLite cannot add a NOT NULL column without a constant default; the store always
    # writes it, existing rows take their last update, and a NULL is never due (retention skips it).
    op.add_column("residents", sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE residents SET last_activity_at = updated_at")
    op.create_index(op.f("ix_residents_last_activity_at"), "residents", ["last_activity_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_residents_last_activity_at"), table_name="residents")
    op.drop_column("residents", "last_activity_at")
    op.drop_index(op.f("ix_key_rotations_finished_at"), table_name="key_rotations")
    op.drop_table("key_rotations")

"""Video rooms: the join tokens already used (their jti, so that each admits once), kept until they expire.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_join_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_used_join_tokens_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_used_join_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_used_join_tokens")),
    )
    op.create_index("ix_used_join_tokens_expires_at", "used_join_tokens", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_used_join_tokens_expires_at", table_name="used_join_tokens")
    op.drop_table("used_join_tokens")

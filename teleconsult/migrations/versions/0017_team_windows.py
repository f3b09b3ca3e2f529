"""Windows published for a whole hospital team: each expert's copy carries the publication's id
(team_window_id) and the team (department_id), so that all the copies can be removed at once.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("availability_windows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("team_window_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("department_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_availability_windows_team_window_id"), ["team_window_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_availability_windows_department_id_departments"),
            "departments",
            ["department_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("availability_windows", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_availability_windows_department_id_departments"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_availability_windows_team_window_id"))
        batch_op.drop_column("department_id")
        batch_op.drop_column("team_window_id")

"""Residents: the residents registry with sealed health fields, per-resident wrapped data keys, and the
blind indexes of INS and name tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED_COLUMNS = (
    "birth_name",
    "used_name",
    "first_names",
    "used_first_name",
    "sex",
    "birth_date",
    "birth_place_code",
    "ins_matricule",
    "ins_oid",
    "room",
    "treating_physician",
    "contact_person",
)


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    op.create_index(op.f("ix_data_keys_kek_id"), "data_keys", ["kek_id"], unique=False)
    op.create_table(
        "residents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ehpad_id", sa.Uuid(), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("identity_status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ins_index", sa.String(length=64), nullable=True),
        *(sa.Column(name, sa.LargeBinary(), nullable=False) for name in SEALED_COLUMNS),
        sa.CheckConstraint(
            "identity_status IN ('provisoire', 'recuperee', 'validee', 'qualifiee')",
            name=op.f("ck_residents_identity_status"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_residents_version")),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_residents_data_key_id_data_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ehpad_id"], ["establishments.id"], name=op.f("fk_residents_ehpad_id_establishments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint("data_key_id", name=op.f("uq_residents_data_key_id")),
    )
    op.create_index(op.f("ix_residents_ehpad_id"), "residents", ["ehpad_id"], unique=False)
    op.create_index("uq_residents_ehpad_id_ins_index", "residents", ["ehpad_id", "ins_index"], unique=True)
    op.create_table(
        "resident_name_tokens",
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_resident_name_tokens_resident_id_residents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resident_id", "token_hash", name=op.f("pk_resident_name_tokens")),
    )
    op.create_index(
        op.f("ix_resident_name_tokens_token_hash"), "resident_name_tokens", ["token_hash"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_resident_name_tokens_token_hash"), table_name="resident_name_tokens")
    op.drop_table("resident_name_tokens")
    op.drop_index("uq_residents_ehpad_id_ins_index", table_name="residents")
    op.drop_index(op.f("ix_residents_ehpad_id"), table_name="residents")
    op.drop_table("residents")
    op.drop_index(op.f("ix_data_keys_kek_id"), table_name="data_keys")
    op.drop_table("data_keys")

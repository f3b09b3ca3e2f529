"""Activity pre-aggregated (docs/adr/0018-activity-aggregation.md): activity_cells, one row per care home,
Paris month and specialty with the counts and sorted delays the coordinators' figures need, and
activity_changes, where triggers on appointments, reports, call_events and expertise_requests mark the
(care home, UTC hour) of every write that changes a figure; the service recomputes marked cells before
reading them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "appointments",
    "done",
    "cancelled",
    "no_show",
    "calls_with_incident",
    "avoided_day",
    "avoided_evening",
    "expertise",
    "expertise_answered",
    "expertise_converted",
    "outcome_advice",
    "outcome_treatment_change",
    "outcome_direct_admission",
    "outcome_second_consultation",
    "outcome_emergency_referral",
    "outcome_other",
)

# (table, time column or None when marked through its appointment, the columns whose update can change a
#  figure, condition on the row or None): reports and call events count in their appointment's hour; only
# technical incidents count among call events.
_SOURCES = (
    ("appointments", "starts_at", ("ehpad_id", "specialty", "status", "created_at", "starts_at"), None),
    ("expertise_requests", "requested_at", ("ehpad_id", "specialty", "status", "requested_at"), None),
    ("reports", None, ("appointment_id", "status", "outcome"), None),
    ("call_events", None, ("appointment_id", "incident"), "{row}.incident"),
)
_HOUR = {
    "sqlite": "strftime('%Y-%m-%d %H', {0})",
    "postgresql": "to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')",
}


def _mark(dialect: str, source: str, time_column: str | None, row: str) -> str:
    """The statement that marks the (care home, UTC hour) of ``row`` (NEW or OLD) of ``source``. Every name
    in it is one of this module's constants."""
    if time_column is None:
        hour = _HOUR[dialect].format("starts_at")
        return (
            f"INSERT INTO activity_changes (ehpad_id, hour) SELECT ehpad_id, {hour} "  # noqa: S608
            f"FROM appointments WHERE id = {row}.appointment_id;"
        )
    hour = _HOUR[dialect].format(f"{row}.{time_column}")
    return f"INSERT INTO activity_changes (ehpad_id, hour) VALUES ({row}.ehpad_id, {hour});"  # noqa: S608


def _sqlite_triggers() -> list[str]:
    statements = []
    for table, time_column, columns, condition in _SOURCES:
        for event, rows in (("INSERT", ("NEW",)), ("DELETE", ("OLD",)), ("UPDATE", ("OLD", "NEW"))):
            what = f"UPDATE OF {', '.join(columns)}" if event == "UPDATE" else event
            when = " WHEN " + " OR ".join(condition.format(row=row) for row in rows) if condition else ""
            body = " ".join(_mark("sqlite", table, time_column, row) for row in rows)
            statements.append(
                f"CREATE TRIGGER activity_{table}_{event.lower()} AFTER {what} ON {table}{when} "
                f"BEGIN {body} END"
            )
    return statements


def _pg_triggers() -> list[str]:
    statements = []
    for table, time_column, columns, condition in _SOURCES:
        old, new = (_mark("postgresql", table, time_column, row) for row in ("OLD", "NEW"))
        if condition:
            old = f"IF {condition.format(row='OLD')} THEN {old} END IF;"
            new = f"IF {condition.format(row='NEW')} THEN {new} END IF;"
        statements.append(
            f"CREATE FUNCTION activity_mark_{table}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n"
            f"  IF TG_OP <> 'INSERT' THEN {old} END IF;\n"
            f"  IF TG_OP <> 'DELETE' THEN {new} END IF;\n"
            f"  RETURN NULL;\n"
            f"END $$"
        )
        statements.append(
            f"CREATE TRIGGER activity_{table} AFTER INSERT OR DELETE OR UPDATE OF {', '.join(columns)} "
            f"ON {table} FOR EACH ROW EXECUTE FUNCTION activity_mark_{table}()"
        )
    return statements


def upgrade() -> None:
    op.create_table(
        "activity_cells",
        sa.Column("ehpad_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("specialty", sa.String(length=32), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("delays", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ehpad_id"],
            ["establishments.id"],
            name=op.f("fk_activity_cells_ehpad_id_establishments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ehpad_id", "month", "specialty", name=op.f("pk_activity_cells")),
    )
    op.create_table(
        "activity_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ehpad_id", sa.Uuid(), nullable=False),
        sa.Column("hour", sa.String(length=13), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_changes")),
    )
    op.create_index(
        "ix_activity_changes_ehpad_id_hour", "activity_changes", ["ehpad_id", "hour"], unique=False
    )
    dialect = op.get_bind().dialect.name
    for statement in _pg_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    # Everything already written counts as changed: the first reader of a period computes its cells.
    for table, time_column, _, _ in _SOURCES[:2]:
        hour = _HOUR[dialect].format(time_column)
        marks = f"SELECT DISTINCT ehpad_id, {hour} FROM {table}"  # noqa: S608
        op.execute(f"INSERT INTO activity_changes (ehpad_id, hour) {marks}")


def downgrade() -> None:
    is_postgresql = op.get_bind().dialect.name == "postgresql"
    for table, _, _, _ in _SOURCES:
        if is_postgresql:
            op.execute(f"DROP TRIGGER activity_{table} ON {table}")
            op.execute(f"DROP FUNCTION activity_mark_{table}()")
        else:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER activity_{table}_{event}")
    op.drop_index("ix_activity_changes_ehpad_id_hour", table_name="activity_changes")
    op.drop_table("activity_changes")
    op.drop_table("activity_cells")

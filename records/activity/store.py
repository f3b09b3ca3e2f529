"""The activity figures in SQL, kept pre-aggregated per (care home, Paris month, specialty).

Pages read ``activity_cells``: one row per care home, month and specialty with every additive count and
the sorted delays of the consultations held there (docs/adr/0018-activity-aggregation.md). Triggers
(migration 0016) append to ``activity_changes`` the (care home, UTC hour) of every write that changes a
figure: an appointment's status, times, specialty or care home; a report's outcome; a technical incident;
a tele-expertise request. Before reading, the service recomputes the cells of the hours so marked (under a
lock, so two refreshes cannot overwrite each other) with the statements below, and forgets those marks.

Nothing here reads a sealed column or decrypts anything: the rows come from the query functions each package
exports for this purpose (scheduling's ``activity_appointments``, tele-expertise's ``activity_requests``,
records.reports' ``final_outcomes``, signalling's ``incidents_by_appointment``), never from their tables.

- Months are Paris months: rows are put in their month by comparing their UTC instant with the UTC instants
  the months start at (a CASE over at most 36 bounds), so both backends agree without time zone support
  in SQL. The same cutting (:func:`records.activity.model.segments`) gives each stretch of time its UTC
  offset and whether it is a public holiday, from which SQL tells a daytime hour from an evening/weekend one.
  A Paris month starts on a whole UTC hour: a UTC hour belongs to exactly one Paris month.
- Every statement filters on ``ehpad_id IN (...)`` and the period's bounds on ``starts_at`` (or
  ``requested_at``): the (ehpad_id, starts_at) indexes make it read the selected months only, however many
  years the database holds.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Uuid,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from records.activity.model import ADDITIVE, TRANSFER_AVOIDED, Cell, Month, Period, Segment, additive
from records.reports.model import Outcome
from records.reports.store import final_outcomes
from scheduling.expertise.store import activity_requests
from scheduling.store import activity_appointments
from signalling.store import incidents_by_appointment
from teleconsult.db import metadata

#: One stored cell: care home, month (YYYY-MM), specialty, additive counts (model.ADDITIVE), packed delays.
CellRow = tuple[UUID, str, str, Sequence[int], bytes]

activity_cells = Table(
    "activity_cells",
    metadata,
    Column("ehpad_id", Uuid, ForeignKey("establishments.id", ondelete="CASCADE"), primary_key=True),
    Column("month", String(7), primary_key=True),  # Paris month, YYYY-MM
    Column("specialty", String(32), primary_key=True),
    *(Column(name, Integer, nullable=False) for name in ADDITIVE),
    # The delays (days, booking to consultation) of the consultations held, ascending: float64
    # little-endian. Not additive: the totals' median and 90th percentile are taken from them.
    Column("delays", LargeBinary, nullable=False),
)

activity_changes = Table(
    "activity_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ehpad_id", Uuid, nullable=False),
    Column("hour", String(13), nullable=False),  # UTC, YYYY-MM-DD HH
    Index("ix_activity_changes_ehpad_id_hour", "ehpad_id", "hour"),
)

HOUR_FORMAT = "%Y-%m-%d %H"
#: Rows per DELETE ... IN (...) (SQLite's limit on bound parameters).
_CHUNK = 5000


def hour_of(instant: datetime) -> str:
    """The ``activity_changes.hour`` of an instant (what the triggers write)."""
    return instant.astimezone(UTC).strftime(HOUR_FORMAT)


def month_of_hour(hour: str) -> Month:
    """The Paris month of a UTC hour as the triggers write it."""
    return Month.of(datetime.strptime(hour, HOUR_FORMAT).replace(tzinfo=UTC))


def pack_delays(delays: Sequence[float]) -> bytes:
    packed = array("d", delays)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def unpack_delays(blob: bytes) -> array[float]:
    unpacked = array("d")
    unpacked.frombytes(blob)
    if sys.byteorder != "little":
        unpacked.byteswap()
    return unpacked


_DONE, _CANCELLED, _NO_SHOW = "done", "cancelled", "no_show"
_ANSWERED, _CONVERTED = ("answered", "converted"), "converted"


def _month_index(column: Any, segments: Sequence[Segment]) -> ColumnElement[Any]:
    """The month (0-based index in the period) of a UTC instant inside the period."""
    starts: dict[int, Any] = {}
    for segment in segments:
        starts.setdefault(segment.month_index, segment.start)
    whens = [(column < start, index - 1) for index, start in sorted(starts.items()) if index > 0]
    last = max(starts) if starts else 0
    return case(*whens, else_=last) if whens else literal(last)


def _utc_hour(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return cast(func.strftime("%H", column), Integer)
    return cast(func.extract("hour", func.timezone("UTC", column)), Integer)


def _utc_weekday(column: Any, dialect: str) -> ColumnElement[Any]:
    """0 = Sunday on both backends."""
    if dialect == "sqlite":
        return cast(func.strftime("%w", column), Integer)
    return cast(func.extract("dow", func.timezone("UTC", column)), Integer)


def _is_evening(column: Any, segments: Sequence[Segment], dialect: str) -> ColumnElement[bool]:
    """Whether the instant pays the evening/weekend rate (see model.is_evening_rate), in SQL."""

    def within(chosen: Sequence[Segment]) -> ColumnElement[bool]:
        if not chosen:
            return literal(False)
        return or_(*(and_(column >= s.start, column < s.end) for s in chosen))

    holiday = within([s for s in segments if s.is_holiday])
    offset = case((within([s for s in segments if s.offset_hours == 2]), 2), else_=1)
    local = _utc_hour(column, dialect) + offset
    hour = local % 24
    weekday = (_utc_weekday(column, dialect) + local // 24) % 7
    return or_(holiday, weekday.in_([0, 6]), hour < 8, hour >= 20)


def _delay_days(start: Any, created: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.julianday(start) - func.julianday(created)
    return func.extract("epoch", start - created) / 86400.0


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class ActivityStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    def _appointments(self, period: Period, ehpad_ids: Sequence[UUID]) -> Any:
        base = activity_appointments()
        c = base.selected_columns
        return base.where(
            c.ehpad_id.in_(ehpad_ids), c.starts_at >= period.start(), c.starts_at < period.end()
        ).subquery("a")

    async def teleconsultations(
        self, period: Period, segments: Sequence[Segment], ehpad_ids: Sequence[UUID]
    ) -> dict[tuple[int, UUID, str], Cell]:
        """Counts per (month index, care home, specialty): appointments by status, calls with a technical
        incident, finalised reports by outcome, transfers avoided by rate."""
        if not ehpad_ids:
            return {}
        a = self._appointments(period, ehpad_ids)
        ids = select(a.c.id).scalar_subquery()
        outcomes_query = final_outcomes()
        o = outcomes_query.where(outcomes_query.selected_columns.appointment_id.in_(ids)).subquery("o")
        incidents_query = incidents_by_appointment()
        i = incidents_query.where(incidents_query.selected_columns.appointment_id.in_(ids)).subquery("i")
        month = _month_index(a.c.starts_at, segments).label("month")
        avoided = o.c.outcome.in_([outcome.value for outcome in TRANSFER_AVOIDED])
        evening = _is_evening(a.c.starts_at, segments, self._dialect)
        query = (
            select(
                month,
                a.c.ehpad_id,
                a.c.specialty,
                func.count().label("appointments"),
                _count_if(a.c.status == _DONE).label("done"),
                _count_if(a.c.status == _CANCELLED).label("cancelled"),
                _count_if(a.c.status == _NO_SHOW).label("no_show"),
                _count_if(i.c.appointment_id.is_not(None)).label("calls_with_incident"),
                *(_count_if(o.c.outcome == outcome.value).label(f"o_{outcome.value}") for outcome in Outcome),
                _count_if(and_(avoided, ~evening)).label("avoided_day"),
                _count_if(and_(avoided, evening)).label("avoided_evening"),
            )
            .select_from(
                a.outerjoin(o, o.c.appointment_id == a.c.id).outerjoin(i, i.c.appointment_id == a.c.id)
            )
            .group_by(month, a.c.ehpad_id, a.c.specialty)
        )
        found: dict[tuple[int, UUID, str], Cell] = {}
        for row in (await self._session.execute(query)).all():
            found[(int(row.month), row.ehpad_id, row.specialty)] = Cell(
                appointments=row.appointments,
                done=int(row.done),
                cancelled=int(row.cancelled),
                no_show=int(row.no_show),
                calls_with_incident=int(row.calls_with_incident),
                outcomes={
                    outcome: int(getattr(row, f"o_{outcome.value}"))
                    for outcome in Outcome
                    if getattr(row, f"o_{outcome.value}")
                },
                avoided_day=int(row.avoided_day),
                avoided_evening=int(row.avoided_evening),
            )
        return found

    async def expertise(
        self, period: Period, segments: Sequence[Segment], ehpad_ids: Sequence[UUID]
    ) -> dict[tuple[int, UUID, str], tuple[int, int, int]]:
        """(requests, answered or converted, converted into a teleconsultation) per (month index, care home,
        specialty), by the month the request was made."""
        if not ehpad_ids:
            return {}
        base = activity_requests()
        c = base.selected_columns
        r = base.where(
            c.ehpad_id.in_(ehpad_ids), c.requested_at >= period.start(), c.requested_at < period.end()
        ).subquery("r")
        month = _month_index(r.c.requested_at, segments).label("month")
        query = select(
            month,
            r.c.ehpad_id,
            r.c.specialty,
            func.count().label("requests"),
            _count_if(r.c.status.in_(_ANSWERED)).label("answered"),
            _count_if(r.c.status == _CONVERTED).label("converted"),
        ).group_by(month, r.c.ehpad_id, r.c.specialty)
        return {
            (int(row.month), row.ehpad_id, row.specialty): (
                row.requests,
                int(row.answered),
                int(row.converted),
            )
            for row in (await self._session.execute(query)).all()
        }

    async def held_delays(
        self, period: Period, segments: Sequence[Segment], ehpad_ids: Sequence[UUID]
    ) -> dict[tuple[int, UUID, str], list[float]]:
        """The delays (days from booking to consultation) of the consultations held, ascending, per (month
        index, care home, specialty): one sorted fetch."""
        if not ehpad_ids:
            return {}
        a = self._appointments(period, ehpad_ids)
        month = _month_index(a.c.starts_at, segments).label("month")
        delay = _delay_days(a.c.starts_at, a.c.created_at, self._dialect).label("delay")
        query = select(month, a.c.ehpad_id, a.c.specialty, delay).where(a.c.status == _DONE).order_by(delay)
        found: dict[tuple[int, UUID, str], list[float]] = {}
        for row in (await self._session.execute(query)).all():
            found.setdefault((int(row.month), row.ehpad_id, row.specialty), []).append(float(row.delay))
        return found

    # ------------------------------------------------------------------------- the pre-aggregated cells

    async def changes(self, ehpad_ids: Sequence[UUID], period: Period) -> list[tuple[int, UUID, str]]:
        """The marks (id, care home, UTC hour) left by the triggers for these care homes in the period."""
        if not ehpad_ids:
            return []
        c = activity_changes.c
        query = self._marked(ehpad_ids, period).add_columns(c.ehpad_id, c.hour)
        return [(row.id, row.ehpad_id, row.hour) for row in (await self._session.execute(query)).all()]

    def _marked(self, ehpad_ids: Sequence[UUID], period: Period) -> Any:
        """The ids of the marks of these care homes in the period (the (ehpad_id, hour) index)."""
        c = activity_changes.c
        return select(c.id).where(
            c.ehpad_id.in_(ehpad_ids), c.hour >= hour_of(period.start()), c.hour < hour_of(period.end())
        )

    async def has_changes(self, ehpad_ids: Sequence[UUID], period: Period) -> bool:
        """Whether a write has marked a cell of these care homes in the period since it was computed."""
        if not ehpad_ids:
            return False
        return (await self._session.execute(self._marked(ehpad_ids, period).limit(1))).first() is not None

    async def lock_cells(self) -> None:
        """One refresh at a time: taken before reading the marks (SQLite's write transaction, which starts
        with BEGIN IMMEDIATE, already is one at a time)."""
        if self._dialect == "postgresql":
            await self._session.execute(text("LOCK TABLE activity_cells IN SHARE ROW EXCLUSIVE MODE"))

    async def forget_changes(self, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            await self._session.execute(delete(activity_changes).where(activity_changes.c.id.in_(chunk)))

    async def replace_cells(self, stale: Iterable[tuple[UUID, str]], rows: Sequence[dict[str, Any]]) -> None:
        """Delete the cells of the (care home, month) pairs ``stale`` and insert ``rows`` (theirs)."""
        pairs = list(stale)
        c = activity_cells.c
        for start in range(0, len(pairs), _CHUNK // 2):
            chunk = pairs[start : start + _CHUNK // 2]
            await self._session.execute(delete(activity_cells).where(tuple_(c.ehpad_id, c.month).in_(chunk)))
        if rows:
            await self._session.execute(insert(activity_cells), list(rows))

    async def cells(self, ehpad_ids: Sequence[UUID], period: Period) -> tuple[list[CellRow], bool]:
        """The stored cells of these care homes in the period, by month, care home and specialty, and
        whether a write has marked one of them since it was computed (then they must be refreshed first):
        one statement."""
        if not ehpad_ids:
            return [], False
        c = activity_cells.c
        query = (
            select(
                c.ehpad_id,
                c.month,
                c.specialty,
                *(c[name] for name in ADDITIVE),
                c.delays,
                self._marked(ehpad_ids, period).exists().label("is_stale"),
            )
            .where(c.ehpad_id.in_(ehpad_ids), c.month >= str(period.first), c.month <= str(period.last))
            .order_by(c.month, c.ehpad_id, c.specialty)
        )
        last = 3 + len(ADDITIVE)
        rows = (await self._session.execute(query)).all()
        if not rows:
            return [], await self.has_changes(ehpad_ids, period)
        return [(row[0], row[1], row[2], row[3:last], row[last]) for row in rows], bool(rows[0][-1])


def cell_row(
    ehpad_id: UUID, month: Month, specialty: str, cell: Cell, delays: Sequence[float]
) -> dict[str, Any]:
    """The activity_cells row of one detail cell (``delays`` ascending)."""
    row: dict[str, Any] = dict(zip(ADDITIVE, additive(cell), strict=True))
    row.update(ehpad_id=ehpad_id, month=str(month), specialty=specialty, delays=pack_delays(delays))
    return row

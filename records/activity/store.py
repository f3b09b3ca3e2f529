"""The activity figures in SQL: three statements per page, each a GROUP BY over the selected months only.

Nothing here reads a sealed column or decrypts anything: the rows come from the query functions each package
exports for this purpose (scheduling's ``activity_appointments``, tele-expertise's ``activity_requests``,
records.reports' ``final_outcomes``, signalling's ``incidents_by_appointment``), never from their tables.

- Months are Paris months: rows are put in their month by comparing their UTC instant with the UTC instants
  the months start at (a CASE over at most 36 bounds), so both backends agree without time zone support
  in SQL. The same cutting (:func:`records.activity.model.segments`) gives each stretch of time its UTC
  offset and whether it is a public holiday, from which SQL tells a daytime hour from an evening/weekend one.
- Every statement filters on ``ehpad_id IN (...)`` and the period's bounds on ``starts_at`` (or
  ``requested_at``): the (ehpad_id, starts_at) indexes make it read the selected months only, however many
  years the database holds.
- Delays: nearest-rank median and 90th percentile with window functions (ROW_NUMBER and COUNT over the
  group), in one statement for the detail cells and every total: SQLite has no percentile_cont.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from records.activity.model import TRANSFER_AVOIDED, Cell, Key, Period, Segment
from records.reports.model import Outcome
from records.reports.store import final_outcomes
from scheduling.expertise.store import activity_requests
from scheduling.store import activity_appointments
from signalling.store import incidents_by_appointment

_DONE, _CANCELLED, _NO_SHOW = "done", "cancelled", "no_show"
_ANSWERED, _CONVERTED = ("answered", "converted"), "converted"
#: Levels of the delays: which of (month, ehpad, specialty) each groups by.
_LEVELS: tuple[tuple[bool, bool, bool], ...] = (
    (True, True, True),
    (True, False, False),
    (False, True, False),
    (False, False, True),
    (False, False, False),
)


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

    async def delays(
        self, period: Period, segments: Sequence[Segment], ehpad_ids: Sequence[UUID]
    ) -> dict[tuple[int | None, UUID | None, str | None], tuple[float, float]]:
        """(median, 90th percentile) of the days from booking to consultation of the consultations held, for
        every detail cell and every total (by month, by care home, by specialty, overall); nearest rank."""
        if not ehpad_ids:
            return {}
        a = self._appointments(period, ehpad_ids)
        month = _month_index(a.c.starts_at, segments)
        delay = _delay_days(a.c.starts_at, a.c.created_at, self._dialect)
        columns: list[Any] = [month.label("month"), a.c.ehpad_id, a.c.specialty, delay.label("delay")]
        for index, (by_month, by_ehpad, by_specialty) in enumerate(_LEVELS):
            partition = [
                part
                for part, chosen in (
                    (month, by_month),
                    (a.c.ehpad_id, by_ehpad),
                    (a.c.specialty, by_specialty),
                )
                if chosen
            ]
            over: dict[str, Any] = {"partition_by": partition} if partition else {}
            columns.append(func.row_number().over(order_by=delay, **over).label(f"rn{index}"))
            columns.append(func.count().over(**over).label(f"n{index}"))
        ranked = select(*columns).where(a.c.status == _DONE).cte("ranked")
        parts = []
        for index, (by_month, by_ehpad, by_specialty) in enumerate(_LEVELS):
            rn, n = ranked.c[f"rn{index}"], ranked.c[f"n{index}"]
            keys = [
                ranked.c.month if by_month else null(),
                ranked.c.ehpad_id if by_ehpad else null(),
                ranked.c.specialty if by_specialty else null(),
            ]
            grouped = [
                column
                for column, chosen in zip(keys, (by_month, by_ehpad, by_specialty), strict=True)
                if chosen
            ]
            median = func.max(case((rn == (n + 1) // 2, ranked.c.delay)))
            p90 = func.max(case((rn == (n * 9 + 9) // 10, ranked.c.delay)))
            statement = select(
                literal(index).label("level"),
                keys[0].label("month"),
                keys[1].label("ehpad_id"),
                keys[2].label("specialty"),
                median.label("median"),
                p90.label("p90"),
            )
            parts.append(statement.group_by(*grouped) if grouped else statement)
        rows = (await self._session.execute(union_all(*parts))).all()
        found: dict[tuple[int | None, UUID | None, str | None], tuple[float, float]] = {}
        for row in rows:
            if row.median is None:
                continue
            ehpad = (
                row.ehpad_id
                if row.ehpad_id is None or isinstance(row.ehpad_id, UUID)
                else UUID(str(row.ehpad_id))
            )
            month_index = None if row.month is None else int(row.month)
            found[(month_index, ehpad, row.specialty)] = (float(row.median), float(row.p90))
        return found


def detail_key(months: Sequence[Any], coordinates: tuple[int | None, UUID | None, str | None]) -> Key:
    month, ehpad, specialty = coordinates
    return Key(None if month is None else months[month], ehpad, specialty)

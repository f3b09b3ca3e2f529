"""Persistence of scheduling: availability windows, leave, appointments and their preparation checklist.

Double booking is made impossible by the database, not by the code that checks first:
- on PostgreSQL, exclusion constraints over ``tstzrange(starts_at, ends_at)`` per expert and per resident
  for appointments that are not cancelled (migration 0006, with btree_gist);
- on SQLite, partial unique indexes on (expert, start) and (resident, start), plus an overlap re-check in the
  same write transaction, which SQLite serialises (BEGIN IMMEDIATE, see teleconsult/db.py).
The health fields of an appointment (reason, details, consent person, physician's note, cancellation
reason) are sealed under the resident's dossier key (records/sealing.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    Uuid,
    and_,
    cast,
    delete,
    insert,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from records.sealing import DossierKey
from scheduling.model import (
    ACTIVE_STATUSES,
    MAX_APPOINTMENT_LENGTH,
    Appointment,
    AppointmentStatus,
    Attendee,
    Cancellation,
    CancelledBy,
    ChecklistItem,
    Consent,
    ConsentGiver,
    ConsentMethod,
    Leave,
    PhysicianAgreement,
    Qualification,
    Reason,
    Urgency,
    Window,
)
from teleconsult.db import UTCDateTime, metadata
from teleconsult.identity.model import Specialty
from teleconsult.identity.store import bookable_experts

TABLE = "appointments"
SEALED_COLUMNS = ("reason", "details", "consent_person", "physician_note", "cancel_reason")

_ACTIVE = ", ".join(f"'{status.value}'" for status in sorted(ACTIVE_STATUSES))
_STATUSES = ", ".join(f"'{status.value}'" for status in AppointmentStatus)
#: The rows that hold time (the partial indexes and exclusion constraints use the same predicate).
ACTIVE_PREDICATE = f"status IN ({_ACTIVE})"

availability_windows = Table(
    "availability_windows",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("expert_id", Uuid, ForeignKey("users.id"), nullable=False, index=True),
    Column("specialty", String(32), nullable=False),
    Column("weekdays", String(13), nullable=False),  # "0,1,2,3,4": Monday to Friday
    Column("start_time", String(5), nullable=False),  # "14:00", Paris wall-clock time
    Column("end_time", String(5), nullable=False),
    Column("consultation_minutes", Integer, nullable=False),
    Column("report_minutes", Integer, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date, nullable=True),
    Column("created_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
    # A window published for a whole team: one row per expert of it, the same team_window_id.
    Column("team_window_id", Uuid, nullable=True, index=True),
    Column("department_id", Uuid, ForeignKey("departments.id"), nullable=True),
)

availability_leaves = Table(
    "availability_leaves",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("expert_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("label", String(100), nullable=False),
    Column("created_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("ends_at > starts_at", name="leave_period"),
    Index("ix_availability_leaves_expert_id_starts_at", "expert_id", "starts_at"),
)

appointments = Table(
    TABLE,
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("expert_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("ehpad_id", Uuid, ForeignKey("establishments.id"), nullable=False),
    # Shredding a resident's dossier deletes its appointments (their fields are sealed under its key).
    Column("resident_id", Uuid, ForeignKey("residents.id", ondelete="CASCADE"), nullable=False),
    Column("specialty", String(32), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("attendees", String(100), nullable=False),
    Column("record_call", Boolean, nullable=False),
    Column("consent_given_by", String(32), nullable=False),
    Column("consent_given_on", Date, nullable=False),
    Column("consent_method", String(16), nullable=False),
    Column("physician_agreement", Boolean, nullable=False),
    Column("created_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("idempotency_key", String(64), nullable=True),
    Column("rescheduled_from", Uuid, ForeignKey("appointments.id"), nullable=True),
    Column("cancelled_side", String(16), nullable=True),
    Column("cancelled_by", Uuid, ForeignKey("users.id"), nullable=True),
    Column("cancelled_at", UTCDateTime, nullable=True),
    *(Column(name, LargeBinary, nullable=False) for name in SEALED_COLUMNS),
    CheckConstraint(f"status IN ({_STATUSES})", name="status"),
    CheckConstraint("ends_at > starts_at", name="period"),
    CheckConstraint("version >= 1", name="version"),
    Index("ix_appointments_expert_id_starts_at", "expert_id", "starts_at"),
    Index("ix_appointments_ehpad_id_starts_at", "ehpad_id", "starts_at"),
    Index("ix_appointments_resident_id_starts_at", "resident_id", "starts_at"),
    # The last line of defence on SQLite (and a second one on PostgreSQL): no two active appointments of
    # one expert, or of one resident, start at the same instant.
    Index(
        "uq_appointments_expert_start_active",
        "expert_id",
        "starts_at",
        unique=True,
        sqlite_where=text(ACTIVE_PREDICATE),
        postgresql_where=text(ACTIVE_PREDICATE),
    ),
    Index(
        "uq_appointments_resident_start_active",
        "resident_id",
        "starts_at",
        unique=True,
        sqlite_where=text(ACTIVE_PREDICATE),
        postgresql_where=text(ACTIVE_PREDICATE),
    ),
    # A tablet's retry of the same booking finds the first one.
    Index("uq_appointments_created_by_idempotency_key", "created_by", "idempotency_key", unique=True),
)

appointment_checklist = Table(
    "appointment_checklist",
    metadata,
    Column("appointment_id", Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=False),
    Column("item", String(32), nullable=False),
    Column("done_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("done_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("appointment_id", "item"),
)


#: What a Window is made of (not who published it, nor when): a slot search reads one row per expert.
_WINDOW_COLUMNS = tuple(
    availability_windows.c[name]
    for name in (
        "id",
        "expert_id",
        "specialty",
        "weekdays",
        "start_time",
        "end_time",
        "consultation_minutes",
        "report_minutes",
        "valid_from",
        "valid_until",
        "team_window_id",
        "department_id",
    )
)


def _time(value: str) -> time:
    return time.fromisoformat(value)


def _window(row: Any) -> Window:
    mapping = row._mapping
    return _window_of(tuple(mapping[name] for name in _WINDOW_NAMES))


_WINDOW_NAMES = tuple(column.name for column in _WINDOW_COLUMNS)


@lru_cache(maxsize=8192)
def _window_of(values: tuple[Any, ...]) -> Window:
    """A window from its columns' values, kept: a slot search reads the same windows of every expert of
    the territory again and again, and a Window is immutable (checked once, when first built)."""
    (
        window_id,
        expert_id,
        specialty,
        weekdays,
        start_time,
        end_time,
        consultation_minutes,
        report_minutes,
        valid_from,
        valid_until,
        team_window_id,
        team_id,
    ) = values
    return Window(
        id=window_id,
        expert_id=expert_id,
        specialty=Specialty(specialty),
        weekdays=frozenset(int(day) for day in weekdays.split(",")),
        start=_time(start_time),
        end=_time(end_time),
        valid_from=valid_from,
        valid_until=valid_until,
        consultation_minutes=consultation_minutes,
        report_minutes=report_minutes,
        team_window_id=team_window_id,
        team_id=team_id,
    )


def activity_appointments() -> Select[tuple[Any, ...]]:
    """(id, ehpad_id, specialty, status, created_at, starts_at) of every appointment, for the coordinators'
    activity figures (records/activity): plaintext columns only, nothing sealed."""
    return select(
        appointments.c.id,
        appointments.c.ehpad_id,
        appointments.c.specialty,
        appointments.c.status,
        appointments.c.created_at,
        appointments.c.starts_at,
    )


@dataclass(frozen=True, slots=True)
class Bookable:
    """The experts a care home may book: active experts of the hospital teams it has an active convention
    with (identity's ``bookable_experts``), practising ``specialty`` when one is given,
    only ``expert_id`` when one is given. Queries take it as a subquery: a slot search reads the windows and
    bookings of the experts of the care home's conventions without loading the experts themselves, nor
    sending their ids back and forth."""

    ehpad_id: UUID
    specialty: Specialty | None = None
    expert_id: UUID | None = None


def _bookable_ids(experts: Bookable) -> Select[tuple[UUID]]:
    return bookable_experts(experts.ehpad_id, experts.specialty, experts.expert_id)


@dataclass(slots=True)
class BookingContext:
    is_bookable: bool
    windows: list[Window]
    conflicts: list[tuple[str, datetime, datetime]]  # (leave | expert | resident, starts_at, ends_at)


@dataclass(frozen=True, slots=True)
class SealedAppointment:
    """An appointment's row as read, health fields still sealed, and its checklist."""

    row: Any
    checklist: dict[ChecklistItem, datetime]

    @property
    def resident_id(self) -> UUID:
        return self.row.resident_id  # type: ignore[no-any-return]

    @property
    def expert_id(self) -> UUID:
        return self.row.expert_id  # type: ignore[no-any-return]

    @property
    def ehpad_id(self) -> UUID:
        return self.row.ehpad_id  # type: ignore[no-any-return]


def _active() -> Any:
    return appointments.c.status.in_([status.value for status in ACTIVE_STATUSES])


def _overlapping(start: datetime, end: datetime) -> Any:
    """Appointments overlapping [start, end). The lower bound on ``starts_at`` adds nothing to the meaning
    (no appointment lasts longer than MAX_APPOINTMENT_LENGTH, see ``_values``) but turns the search into a
    short range of the (who, starts_at) indexes instead of a scan of everything before ``end``."""
    return and_(
        appointments.c.starts_at < end,
        appointments.c.starts_at > start - MAX_APPOINTMENT_LENGTH,
        appointments.c.ends_at > start,
    )


class SchedulingStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # ------------------------------------------------------------------------------------ availability

    async def add_windows(self, windows: Sequence[Window], created_by: UUID, now: datetime) -> None:
        """Several at once (a team's window: one copy per expert)."""
        if not windows:
            return
        await self._session.execute(
            insert(availability_windows),
            [
                dict(
                    id=window.id,
                    expert_id=window.expert_id,
                    specialty=window.specialty.value,
                    weekdays=",".join(str(day) for day in sorted(window.weekdays)),
                    start_time=window.start.strftime("%H:%M"),
                    end_time=window.end.strftime("%H:%M"),
                    consultation_minutes=window.consultation_minutes,
                    report_minutes=window.report_minutes,
                    valid_from=window.valid_from,
                    valid_until=window.valid_until,
                    team_window_id=window.team_window_id,
                    department_id=window.team_id,
                    created_by=created_by,
                    created_at=now,
                )
                for window in windows
            ],
        )

    async def remove_window(self, window_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(availability_windows).where(availability_windows.c.id == window_id).values(removed_at=now)
        )

    async def team_windows(self, team_id: UUID, today: date) -> list[Window]:
        """Every expert's copy of the team's windows still in force (``today`` or later), oldest first
        (grouped by their ``team_window_id``, they say which expert has which)."""
        rows = (
            await self._session.execute(
                select(*_WINDOW_COLUMNS)
                .where(
                    availability_windows.c.department_id == team_id,
                    availability_windows.c.removed_at.is_(None),
                    (availability_windows.c.valid_until.is_(None))
                    | (availability_windows.c.valid_until >= today),
                )
                .order_by(availability_windows.c.created_at, availability_windows.c.id)
            )
        ).all()
        return [_window(row) for row in rows]

    async def team_window_copies(self, team_window_id: UUID) -> list[UUID]:
        """The ids of a team's window's copies still in place."""
        rows = await self._session.execute(
            select(availability_windows.c.id).where(
                availability_windows.c.team_window_id == team_window_id,
                availability_windows.c.removed_at.is_(None),
            )
        )
        return [row.id for row in rows]

    async def remove_team_window(self, team_window_id: UUID, now: datetime) -> None:
        """Every expert's copy of a team's window."""
        await self._session.execute(
            update(availability_windows)
            .where(
                availability_windows.c.team_window_id == team_window_id,
                availability_windows.c.removed_at.is_(None),
            )
            .values(removed_at=now)
        )

    async def get_window(self, window_id: UUID) -> Window | None:
        row = (
            await self._session.execute(
                select(availability_windows).where(
                    availability_windows.c.id == window_id, availability_windows.c.removed_at.is_(None)
                )
            )
        ).one_or_none()
        return None if row is None else _window(row)

    async def windows(self, expert_ids: Iterable[UUID], first: date, last: date) -> list[Window]:
        """The windows of these experts that apply on some day in [first, last]."""
        ids = list(expert_ids)
        if not ids:
            return []
        query = select(*_WINDOW_COLUMNS).where(
            availability_windows.c.expert_id.in_(ids),
            availability_windows.c.removed_at.is_(None),
            availability_windows.c.valid_from <= last,
            (availability_windows.c.valid_until.is_(None)) | (availability_windows.c.valid_until >= first),
        )
        rows = (await self._session.execute(query.order_by(availability_windows.c.created_at))).all()
        return [_window(row) for row in rows]

    async def bookable_windows(self, experts: Bookable, first: date, last: date) -> list[Window]:
        """The windows of the ``experts`` that apply on some day in [first, last] (of the specialty, when
        one is asked for)."""
        where = [
            availability_windows.c.expert_id.in_(_bookable_ids(experts)),
            availability_windows.c.removed_at.is_(None),
            availability_windows.c.valid_from <= last,
            (availability_windows.c.valid_until.is_(None)) | (availability_windows.c.valid_until >= first),
        ]
        if experts.specialty is not None:
            where.append(availability_windows.c.specialty == experts.specialty.value)
        # In the order the search sorts them (expert, then specialty): the sort then only checks it.
        query = (
            select(*_WINDOW_COLUMNS)
            .where(*where)
            .order_by(availability_windows.c.expert_id, availability_windows.c.specialty)
        )
        return [_window_of(tuple(row)) for row in (await self._session.execute(query)).all()]

    async def add_leave(self, leave: Leave, created_by: UUID, now: datetime) -> None:
        await self._session.execute(
            insert(availability_leaves).values(
                id=leave.id,
                expert_id=leave.expert_id,
                starts_at=leave.starts_at,
                ends_at=leave.ends_at,
                label=leave.label,
                created_by=created_by,
                created_at=now,
            )
        )

    async def remove_leave(self, leave_id: UUID) -> None:
        await self._session.execute(delete(availability_leaves).where(availability_leaves.c.id == leave_id))

    async def get_leave(self, leave_id: UUID) -> Leave | None:
        row = (
            await self._session.execute(
                select(availability_leaves).where(availability_leaves.c.id == leave_id)
            )
        ).one_or_none()
        return None if row is None else Leave(row.id, row.expert_id, row.starts_at, row.ends_at, row.label)

    async def bookable_leaves(self, experts: Bookable, start: datetime, end: datetime) -> list[Leave]:
        """The leave of the ``experts`` overlapping [start, end)."""
        return await self._leaves(availability_leaves.c.expert_id.in_(_bookable_ids(experts)), start, end)

    async def leaves(self, expert_ids: Iterable[UUID], start: datetime, end: datetime) -> list[Leave]:
        ids = list(expert_ids)
        if not ids:
            return []
        return await self._leaves(availability_leaves.c.expert_id.in_(ids), start, end)

    async def _leaves(self, whose: Any, start: datetime, end: datetime) -> list[Leave]:
        query = (
            select(availability_leaves)
            .where(
                whose,
                availability_leaves.c.starts_at < end,
                availability_leaves.c.ends_at > start,
            )
            .order_by(availability_leaves.c.starts_at)
        )
        rows = (await self._session.execute(query)).all()
        return [Leave(row.id, row.expert_id, row.starts_at, row.ends_at, row.label) for row in rows]

    # ------------------------------------------------------------------------------------ appointments

    async def busy(
        self, expert_ids: Iterable[UUID], start: datetime, end: datetime
    ) -> dict[UUID, list[tuple[datetime, datetime]]]:
        """The periods the experts' active appointments hold in [start, end)."""
        ids = list(expert_ids)
        if not ids:
            return {}
        return await self._busy(appointments.c.expert_id.in_(ids), start, end)

    async def bookable_busy(
        self, experts: Bookable, start: datetime, end: datetime
    ) -> dict[UUID, list[tuple[datetime, datetime]]]:
        """The periods the active appointments of the ``experts`` hold in [start, end)."""
        return await self._busy(appointments.c.expert_id.in_(_bookable_ids(experts)), start, end)

    async def _busy(
        self, whose: Any, start: datetime, end: datetime
    ) -> dict[UUID, list[tuple[datetime, datetime]]]:
        query = select(appointments.c.expert_id, appointments.c.starts_at, appointments.c.ends_at).where(
            whose, _active(), _overlapping(start, end)
        )
        busy: dict[UUID, list[tuple[datetime, datetime]]] = {}
        for expert_id, starts_at, ends_at in (await self._session.execute(query)).all():
            busy.setdefault(expert_id, []).append((starts_at, ends_at))
        return busy

    async def overlapping(
        self,
        *,
        expert_id: UUID | None = None,
        resident_id: UUID | None = None,
        start: datetime,
        end: datetime,
    ) -> list[UUID]:
        """Active appointments of the expert (or the resident) overlapping [start, end)."""
        who = (
            appointments.c.expert_id == expert_id if expert_id else appointments.c.resident_id == resident_id
        )
        query = select(appointments.c.id).where(who, _active(), _overlapping(start, end))
        return list((await self._session.scalars(query)).all())

    async def conflicts(
        self, expert_id: UUID, resident_id: UUID, start: datetime, end: datetime
    ) -> list[tuple[str, datetime, datetime]]:
        """In one round trip, what may stop a booking in [start, end): the expert's leave ("leave"), the
        expert's active appointments ("expert") and the resident's ("resident") overlapping it, as
        (kind, starts_at, ends_at)."""

        def kind(name: str, table: Table, *where: Any) -> Any:
            return select(literal(name, String).label("kind"), table.c.starts_at, table.c.ends_at).where(
                *where, table.c.starts_at < end, table.c.ends_at > start
            )

        query = union_all(
            kind("leave", availability_leaves, availability_leaves.c.expert_id == expert_id),
            kind(
                "expert",
                appointments,
                appointments.c.expert_id == expert_id,
                _active(),
                appointments.c.starts_at > start - MAX_APPOINTMENT_LENGTH,
            ),
            kind(
                "resident",
                appointments,
                appointments.c.resident_id == resident_id,
                _active(),
                appointments.c.starts_at > start - MAX_APPOINTMENT_LENGTH,
            ),
        )
        return [(row.kind, row.starts_at, row.ends_at) for row in (await self._session.execute(query)).all()]

    async def booking_context(
        self, experts: Bookable, resident_id: UUID, day: date, start: datetime
    ) -> BookingContext:
        """In one round trip, what a booking of ``experts.expert_id`` at ``start`` depends on: whether the
        expert is one the care home may book, the expert's windows applying on ``day``, and the expert's
        leave and active appointments and the resident's overlapping [start, start +
        MAX_APPOINTMENT_LENGTH) (the longest a slot may last: the caller keeps those overlapping the slot
        it finds)."""
        end = start + MAX_APPOINTMENT_LENGTH
        expert_id = experts.expert_id
        window_names = [column.name for column in _WINDOW_COLUMNS]

        def row(kind: str, source: Any, given: dict[str, Any], *where: Any) -> Any:
            columns = [literal(kind, String).label("kind")]
            padded = [appointments.c.starts_at, appointments.c.ends_at]
            padded += [availability_windows.c[name] for name in window_names]
            for column in padded:
                columns.append(given.get(column.name, cast(null(), column.type)).label(column.name))
            return select(*columns).select_from(source).where(*where)

        def period(table: Table) -> dict[str, Any]:
            return {"starts_at": table.c.starts_at, "ends_at": table.c.ends_at}

        query = union_all(
            row(
                "leave",
                availability_leaves,
                period(availability_leaves),
                availability_leaves.c.expert_id == expert_id,
                availability_leaves.c.starts_at < end,
                availability_leaves.c.ends_at > start,
            ),
            row(
                "expert",
                appointments,
                period(appointments),
                appointments.c.expert_id == expert_id,
                _active(),
                _overlapping(start, end),
            ),
            row(
                "resident",
                appointments,
                period(appointments),
                appointments.c.resident_id == resident_id,
                _active(),
                _overlapping(start, end),
            ),
            row("bookable", _bookable_ids(experts).subquery("bookable"), {}),
            row(
                "window",
                availability_windows,
                {name: availability_windows.c[name] for name in window_names},
                availability_windows.c.expert_id == expert_id,
                availability_windows.c.removed_at.is_(None),
                availability_windows.c.valid_from <= day,
                (availability_windows.c.valid_until.is_(None)) | (availability_windows.c.valid_until >= day),
            ),
        )
        context = BookingContext(False, [], [])
        for found in (await self._session.execute(query)).all():
            if found.kind == "bookable":
                context.is_bookable = True
            elif found.kind == "window":
                context.windows.append(_window(found))
            else:
                context.conflicts.append((found.kind, found.starts_at, found.ends_at))
        return context

    async def id_for_idempotency_key(self, created_by: UUID, key: str) -> UUID | None:
        return await self._session.scalar(
            select(appointments.c.id).where(
                appointments.c.created_by == created_by, appointments.c.idempotency_key == key
            )
        )

    async def add(
        self, appointment: Appointment, key: DossierKey, idempotency_key: str | None, now: datetime
    ) -> None:
        """Insert; the constraints raise sqlalchemy's IntegrityError when the slot or resident is taken."""
        await self._session.execute(
            insert(appointments).values(self._values(appointment, key, idempotency_key, now))
        )

    async def add_if_free(
        self, appointment: Appointment, key: DossierKey, idempotency_key: str | None, now: datetime
    ) -> bool:
        """Insert unless an active appointment of the expert or of the resident overlaps it, in one
        statement: the overlap re-check of the write transaction (which SQLite serialises) and the insert
        are one round trip. False: something overlaps, nothing was written. The constraints still raise
        IntegrityError for what a concurrent transaction wrote and this statement could not see
        (PostgreSQL)."""
        values = self._values(appointment, key, idempotency_key, now)
        taken = (
            select(appointments.c.id)
            .where(
                (appointments.c.expert_id == appointment.expert_id)
                | (appointments.c.resident_id == appointment.resident_id),
                _active(),
                _overlapping(appointment.starts_at, appointment.ends_at),
            )
            .exists()
        )
        names = list(values)
        source = select(*(literal(values[name], appointments.c[name].type) for name in names)).where(~taken)
        result = await self._session.execute(insert(appointments).from_select(names, source))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def add_many(self, rows: Iterable[tuple[Appointment, DossierKey]], now: datetime) -> None:
        """Insert many appointments in one statement (imports, seeding): sealed exactly as by ``add``,
        under the same constraints."""
        values = [self._values(appointment, key, None, now) for appointment, key in rows]
        if values:
            await self._session.execute(insert(appointments), values)

    @classmethod
    def _values(
        cls, appointment: Appointment, key: DossierKey, idempotency_key: str | None, now: datetime
    ) -> dict[str, Any]:
        if not appointment.starts_at < appointment.ends_at <= appointment.starts_at + MAX_APPOINTMENT_LENGTH:
            raise ValueError("an appointment lasts one slot: longer than nothing, at most 4 hours")
        return dict(
            id=appointment.id,
            expert_id=appointment.expert_id,
            ehpad_id=appointment.ehpad_id,
            resident_id=appointment.resident_id,
            specialty=appointment.specialty.value,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            status=appointment.status.value,
            urgency=appointment.qualification.urgency.value,
            attendees=",".join(sorted(a.value for a in appointment.qualification.attendees)),
            record_call=appointment.qualification.record_call,
            consent_given_by=appointment.consent.given_by.value,
            consent_given_on=appointment.consent.given_on,
            consent_method=appointment.consent.method.value,
            physician_agreement=appointment.agreement.obtained,
            created_by=appointment.created_by,
            created_at=appointment.created_at,
            updated_at=now,
            version=appointment.version,
            idempotency_key=idempotency_key,
            rescheduled_from=appointment.rescheduled_from,
            **cls._sealed(appointment, key),
        )

    async def save_status(
        self, appointment: Appointment, expected_version: int, key: DossierKey, now: datetime
    ) -> bool:
        """Write a status change (cancel, no-show, done) if the row is still at ``expected_version``."""
        cancellation = appointment.cancellation
        result = await self._session.execute(
            update(appointments)
            .where(appointments.c.id == appointment.id, appointments.c.version == expected_version)
            .values(
                status=appointment.status.value,
                version=appointment.version,
                updated_at=now,
                cancelled_side=cancellation.by.value if cancellation else None,
                cancelled_by=cancellation.user_id if cancellation else None,
                cancelled_at=cancellation.at if cancellation else None,
                **self._sealed(appointment, key),
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    @staticmethod
    def _sealed(appointment: Appointment, key: DossierKey) -> dict[str, bytes]:
        q = appointment.qualification
        return key.seal(
            TABLE,
            appointment.id,
            {
                "reason": q.reason.value,
                "details": q.details,
                "consent_person": appointment.consent.person_name,
                "physician_note": appointment.agreement.note,
                "cancel_reason": appointment.cancellation.reason if appointment.cancellation else "",
            },
        )

    async def header(self, appointment_id: UUID) -> Any | None:
        """The plaintext columns of one appointment (who, where, when, status): what the access policy
        looks at before anything is decrypted."""
        query = select(
            appointments.c.id,
            appointments.c.expert_id,
            appointments.c.ehpad_id,
            appointments.c.resident_id,
            appointments.c.status,
            appointments.c.starts_at,
            appointments.c.ends_at,
            appointments.c.version,
        ).where(appointments.c.id == appointment_id)
        return (await self._session.execute(query)).one_or_none()

    async def get(self, appointment_id: UUID, keys: dict[UUID, DossierKey]) -> Appointment | None:
        found = await self._select(appointments.c.id == appointment_id, keys)
        return found[0] if found else None

    async def resident_ids(self, where: Any) -> list[UUID]:
        query = select(appointments.c.resident_id).where(where).distinct()
        return list((await self._session.scalars(query)).all())

    async def list_where(self, where: Any, keys: dict[UUID, DossierKey]) -> list[Appointment]:
        return self.opened(await self.sealed_where(where), keys)

    async def sealed_where(self, where: Any) -> list[SealedAppointment]:
        """The appointments matching ``where``, earliest first, still sealed, with their checklists (two
        queries): the caller reads their residents' keys, then opens them with :meth:`opened`."""
        rows = (
            await self._session.execute(select(appointments).where(where).order_by(appointments.c.starts_at))
        ).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        checklist: dict[UUID, dict[ChecklistItem, datetime]] = {}
        for item in (
            await self._session.execute(
                select(appointment_checklist).where(appointment_checklist.c.appointment_id.in_(ids))
            )
        ).all():
            checklist.setdefault(item.appointment_id, {})[ChecklistItem(item.item)] = item.done_at
        return [SealedAppointment(row, checklist.get(row.id, {})) for row in rows]

    @classmethod
    def opened(cls, sealed: Iterable[SealedAppointment], keys: dict[UUID, DossierKey]) -> list[Appointment]:
        return [cls._appointment(one.row, keys[one.row.resident_id], one.checklist) for one in sealed]

    async def _select(self, where: Any, keys: dict[UUID, DossierKey]) -> list[Appointment]:
        return self.opened(await self.sealed_where(where), keys)

    @staticmethod
    def _appointment(row: Any, key: DossierKey, checklist: dict[ChecklistItem, datetime]) -> Appointment:
        plain = key.open(TABLE, row.id, {column: getattr(row, column) for column in SEALED_COLUMNS})
        cancellation = (
            Cancellation(
                CancelledBy(row.cancelled_side), row.cancelled_by, row.cancelled_at, plain["cancel_reason"]
            )
            if row.cancelled_side
            else None
        )
        return Appointment(
            id=row.id,
            expert_id=row.expert_id,
            ehpad_id=row.ehpad_id,
            resident_id=row.resident_id,
            specialty=Specialty(row.specialty),
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=AppointmentStatus(row.status),
            qualification=Qualification(
                specialty=Specialty(row.specialty),
                reason=Reason(plain["reason"]),
                details=plain["details"],
                urgency=Urgency(row.urgency),
                attendees=frozenset(Attendee(a) for a in row.attendees.split(",") if a),
                record_call=row.record_call,
            ),
            consent=Consent(
                ConsentGiver(row.consent_given_by),
                row.consent_given_on,
                ConsentMethod(row.consent_method),
                plain["consent_person"],
            ),
            agreement=PhysicianAgreement(row.physician_agreement, plain["physician_note"]),
            created_by=row.created_by,
            created_at=row.created_at,
            version=row.version,
            cancellation=cancellation,
            rescheduled_from=row.rescheduled_from,
            checklist=checklist,
        )

    # ------------------------------------------------------------------------------------- preparation

    async def set_checklist_item(
        self,
        appointment_id: UUID,
        item: ChecklistItem,
        done: bool,
        user_id: UUID,
        now: datetime,
        *,
        keep_date: bool = False,
    ) -> None:
        """Tick or untick one item. With ``keep_date``, an item already ticked keeps who and when."""
        where = and_(
            appointment_checklist.c.appointment_id == appointment_id,
            appointment_checklist.c.item == item.value,
        )
        if done and keep_date:
            exists = await self._session.scalar(select(appointment_checklist.c.item).where(where))
            if exists is not None:
                return
        await self._session.execute(delete(appointment_checklist).where(where))
        if done:
            await self._session.execute(
                insert(appointment_checklist).values(
                    appointment_id=appointment_id, item=item.value, done_by=user_id, done_at=now
                )
            )

    async def touch(self, appointment_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(appointments)
            .where(appointments.c.id == appointment_id)
            .values(updated_at=now, version=appointments.c.version + 1)
        )

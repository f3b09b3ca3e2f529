"""Persistence of notifications, and the plaintext columns of appointments that reminders and calendar feeds
read (when, where, who, status: never a sealed column, so nothing here can decrypt health data).

A notification is unique per (appointment, recipient, kind, offset): a second insert of the same one does
nothing (INSERT ... ON CONFLICT DO NOTHING on both backends). That is what makes the reminder sweep
idempotent across restarts and across several processes: whichever process inserts a reminder first is the
one, and the only one, that e-mails it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from scheduling.model import AppointmentStatus
from scheduling.notifications import Notification, NotificationKind
from scheduling.store import appointments
from teleconsult.db import UTCDateTime, metadata

_KINDS = ", ".join(f"'{kind.value}'" for kind in NotificationKind)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("appointment_id", Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("offset_minutes", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("read_at", UTCDateTime, nullable=True),
    CheckConstraint(f"kind IN ({_KINDS})", name="kind"),
    CheckConstraint(
        "(kind = 'reminder' AND offset_minutes > 0) OR (kind <> 'reminder' AND offset_minutes = 0)",
        name="offset",
    ),
    UniqueConstraint("appointment_id", "user_id", "kind", "offset_minutes"),
    Index("ix_notifications_user_id_created_at", "user_id", "created_at"),
    Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
)


@dataclass(frozen=True, slots=True)
class AppointmentHeader:
    """The plaintext columns of an appointment."""

    id: UUID
    expert_id: UUID
    ehpad_id: UUID
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    status: AppointmentStatus
    version: int


def _header(row: Any) -> AppointmentHeader:
    return AppointmentHeader(
        row.id,
        row.expert_id,
        row.ehpad_id,
        row.starts_at,
        row.ends_at,
        row.created_at,
        AppointmentStatus(row.status),
        row.version,
    )


_HEADER_COLUMNS = (
    appointments.c.id,
    appointments.c.expert_id,
    appointments.c.ehpad_id,
    appointments.c.starts_at,
    appointments.c.ends_at,
    appointments.c.created_at,
    appointments.c.status,
    appointments.c.version,
)


def _notification(row: Any) -> Notification:
    return Notification(
        id=row.id,
        user_id=row.user_id,
        kind=NotificationKind(row.kind),
        appointment_id=row.appointment_id,
        offset_minutes=row.offset_minutes,
        created_at=row.created_at,
        read_at=row.read_at,
    )


class NotificationStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, rows: Sequence[Notification]) -> list[Notification]:
        """Insert; the ones that already existed are skipped. Returns those actually inserted."""
        if not rows:
            return []
        insert = pg_insert if self._session.get_bind().dialect.name == "postgresql" else sqlite_insert
        added: list[Notification] = []
        for row in rows:
            statement = (
                insert(notifications)
                .values(
                    id=row.id,
                    user_id=row.user_id,
                    appointment_id=row.appointment_id,
                    kind=row.kind.value,
                    offset_minutes=row.offset_minutes,
                    created_at=row.created_at,
                )
                .on_conflict_do_nothing()
                .returning(notifications.c.id)
            )
            if (await self._session.execute(statement)).scalar_one_or_none() is not None:
                added.append(row)
        return added

    async def owner(self, notification_id: UUID) -> UUID | None:
        return await self._session.scalar(
            select(notifications.c.user_id).where(notifications.c.id == notification_id)
        )

    async def for_user(self, user_id: UUID, limit: int) -> list[Notification]:
        query = (
            select(notifications)
            .where(notifications.c.user_id == user_id)
            .order_by(notifications.c.created_at.desc(), notifications.c.id)
            .limit(limit)
        )
        return [_notification(row) for row in (await self._session.execute(query)).all()]

    async def unread_count(self, user_id: UUID) -> int:
        query = select(func.count()).where(
            notifications.c.user_id == user_id, notifications.c.read_at.is_(None)
        )
        return int(await self._session.scalar(query) or 0)

    async def mark_read(self, user_id: UUID, now: datetime, notification_id: UUID | None = None) -> int:
        """Mark one notification (or, without an id, all of them) of the user read; returns how many."""
        where = [notifications.c.user_id == user_id, notifications.c.read_at.is_(None)]
        if notification_id is not None:
            where.append(notifications.c.id == notification_id)
        result = await self._session.execute(update(notifications).where(*where).values(read_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def reminded(self, appointment_ids: Iterable[UUID]) -> set[tuple[UUID, int]]:
        """(appointment, offset) pairs that already have their reminders."""
        ids = list(appointment_ids)
        if not ids:
            return set()
        query = (
            select(notifications.c.appointment_id, notifications.c.offset_minutes)
            .where(
                notifications.c.appointment_id.in_(ids),
                notifications.c.kind == NotificationKind.REMINDER.value,
            )
            .distinct()
        )
        return {
            (row.appointment_id, row.offset_minutes) for row in (await self._session.execute(query)).all()
        }

    # ------------------------------------------------------------------------ appointments, plaintext

    async def headers(self, appointment_ids: Iterable[UUID]) -> list[AppointmentHeader]:
        ids = list(appointment_ids)
        if not ids:
            return []
        query = select(*_HEADER_COLUMNS).where(appointments.c.id.in_(ids))
        return [_header(row) for row in (await self._session.execute(query)).all()]

    async def booked_between(self, start: datetime, end: datetime) -> list[AppointmentHeader]:
        """Booked appointments starting in (start, end]: the candidates for a reminder."""
        query = (
            select(*_HEADER_COLUMNS)
            .where(
                appointments.c.status == AppointmentStatus.BOOKED.value,
                appointments.c.starts_at > start,
                appointments.c.starts_at <= end,
            )
            .order_by(appointments.c.starts_at)
        )
        return [_header(row) for row in (await self._session.execute(query)).all()]

    async def for_calendar(
        self,
        *,
        since: datetime,
        expert_ids: Sequence[UUID] = (),
        ehpad_id: UUID | None = None,
    ) -> list[AppointmentHeader]:
        """Appointments of these experts, or of this care home, starting at or after ``since``."""
        who: list[ColumnElement[bool]] = []
        if expert_ids:
            who.append(appointments.c.expert_id.in_(list(expert_ids)))
        if ehpad_id is not None:
            who.append(appointments.c.ehpad_id == ehpad_id)
        if not who:
            return []
        condition = who[0] if len(who) == 1 else who[0] | who[1]
        query = (
            select(*_HEADER_COLUMNS)
            .where(condition, appointments.c.starts_at >= since)
            .order_by(appointments.c.starts_at)
        )
        return [_header(row) for row in (await self._session.execute(query)).all()]

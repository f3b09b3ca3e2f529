"""Persistence of the video rooms: the join tokens already used (their ``jti``), so that each admits once;
and the session journal of each call (signalling.journal).

A token is recorded when it is used, by an INSERT that does nothing if the jti is there already: whichever
connection inserts it first is admitted, on any number of processes. Rows are useless once the token has
expired, and are deleted then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Uuid,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.journal import CallEvent, EventKind, Quality
from teleconsult.db import UTCDateTime, metadata

used_join_tokens = Table(
    "used_join_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("appointment_id", Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=False),
    Index("ix_used_join_tokens_expires_at", "expires_at"),
)

#: The session journal: what happened in each appointment's room (ids and measurements, never health data).
#: ``kind`` is join, leave, reconnect, ice_state, quality or end; ``detail`` the ICE state or end reason;
#: ``incident`` marks a technical incident (ICE failure, timeout, reconnection...), counted by activity.
call_events = Table(
    "call_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("appointment_id", Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("detail", String(32), nullable=True),
    Column("incident", Boolean, nullable=False),
    Column("bitrate_kbps", Integer, nullable=True),
    Column("packet_loss_pct", Float, nullable=True),
    Column("rtt_ms", Integer, nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_call_events_appointment_id_at", "appointment_id", "at"),
)


def _row(event: CallEvent) -> dict[str, Any]:
    quality = event.quality
    return {
        "id": uuid4(),
        "appointment_id": event.appointment_id,
        "user_id": event.user_id,
        "kind": event.kind.value,
        "detail": event.detail,
        "incident": event.incident,
        "bitrate_kbps": quality.bitrate_kbps if quality else None,
        "packet_loss_pct": quality.packet_loss_pct if quality else None,
        "rtt_ms": quality.rtt_ms if quality else None,
        "at": event.at,
    }


def incidents_by_appointment() -> Select[tuple[object, ...]]:
    """(appointment_id, incidents) for every appointment whose journal holds a technical incident."""
    return (
        select(call_events.c.appointment_id, func.count().label("incidents"))
        .where(call_events.c.incident.is_(True))
        .group_by(call_events.c.appointment_id)
    )


class SignallingStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def use_token(
        self, jti: str, appointment_id: UUID, user_id: UUID, expires_at: datetime, now: datetime
    ) -> bool:
        """Record the token as used; False if it was used already (a replay)."""
        upsert: Any = pg_insert if self._session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = (
            upsert(used_join_tokens)
            .values(
                jti=jti, appointment_id=appointment_id, user_id=user_id, expires_at=expires_at, used_at=now
            )
            .on_conflict_do_nothing()
            .returning(used_join_tokens.c.jti)
        )
        return (await self._session.execute(statement)).scalar_one_or_none() is not None

    async def forget_expired(self, before: datetime) -> None:
        """Tokens expired before ``before`` are refused by their ``exp`` already: their jti need not be kept
        (the caller leaves a margin above the verification's leeway)."""
        await self._session.execute(delete(used_join_tokens).where(used_join_tokens.c.expires_at < before))

    # ------------------------------------------------------------------------------------------ journal

    async def add_event(self, event: CallEvent) -> None:
        await self._session.execute(insert(call_events).values(_row(event)))

    async def add_events(self, events: list[CallEvent]) -> None:
        """Many at once (the demo's history)."""
        if events:
            await self._session.execute(insert(call_events), [_row(event) for event in events])

    async def events_of(self, appointment_id: UUID) -> list[CallEvent]:
        """The appointment's journal in time order (the order of insertion within one instant)."""
        c = call_events.c
        rows = await self._session.execute(
            select(c.user_id, c.kind, c.at, c.detail, c.incident, c.bitrate_kbps, c.packet_loss_pct, c.rtt_ms)
            .where(c.appointment_id == appointment_id)
            .order_by(c.at)
        )
        return [
            CallEvent(
                appointment_id,
                row.user_id,
                EventKind(row.kind),
                row.at,
                row.detail,
                row.incident,
                Quality(row.bitrate_kbps, row.packet_loss_pct, row.rtt_ms)
                if row.bitrate_kbps is not None
                else None,
            )
            for row in rows
        ]

    async def last_ice_state(self, appointment_id: UUID) -> str | None:
        c = call_events.c
        statement = (
            select(c.detail)
            .where(c.appointment_id == appointment_id, c.kind == EventKind.ICE_STATE.value)
            .order_by(c.at.desc())
            .limit(1)
        )
        detail: str | None = (await self._session.execute(statement)).scalar_one_or_none()
        return detail

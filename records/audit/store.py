"""Persistence of the audit chain: the append-only ``audit_events`` table and the one-row ``audit_head``.

Appends are serialised on the head row: :meth:`AuditStore.append` locks it (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite every writing transaction already holds the database's write lock from its
``BEGIN IMMEDIATE``, see teleconsult/db.py), takes the next seq and the previous hash from it and inserts
the event, all in the caller's transaction. The database moves the head: a trigger on insert (migration
0002) refuses an event whose seq and prev_hash do not follow the head's, and sets the head to it, so no
writer (buggy, or using SQL directly) can append an event that does not link, and an append costs two
statements rather than three. Two writers therefore never link to the same
predecessor, and an event commits or rolls back with the action it records.

Seq values are assigned from the head, not from a database sequence: a sequence keeps the numbers that
rolled-back transactions took, and a gap must mean a deletion.

Other triggers of the migration refuse UPDATE and DELETE on ``audit_events`` on both backends.

On SQLite the head read is skipped when it can be: the store remembers, per database, the head its last
append made, and first tries to link the new event to it. The insert trigger is the judge either way: if
anyone appended since (another process, or that append rolled back), it refuses the event, which SQLite
undoes alone (RAISE(ABORT) ends the statement, not the transaction, which already holds the write lock
since its BEGIN IMMEDIATE), and the append reads the head and links again. So the guess never decides
what the chain holds; it saves one statement per append when it is right. On PostgreSQL a refused
statement would abort the whole transaction, so the head is always locked and read first.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Uuid,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from records.audit.model import (
    GENESIS_HEAD,
    AuditEvent,
    ChainHead,
    EventFields,
    Outcome,
)
from teleconsult.db import UTCDateTime, metadata

HEAD_ID = 1

audit_events = Table(
    "audit_events",
    metadata,
    # SQLite: only an INTEGER PRIMARY KEY is the rowid (and auto-increments); BIGINT elsewhere.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor_id", Uuid, nullable=True),
    Column("role", String(16), nullable=True),
    Column("establishment_id", Uuid, nullable=True),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=True),
    Column("object_id", String(128), nullable=True),
    Column("outcome", String(8), nullable=False),
    Column("request_id", String(64), nullable=True),
    Column("client_address", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("outcome IN ('success', 'failure', 'denied')", name="outcome"),
    Index("ix_audit_events_object_type_object_id", "object_type", "object_id"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

_LOCK_HEAD = (
    select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == HEAD_ID).with_for_update()
)
# Built once: building ``insert().values(...)`` per call costs more than executing it on SQLite.
_INSERT_EVENT = audit_events.insert()
_READ_HEAD = select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == HEAD_ID)
#: What the SQLite insert trigger says when an event does not follow the head (migration 0002).
_NOT_LINKED = "does not link to the head of the chain"

#: SQLite only: the head the last append of this process made, per database (engine). A guess: see above.
_last_heads: weakref.WeakKeyDictionary[Engine, ChainHead] = weakref.WeakKeyDictionary()


def _linked(head: ChainHead, fields: dict[str, Any]) -> AuditEvent:
    return AuditEvent.link(head.last_hash, EventFields(seq=head.last_seq + 1, **fields))


def _row(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at,
        "actor_id": event.actor_id,
        "role": event.role,
        "establishment_id": event.establishment_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome.value,
        "request_id": event.request_id,
        "client_address": event.client_address,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        role=row.role,
        establishment_id=row.establishment_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        outcome=Outcome(row.outcome),
        request_id=row.request_id,
        client_address=row.client_address,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _lock_head(self) -> ChainHead:
        row = (await self.session.execute(_LOCK_HEAD)).first()
        if row is None:
            # The migration writes this row; only emptying every table (as the tests do) removes it.
            dialect = self.session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            await self.session.execute(
                insert(audit_head)
                .values(id=HEAD_ID, last_seq=GENESIS_HEAD.last_seq, last_hash=GENESIS_HEAD.last_hash)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            row = (await self.session.execute(_LOCK_HEAD)).one()
        return ChainHead(row.last_seq, row.last_hash)

    async def append(
        self,
        *,
        at: datetime,
        action: str,
        outcome: Outcome,
        actor_id: UUID | None = None,
        role: str | None = None,
        establishment_id: UUID | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        request_id: str | None = None,
        client_address: str | None = None,
    ) -> AuditEvent:
        """Link one event to the chain in the session's open transaction (see the module docstring).

        Two statements: lock and read the head, insert the event. The insert trigger checks that the event
        links to the head (seq and prev_hash) and moves the head to it, in the same statement. On SQLite,
        one statement when the head this process last made is still the head.
        """
        fields = dict(
            at=at,
            action=action,
            outcome=outcome,
            actor_id=actor_id,
            role=role,
            establishment_id=establishment_id,
            object_type=object_type,
            object_id=object_id,
            request_id=request_id,
            client_address=client_address,
        )
        bind = self.session.get_bind()
        engine = bind if isinstance(bind, Engine) else None
        guess = _last_heads.get(engine) if engine is not None and engine.dialect.name == "sqlite" else None
        if guess is not None:
            event = _linked(guess, fields)
            try:
                await self.session.execute(_INSERT_EVENT, _row(event))
            except IntegrityError as exc:
                if _NOT_LINKED not in str(exc.orig):
                    raise
                # Someone appended since (or that append rolled back): read the head, as below.
            else:
                _last_heads[engine] = ChainHead(event.seq, event.hash)  # type: ignore[index]
                return event
        event = _linked(await self._lock_head(), fields)
        await self.session.execute(_INSERT_EVENT, _row(event))
        if engine is not None and engine.dialect.name == "sqlite":
            _last_heads[engine] = ChainHead(event.seq, event.hash)
        return event

    async def head(self) -> ChainHead:
        """The head as committed (no lock); the genesis head when the row is missing."""
        row = (await self.session.execute(_READ_HEAD)).first()
        return ChainHead(row.last_seq, row.last_hash) if row else GENESIS_HEAD

    async def chain(self, up_to_seq: int, batch_size: int = 1000) -> AsyncIterator[list[AuditEvent]]:
        """Events 1..``up_to_seq`` in seq order, in batches (keyset pagination: each batch is one query)."""
        after = 0
        while after < up_to_seq:
            rows = (
                await self.session.execute(
                    select(audit_events)
                    .where(audit_events.c.seq > after, audit_events.c.seq <= up_to_seq)
                    .order_by(audit_events.c.seq)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                return
            batch = [_event(row) for row in rows]
            yield batch
            after = batch[-1].seq

    async def events_for(
        self, object_type: str, object_id: str, limit: int, before_seq: int | None = None
    ) -> list[AuditEvent]:
        """The latest ``limit`` events about one object (older than event ``before_seq`` if given: the next
        page, by keyset), newest first."""
        query = select(audit_events).where(
            audit_events.c.object_type == object_type, audit_events.c.object_id == object_id
        )
        if before_seq is not None:
            query = query.where(audit_events.c.seq < before_seq)
        rows = (await self.session.execute(query.order_by(audit_events.c.seq.desc()).limit(limit))).all()
        return [_event(row) for row in rows]

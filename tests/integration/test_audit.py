"""The audit chain on both backends: transactional appends, append-only table, tampering found, and one
consistent chain from concurrent writers."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from uuid import uuid4

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from records.audit.model import GENESIS_HEAD, Outcome
from records.audit.service import accesses_to, record_event, verify
from records.audit.store import AuditStore, audit_events
from teleconsult.db import UnitOfWork, create_engine, create_session_factory
from teleconsult.migrate import MIGRATIONS_DIR

T0 = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)


def _audit_migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_0002", MIGRATIONS_DIR / "versions" / "0002_audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Db:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    async def count(self) -> int:
        async with self.uow() as uow:
            return int(
                (await uow.session.execute(select(func.count()).select_from(audit_events))).scalar_one()
            )


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = create_engine(db_url)
    try:
        yield Db(engine, create_session_factory(engine))
    finally:
        await engine.dispose()


async def append_one(db: Db, n: int = 0, object_id: str = "r-1", commit: bool = True) -> None:
    async with db.uow() as uow:
        await record_event(
            uow,
            at=T0 + timedelta(seconds=n),
            action="resident.read",
            outcome=Outcome.SUCCESS,
            actor_id=uuid4(),
            role="ide",
            establishment_id=uuid4(),
            object_type="resident",
            object_id=object_id,
            request_id=f"req-{n}",
            client_address="192.0.2.1",
        )
        if commit:
            await uow.commit()


async def test_appended_events_form_a_chain_that_verifies(db: Db) -> None:
    for n in range(5):
        await append_one(db, n)
    result = await verify(db.uow(), batch_size=2)
    assert result.ok and result.count == 5
    async with db.uow().reading() as uow:
        head = await uow.store(AuditStore).head()
    assert head.last_seq == 5


async def test_an_empty_chain_verifies(db: Db) -> None:
    result = await verify(db.uow())
    assert result.ok and result.count == 0


async def test_an_event_in_a_rolled_back_transaction_leaves_no_trace(db: Db) -> None:
    await append_one(db, 0)
    async with db.uow().reading() as uow:
        head_before = await uow.store(AuditStore).head()
    await append_one(db, 1, commit=False)
    with pytest.raises(RuntimeError, match="boom"):
        async with db.uow() as uow:
            await record_event(uow, at=T0, action="resident.write", outcome=Outcome.SUCCESS)
            raise RuntimeError("boom")
    async with db.uow().reading() as uow:
        assert await uow.store(AuditStore).head() == head_before
    assert await db.count() == 1
    await append_one(db, 2)
    result = await verify(db.uow())
    assert result.ok and result.count == 2


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'resident.list' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
    ],
)
async def test_the_database_refuses_to_update_or_delete_an_event(db: Db, statement: str) -> None:
    await append_one(db)
    async with db.uow() as uow:
        with pytest.raises(DBAPIError, match="append-only"):
            await uow.session.execute(text(statement))
    assert await db.count() == 1
    assert (await verify(db.uow())).ok


@pytest.mark.parametrize(("seq", "prev_hash"), [(2, "f" * 64), (3, None), (1, None)])
async def test_the_database_refuses_an_event_that_does_not_link_to_the_head(
    db: Db, seq: int, prev_hash: str | None
) -> None:
    await append_one(db)
    async with db.uow() as uow:
        head = await uow.store(AuditStore).head()
        with pytest.raises(DBAPIError, match="does not link"):
            await uow.session.execute(
                audit_events.insert().values(
                    seq=seq,
                    at=T0,
                    action="forged",
                    outcome="success",
                    prev_hash=prev_hash or head.last_hash,
                    hash="e" * 64,
                )
            )
    assert await db.count() == 1
    assert (await verify(db.uow())).ok


async def test_a_row_tampered_with_behind_the_triggers_is_found_by_verify(db: Db) -> None:
    for n in range(6):
        await append_one(db, n)
    migration = _audit_migration()
    dialect = db.engine.dialect.name
    async with db.uow() as uow:
        # An attacker with database access: drop the guard, change who read the record.
        if dialect == "postgresql":
            await uow.session.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            await uow.session.execute(text("DROP TRIGGER audit_events_no_update"))
        await uow.session.execute(text("UPDATE audit_events SET role = 'admin' WHERE seq = 4"))
        await uow.commit()
    try:
        result = await verify(db.uow())
        assert not result.ok
        assert result.first_broken_seq == 4
        assert result.count == 4
    finally:
        async with db.uow() as uow:
            if dialect == "postgresql":
                await uow.session.execute(text(migration.PG_REFUSE_TRIGGER))
            else:
                await uow.session.execute(text(migration.SQLITE_REFUSE_TRIGGERS[0]))
            await uow.commit()


async def test_who_accessed_one_resident_lists_only_its_events_newest_first(db: Db) -> None:
    for n, resident in enumerate(["r-1", "r-2", "r-1", "r-3", "r-1"]):
        await append_one(db, n, object_id=resident)
    events = await accesses_to(db.uow(), "resident", "r-1")
    assert [e.seq for e in events] == [5, 3, 1]
    assert all(e.object_id == "r-1" and e.at.tzinfo is not None for e in events)
    assert [e.seq for e in await accesses_to(db.uow(), "resident", "r-1", limit=1)] == [5]


async def test_eight_concurrent_writers_make_one_chain_that_verifies(db: Db) -> None:
    writers, per_writer = 8, 25

    async def writer(w: int) -> None:
        for n in range(per_writer):
            async with db.uow() as uow:
                await record_event(
                    uow,
                    at=T0 + timedelta(milliseconds=n),
                    action="resident.read",
                    outcome=Outcome.SUCCESS,
                    object_type="resident",
                    object_id=f"w{w}-{n}",
                )
                await asyncio.sleep(0)  # let the others interleave here if the database lets them
                await uow.commit()

    await asyncio.gather(*(writer(w) for w in range(writers)))
    result = await verify(db.uow(), batch_size=64)
    assert result.ok, result
    assert result.count == writers * per_writer
    async with db.uow().reading() as uow:
        head = await uow.store(AuditStore).head()
    assert head.last_seq == writers * per_writer and head != GENESIS_HEAD

"""SQLite appends link to the head this process last made without reading it first; the insert trigger
stays the judge. A stale guess (another process appended, or the append rolled back) costs a retry, never
a broken or forked chain. Also run on PostgreSQL, where the head is always read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from records.audit.model import Outcome
from records.audit.service import record_event, verify
from teleconsult.db import UnitOfWork, create_engine, create_session_factory

T0 = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)


@pytest.fixture
async def engines(db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines on one database: two processes, each with its own memory of the head."""
    first, second = create_engine(db_url), create_engine(db_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def append(engine: AsyncEngine, n: int, commit: bool = True) -> None:
    async with UnitOfWork(create_session_factory(engine)) as uow:
        await record_event(uow, at=T0, action="test.write", outcome=Outcome.SUCCESS, object_id=str(n))
        if commit:
            await uow.commit()


async def chain_of(engine: AsyncEngine) -> tuple[bool, int]:
    result = await verify(UnitOfWork(create_session_factory(engine)))
    return result.ok, result.count


async def test_interleaved_appends_from_two_processes_make_one_chain(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, second = engines
    for n in range(6):
        await append(first if n % 3 else second, n)
    assert await chain_of(first) == (True, 6)


async def test_an_append_rolled_back_leaves_no_trace_and_the_next_one_links(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    first, _ = engines
    await append(first, 1)
    await append(first, 2, commit=False)  # this process now remembers a head that never committed
    await append(first, 3)
    await append(first, 4)
    assert await chain_of(first) == (True, 3)


async def test_a_right_guess_saves_the_head_read_on_sqlite(
    engines: tuple[AsyncEngine, AsyncEngine], db_url: str
) -> None:
    first, second = engines
    await append(first, 1)
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(first.sync_engine, "before_cursor_execute", seen)
    try:
        await append(first, 2)  # the head is the one this engine made
        right = [s for s in statements if "audit_head" in s]
        statements.clear()
        await append(second, 3)
        await append(first, 4)  # stale: refused by the trigger, then linked to the head read
        stale = [s for s in statements if "audit_head" in s]
    finally:
        event.remove(first.sync_engine, "before_cursor_execute", seen)
    if db_url.startswith("sqlite"):
        assert right == []
    else:
        assert len(right) == 1  # PostgreSQL: SELECT ... FOR UPDATE every time
    assert len(stale) == 1
    assert await chain_of(first) == (True, 4)

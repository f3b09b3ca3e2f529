"""Cost of the audit chain: an audited action against the same action unaudited, on SQLite and PostgreSQL;
then eight concurrent writers on PostgreSQL, and the chain must still verify.

Action: one unit of work that inserts a row into a scratch table of the bench's own (created with
SQLAlchemy Core in the bench's temporary database) and commits. Audited: the same, plus
``record_event`` in the same transaction (lock the chain's head, hash, insert the event, move the head).
One writer, rounds of a fixed number of actions alternating unaudited and audited; the figure is the
median of the per-pair throughput ratios.

Goal: audited actions/s >= 0.6 x unaudited actions/s on both backends; with 8 concurrent writers on
PostgreSQL the chain verifies and holds every event.

    .venv/bin/python bench/audit.py
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/audit.py` puts bench/ first on sys.path, where bench/http.py would hide the standard
# library's http (which aiohttp imports): put the repository root there instead.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import asyncio  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

from sqlalchemy import Column, MetaData, String, Table, Uuid  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

from bench._common import PG_ERRORS, create_pg_database, drop_pg_database, median, result_line  # noqa: E402
from records.audit.model import Outcome  # noqa: E402
from records.audit.service import record_event, verify  # noqa: E402
from teleconsult.db import UnitOfWork, UTCDateTime, create_engine, create_session_factory  # noqa: E402
from teleconsult.migrate import upgrade  # noqa: E402

ROUNDS = 9  # of each kind, interleaved
ACTIONS_PER_ROUND = 300
WARMUP_ACTIONS = 100
CONCURRENT_WRITERS = 8
ACTIONS_PER_WRITER = 100
BACKEND_TIMEOUT = 300.0
TARGET_RATIO = 0.6

scratch_metadata = MetaData()
scratch = Table(
    "bench_scratch_actions",
    scratch_metadata,
    Column("id", Uuid, primary_key=True),
    Column("object_id", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

Sessions = async_sessionmaker[AsyncSession]


async def action(sessions: Sessions, audited: bool, n: int) -> None:
    row_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with UnitOfWork(sessions) as uow:
        await uow.session.execute(scratch.insert().values(id=row_id, object_id=f"object-{n}", at=now))
        if audited:
            await record_event(
                uow,
                at=now,
                action="bench.write",
                outcome=Outcome.SUCCESS,
                actor_id=row_id,
                role="ide",
                object_type="bench",
                object_id=str(row_id),
                request_id=f"bench-{n}",
                client_address="127.0.0.1",
            )
        await uow.commit()


async def timed_round(sessions: Sessions, audited: bool) -> float:
    """Actions per second for one round of ACTIONS_PER_ROUND sequential actions."""
    started = time.perf_counter()
    for n in range(ACTIONS_PER_ROUND):
        await action(sessions, audited, n)
    return ACTIONS_PER_ROUND / (time.perf_counter() - started)


async def concurrent_writers(sessions: Sessions) -> None:
    async def writer(w: int) -> None:
        for n in range(ACTIONS_PER_WRITER):
            await action(sessions, True, w * ACTIONS_PER_WRITER + n)

    await asyncio.gather(*(writer(w) for w in range(CONCURRENT_WRITERS)))


async def ratio_on(url: str, label: str) -> float:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.run_sync(scratch_metadata.create_all)
        sessions = create_session_factory(engine)
        for n in range(WARMUP_ACTIONS):
            await action(sessions, n % 2 == 1, n)
        ratios: list[float] = []
        for r in range(ROUNDS):
            plain = await timed_round(sessions, audited=False)
            audited = await timed_round(sessions, audited=True)
            ratios.append(audited / plain)
            print(
                f"{label} round {r + 1}: unaudited {plain:.0f}/s, audited {audited:.0f}/s, "
                f"ratio {audited / plain:.3f}",
                flush=True,
            )
        result = await verify(UnitOfWork(sessions))
        if not result.ok:
            print(f"{label}: chain broken after the rounds: {result}", flush=True)
            return math.nan
        return median(ratios)
    finally:
        await engine.dispose()


async def chain_verifies_after_concurrent_writers(url: str) -> bool:
    engine = create_engine(url)
    try:
        sessions = create_session_factory(engine)
        before = await verify(UnitOfWork(sessions))
        started = time.perf_counter()
        await concurrent_writers(sessions)
        seconds = time.perf_counter() - started
        after = await verify(UnitOfWork(sessions))
        expected = before.count + CONCURRENT_WRITERS * ACTIONS_PER_WRITER
        total = CONCURRENT_WRITERS * ACTIONS_PER_WRITER
        print(
            f"postgresql concurrent: {CONCURRENT_WRITERS} writers x {ACTIONS_PER_WRITER} audited actions in "
            f"{seconds:.2f}s ({total / seconds:.0f}/s); verify: ok={after.ok} count={after.count} "
            f"(expected {expected}) first_broken_seq={after.first_broken_seq} reason={after.reason}",
            flush=True,
        )
        return after.ok and after.count == expected
    finally:
        await engine.dispose()


async def guarded(label: str, run: Callable[[], Awaitable[float]]) -> float:
    """A failed backend prints why and reports nan (so its RESULT line says FAIL), never a traceback."""
    try:
        return await asyncio.wait_for(run(), BACKEND_TIMEOUT)
    except Exception as error:
        print(f"{label}: benchmark failed: {error.__class__.__name__}: {error}", flush=True)
        return math.nan


async def main() -> None:
    print(
        f"audit bench: {ROUNDS} interleaved rounds of {ACTIONS_PER_ROUND} sequential actions each way; "
        f"{CONCURRENT_WRITERS} concurrent writers x {ACTIONS_PER_WRITER} on PostgreSQL",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tc_bench_audit_") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        sqlite_ratio = await guarded("sqlite", lambda: ratio_on(url, "sqlite"))

    pg_ratio = math.nan
    verified = False
    try:
        name, plain_url = await create_pg_database()
    except PG_ERRORS as exc:
        print(f"postgresql: unreachable: {exc.__class__.__name__}: {exc}", flush=True)
    else:
        try:
            pg_url = plain_url.replace("postgresql://", "postgresql+asyncpg://", 1)
            pg_ratio = await guarded("postgresql", lambda: ratio_on(pg_url, "postgresql"))

            async def concurrent() -> float:
                return 1.0 if await chain_verifies_after_concurrent_writers(pg_url) else 0.0

            verified = await guarded("postgresql concurrent", concurrent) == 1.0
        finally:
            await drop_pg_database(name)

    print(result_line("audit_sqlite", "throughput_ratio", sqlite_ratio, ">=", TARGET_RATIO), flush=True)
    print(result_line("audit_postgresql", "throughput_ratio", pg_ratio, ">=", TARGET_RATIO), flush=True)
    print(
        f"RESULT audit_concurrent_chain verified={int(verified)} target=1 {'PASS' if verified else 'FAIL'}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())

"""Shared fixtures: a real database on each backend, the real app through aiohttp's test client.

Integration tests that take the ``db_url`` fixture run twice: on a fresh SQLite file, and on PostgreSQL at
127.0.0.1:5432 in a database created for this test run (so parallel runs never collide) and dropped after.
Where PostgreSQL is unreachable those runs skip with the reason, except under CI=true where it is a failure.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy import text

from records.crypto import generate_key_file
from teleconsult.clock import FixedClock
from teleconsult.db import create_engine
from teleconsult.migrate import upgrade
from teleconsult.settings import Settings
from teleconsult.tables import metadata

PG_ADMIN_DSN = os.environ.get("TELECONSULT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when called while an event loop runs."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, migrated once; dropped at the end of the run."""
    name = f"tc_test_{uuid.uuid4().hex[:12]}"
    try:
        _run_async(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc.__class__.__name__}: {exc}"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)

    async def migrate() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    _run_async(migrate())
    yield url
    _run_async(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {names} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database: a new SQLite file, or the run's PostgreSQL database emptied."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        yield url
    else:
        url = request.getfixturevalue("pg_database_url")
        await _truncate_all(url)
        yield url


@pytest.fixture
def clock() -> FixedClock:
    # A Monday afternoon in winter (UTC+1 in Paris).
    return FixedClock(datetime(2026, 11, 23, 13, 30, tzinfo=UTC))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    key_file = tmp_path / "keys.json"
    generate_key_file(key_file, demo=True)
    return Settings(mode="test", database_url=db_url, data_dir=tmp_path / "data", key_file=key_file)

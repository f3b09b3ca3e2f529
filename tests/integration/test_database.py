"""The database layer on both backends: migrations match the code, readiness, concurrency, time zones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from teleconsult.db import UnitOfWork, create_engine, create_session_factory
from teleconsult.identity.model import ThrottleRule
from teleconsult.identity.store import IdentityStore
from teleconsult.migrate import current_revision, head_revision
from teleconsult.tables import metadata


async def test_migrations_create_exactly_the_schema_the_code_declares(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), metadata
                )
            )
        assert diff == [], f"write a migration for: {diff}"
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_sqlite_connections_have_wal_foreign_keys_and_busy_timeout(tmp_path: object) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/pragma.sqlite3")
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
    finally:
        await engine.dispose()


async def test_datetimes_come_back_aware_in_utc_and_naive_ones_are_refused(db_url: str) -> None:
    engine = create_engine(db_url)
    sessions = create_session_factory(engine)
    dst_change_day = datetime(2026, 3, 29, 16, 0, tzinfo=UTC)
    try:
        async with UnitOfWork(sessions) as uow:
            store = uow.store(IdentityStore)
            state = (await store.lock_throttle_states(["account:tz"]))["account:tz"]
            await store.save_throttle_state(
                state.after_failure(dst_change_day, ThrottleRule(1, timedelta(1)))
            )
            await uow.commit()
        async with UnitOfWork(sessions) as uow:
            read = (await uow.store(IdentityStore).throttle_states(["account:tz"]))["account:tz"]
        assert read.last_failure_at == dst_change_day
        assert read.last_failure_at is not None and read.last_failure_at.tzinfo is not None
        async with UnitOfWork(sessions) as uow:
            with pytest.raises(Exception, match="naive"):
                await uow.store(IdentityStore).save_throttle_state(
                    state.after_failure(datetime(2026, 1, 1), ThrottleRule(1, timedelta(1)))
                )
    finally:
        await engine.dispose()


async def test_concurrent_failed_logins_are_all_counted(db_url: str) -> None:
    """Twenty wrong passwords at the same moment (a scripted attack) must count twenty, not fewer."""
    engine = create_engine(db_url)
    sessions = create_session_factory(engine)
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    rule = ThrottleRule(free_failures=1000, max_lock=timedelta(minutes=15))

    async def one_failure() -> None:
        async with UnitOfWork(sessions) as uow:
            store = uow.store(IdentityStore)
            state = (await store.lock_throttle_states(["account:target"]))["account:target"]
            await asyncio.sleep(0)  # let the others interleave here if the database lets them
            await store.save_throttle_state(state.after_failure(now, rule))
            await uow.commit()

    try:
        await asyncio.gather(*(one_failure() for _ in range(20)))
        async with UnitOfWork(sessions) as uow:
            final = (await uow.store(IdentityStore).throttle_states(["account:target"]))["account:target"]
        assert final.failures == 20
    finally:
        await engine.dispose()

"""Async engine, session factory and unit of work. SQLite (aiosqlite) by default, PostgreSQL (asyncpg) by URL.

There is no module-level engine: :func:`create_engine` is called once by the composition root and the result
is passed to whoever needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import ARRAY, DateTime, MetaData, Table, bindparam, event, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

#: One metadata for every package's tables, with constraint names that are the same on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SQLITE_BUSY_TIMEOUT_MS = 5000

#: Execution option a read-only unit of work sets on its SQLite connection (see UnitOfWork.reading).
READ_ONLY = "teleconsult_read_only"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in UTC on both backends (SQLite keeps no zone, so it is put back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # aiosqlite's adapter otherwise issues its own BEGIN lazily; we want BEGIN IMMEDIATE on writes instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted and overwritten content is zeroed rather than left in free space: a crypto-shredded record's
    # wrapped data key (and a re-wrapped key's old form) must not survive in the file. Measured cost:
    # docs/adr/0010-key-rotation-and-retention.md.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Take the write lock at the start of every transaction that may write: a read-then-write transaction
    # can then never fail half-way with "database is locked"; it waits (busy_timeout) for its turn instead.
    # A read-only one opens no transaction at all: each statement reads the latest committed state, takes no
    # lock (WAL: readers and the single writer never wait for each other) and costs no BEGIN round trip.
    if not conn.get_execution_options().get(READ_ONLY, False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    # hide_parameters: an SQL error in the log shows the statement, never the values (hashes, e-mails and,
    # later, health data).
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    # pool_pre_ping costs a round trip per checkout, but without it every pooled connection would fail one
    # request (a 500) after a PostgreSQL restart or failover.
    return create_async_engine(
        url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=10, pool_pre_ping=True
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


StoreT = TypeVar("StoreT")


class UnitOfWork:
    """One transaction for one use case: ``async with uow: ...; await uow.commit()``.

    Leaving the block without commit rolls back. Stores are built on the unit's session on first use.
    ``async with uow.reading():`` is for use cases that only read: each statement runs on its own
    (autocommit: no BEGIN/ROLLBACK round trips, no SQLite write lock) and sees the latest committed state.
    Writing in it is a bug.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._session: AsyncSession | None = None
        self._stores: dict[type[Any], Any] = {}
        self._read_only = False

    def reading(self) -> Self:
        self._read_only = True
        return self

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside 'async with'")
        return self._session

    def store(self, store_type: type[StoreT]) -> StoreT:
        if store_type not in self._stores:
            self._stores[store_type] = store_type(self.session)  # type: ignore[call-arg]
        return self._stores[store_type]  # type: ignore[no-any-return]

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        if self._read_only:
            self._read_only = False
            bind = self._session.get_bind()
            options = (
                {READ_ONLY: True} if bind.dialect.name == "sqlite" else {"isolation_level": "AUTOCOMMIT"}
            )
            await self._session.connection(execution_options=options)
        else:
            await self._session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is None:
            return
        try:
            if self._session.in_transaction():
                await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None
            self._stores.clear()

    async def commit(self) -> None:
        await self.session.commit()


async def scrub_deleted(engine: AsyncEngine, tables: Sequence[str]) -> bool:
    """After deletions that must leave nothing behind (crypto-shredding): on SQLite, copy the WAL into the
    database file (where secure_delete has zeroed the deleted content) and truncate the WAL to zero bytes,
    so no older page image of the deleted rows stays in it; on PostgreSQL, VACUUM ``tables`` so their
    dead row versions are removed. Returns False when SQLite could not truncate the WAL because readers
    were still using it (run again later); the deletion itself is committed either way."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # No BEGIN: a checkpoint cannot run inside a transaction.
            connection = await connection.execution_options(**{READ_ONLY: True})
            row = (await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
            return int(row[0]) == 0  # (busy, WAL frames, frames checkpointed)
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        quoted = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in tables)
        await connection.exec_driver_sql(f"VACUUM {quoted}")
        return True


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) in one statement. On PostgreSQL, one array per column
    unnested into rows: a single parse, plan and executor run, where an executemany runs the insert once
    per row; elsewhere (SQLite), executemany, which the driver loops over in C."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), rows)
        return
    names = list(rows[0])
    arrays = [bindparam(name, type_=ARRAY(table.c[name].type)) for name in names]
    await session.execute(
        insert(table).from_select(names, select(*(func.unnest(array) for array in arrays))),
        {name: [row[name] for row in rows] for name in names},
    )

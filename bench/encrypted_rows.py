"""Cost of sealing residents: 10,000 residents inserted then selected through the residents store's real
path (one data key each, wrapped by the KEK; every field sealed with AES-256-GCM bound to its place; blind
indexes of the INS and the name tokens), against the same residents in a table of plaintext columns that
the bench creates (and drops) in the same database, side by side in the same run, on SQLite and PostgreSQL.

Both sides insert in transactions of BATCH rows with one multi-row statement per table, and both select
every row back into the same model objects (ResidentDetails); only the sealing differs. The figure is the
ratio of throughputs, encrypted / plaintext, for insert + select together (each phase is printed too).
Both sides insert through the same ``teleconsult.db.insert_rows`` (on PostgreSQL one array per column,
unnested; on SQLite an executemany), so that the ratio measures the sealing, not the insert method.

Goal: ratio >= 0.5 on both backends.

    .venv/bin/python bench/encrypted_rows.py
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/encrypted_rows.py` puts bench/ first on sys.path, where bench/http.py would hide the
# standard library's http (which aiohttp imports): put the repository root there instead.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import asyncio  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, Uuid, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench._common import PG_ERRORS, create_pg_database, drop_pg_database, result_line  # noqa: E402
from records.crypto import LocalKeyring  # noqa: E402
from records.residents.model import (  # noqa: E402
    IdentityStatus,
    IdentityTraits,
    Ins,
    Resident,
    ResidentDetails,
    Sex,
)
from records.residents.store import ResidentStore  # noqa: E402
from teleconsult.db import UnitOfWork, UTCDateTime, create_engine, create_session_factory, insert_rows  # noqa: E402
from teleconsult.demo_residents import demo_resident_details  # noqa: E402
from teleconsult.identity.model import EstablishmentKind  # noqa: E402
from teleconsult.migrate import upgrade  # noqa: E402
from tests.factories import make_establishment  # noqa: E402

RESIDENTS = 10_000
BATCH = 500
TARGET_RATIO = 0.5
BACKEND_TIMEOUT = 600.0
_SEPARATOR = "\x1f"

plain_metadata = MetaData()
plain = Table(
    "bench_plain_residents",
    plain_metadata,
    Column("id", Uuid, primary_key=True),
    Column("ehpad_id", Uuid, nullable=False, index=True),
    Column("identity_status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    *(
        Column(name, Text, nullable=False)
        for name in (
            "birth_name",
            "used_name",
            "first_names",
            "used_first_name",
            "sex",
            "birth_date",
            "birth_place_code",
            "ins_matricule",
            "ins_oid",
            "room",
            "treating_physician",
            "contact_person",
        )
    ),
)


@dataclass(frozen=True, slots=True)
class Timings:
    insert: float
    select: float

    @property
    def total(self) -> float:
        return self.insert + self.select


def make_residents(ehpad_id: uuid.UUID, now: datetime) -> list[Resident]:
    rng = random.Random(97)
    taken: set[str] = set()
    details: list[ResidentDetails] = []
    while len(details) < RESIDENTS:
        details.extend(demo_resident_details(rng, 60, now.date(), taken))
    return [Resident(uuid.uuid4(), ehpad_id, d, 1, now, now) for d in details[:RESIDENTS]]


def plain_row(resident: Resident) -> dict[str, Any]:
    details, traits = resident.details, resident.details.traits
    return {
        "id": resident.id,
        "ehpad_id": resident.ehpad_id,
        "identity_status": details.identity_status.value,
        "version": resident.version,
        "created_at": resident.created_at,
        "updated_at": resident.updated_at,
        "birth_name": traits.birth_name,
        "used_name": traits.used_name or "",
        "first_names": _SEPARATOR.join(traits.first_names),
        "used_first_name": traits.used_first_name or "",
        "sex": traits.sex.value,
        "birth_date": traits.birth_date.isoformat(),
        "birth_place_code": traits.birth_place_code,
        "ins_matricule": details.ins.matricule if details.ins else "",
        "ins_oid": details.ins.oid if details.ins else "",
        "room": details.room or "",
        "treating_physician": details.treating_physician or "",
        "contact_person": details.contact_person or "",
    }


def plain_resident(row: Any) -> Resident:
    """The same model objects the store builds, from plaintext columns."""
    traits = IdentityTraits(
        birth_name=row.birth_name,
        first_names=tuple(row.first_names.split(_SEPARATOR)),
        sex=Sex(row.sex),
        birth_date=date.fromisoformat(row.birth_date),
        birth_place_code=row.birth_place_code,
        used_name=row.used_name or None,
        used_first_name=row.used_first_name or None,
    )
    details = ResidentDetails(
        traits=traits,
        ins=Ins(row.ins_matricule, row.ins_oid) if row.ins_matricule else None,
        identity_status=IdentityStatus(row.identity_status),
        room=row.room or None,
        treating_physician=row.treating_physician or None,
        contact_person=row.contact_person or None,
    )
    return Resident(row.id, row.ehpad_id, details, row.version, row.created_at, row.updated_at)


def batches(residents: Sequence[Resident]) -> list[Sequence[Resident]]:
    return [residents[i : i + BATCH] for i in range(0, len(residents), BATCH)]


async def run_plain(engine: AsyncEngine, residents: Sequence[Resident], ehpad_id: uuid.UUID) -> Timings:
    sessions = create_session_factory(engine)
    started = time.perf_counter()
    for batch in batches(residents):
        async with UnitOfWork(sessions) as uow:
            await insert_rows(uow.session, plain, [plain_row(r) for r in batch])
            await uow.commit()
    inserted = time.perf_counter()
    async with UnitOfWork(sessions).reading() as uow:
        rows = (await uow.session.execute(select(plain).where(plain.c.ehpad_id == ehpad_id))).all()
        found = [plain_resident(row) for row in rows]
    selected = time.perf_counter()
    if len(found) != len(residents):
        raise RuntimeError(f"plaintext: {len(found)} rows read back, {len(residents)} expected")
    return Timings(inserted - started, selected - inserted)


async def run_encrypted(
    engine: AsyncEngine, residents: Sequence[Resident], ehpad_id: uuid.UUID, keys: LocalKeyring
) -> Timings:
    sessions = create_session_factory(engine)
    now = residents[0].created_at
    started = time.perf_counter()
    for batch in batches(residents):
        async with UnitOfWork(sessions) as uow:
            await uow.store(ResidentStore).add_many(batch, keys, now)
            await uow.commit()
    inserted = time.perf_counter()
    async with UnitOfWork(sessions).reading() as uow:
        found = await uow.store(ResidentStore).list_for_ehpad(ehpad_id, keys, len(residents) + 1)
    selected = time.perf_counter()
    if {r.id: r.details for r in found} != {r.id: r.details for r in residents}:
        raise RuntimeError("encrypted: the residents read back differ from those written")
    return Timings(inserted - started, selected - inserted)


async def ratio_on(url: str, label: str) -> float:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.run_sync(plain_metadata.create_all)
        sessions = create_session_factory(engine)
        now = datetime.now(UTC)
        plain_home = await make_establishment(lambda: UnitOfWork(sessions), now, EstablishmentKind.EHPAD)
        sealed_home = await make_establishment(lambda: UnitOfWork(sessions), now, EstablishmentKind.EHPAD)
        keys = LocalKeyring.generate(demo=True)
        plain_residents = make_residents(plain_home.id, now)
        sealed_residents = make_residents(sealed_home.id, now)
        plaintext = await run_plain(engine, plain_residents, plain_home.id)
        encrypted = await run_encrypted(engine, sealed_residents, sealed_home.id, keys)
        for name, timing in (("plaintext", plaintext), ("encrypted", encrypted)):
            print(
                f"{label} {name}: insert {RESIDENTS / timing.insert:,.0f} rows/s, "
                f"select {RESIDENTS / timing.select:,.0f} rows/s, "
                f"insert+select {RESIDENTS / timing.total:,.0f} rows/s",
                flush=True,
            )
        print(
            f"{label} ratios encrypted/plaintext: insert {plaintext.insert / encrypted.insert:.3f}, "
            f"select {plaintext.select / encrypted.select:.3f}",
            flush=True,
        )
        async with engine.begin() as connection:
            await connection.run_sync(plain_metadata.drop_all)
        return plaintext.total / encrypted.total
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
    print(f"encrypted rows bench: {RESIDENTS} residents, transactions of {BATCH}, each way", flush=True)
    with tempfile.TemporaryDirectory(prefix="tc_bench_rows_") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        sqlite_ratio = await guarded("sqlite", lambda: ratio_on(url, "sqlite"))

    pg_ratio = math.nan
    try:
        name, plain_url = await create_pg_database()
    except PG_ERRORS as exc:
        print(f"postgresql: unreachable: {exc.__class__.__name__}: {exc}", flush=True)
    else:
        try:
            pg_url = plain_url.replace("postgresql://", "postgresql+asyncpg://", 1)
            pg_ratio = await guarded("postgresql", lambda: ratio_on(pg_url, "postgresql"))
        finally:
            await drop_pg_database(name)

    print(result_line("encrypted_rows_sqlite", "ratio", sqlite_ratio, ">=", TARGET_RATIO), flush=True)
    print(result_line("encrypted_rows_postgresql", "ratio", pg_ratio, ">=", TARGET_RATIO), flush=True)


if __name__ == "__main__":
    asyncio.run(main())

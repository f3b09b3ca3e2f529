"""Issue "Records", item 6: retention on both backends. Medical records past their period are
crypto-shredded (data key deleted, rows removed, one audit event each, the chain still verifies) and
nothing of them can be recovered, not even from the raw SQLite files; technical data is deleted; a dry
run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from records.audit.service import verify
from records.audit.store import audit_events
from records.crypto import CryptoError, WrappedKey, open_data_key, open_sealed
from records.residents.fields import record_ref
from records.residents.model import Resident
from records.residents.service import edit_resident, view_resident
from records.residents.store import data_keys, residents
from records.retention.model import RetentionKind, RetentionPeriods
from records.retention.service import run_retention, tables_to_scrub
from teleconsult.clock import FixedClock
from teleconsult.db import scrub_deleted
from teleconsult.errors import NotFound
from teleconsult.identity.model import Session, ThrottleRule
from teleconsult.identity.store import IdentityStore, login_throttle, sessions
from tests.integration.records_world import World, details, records_world

PERIODS = RetentionPeriods(medical_records_years=20, technical_months=12, recordings_days=30)
LONG_AGO = datetime(2005, 6, 1, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
CANARY = "Shredzzqx"


async def count(world: World, table: object) -> int:
    async with world.new_uow().reading() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def sealed_row(world: World, resident: Resident) -> tuple[bytes, bytes]:
    """The resident's wrapped data key and sealed birth name, as stored."""
    async with world.new_uow().reading() as uow:
        row = (
            await uow.session.execute(
                select(data_keys.c.wrapped, residents.c.birth_name)
                .join(residents, residents.c.data_key_id == data_keys.c.id)
                .where(residents.c.id == resident.id)
            )
        ).one()
    return row.wrapped, row.birth_name


async def add_technical_data(world: World) -> None:
    async with world.new_uow() as uow:
        store = uow.store(IdentityStore)
        user_id = world.nurse.user.id
        for name, seen in (("old", NOW - timedelta(days=400)), ("recent", NOW - timedelta(days=3))):
            await store.add_session(Session(f"{name:0<64}", user_id, seen, seen, True))
            state = (await store.lock_throttle_states([f"pair:{name}"]))[f"pair:{name}"]
            await store.save_throttle_state(state.after_failure(seen, ThrottleRule(5, timedelta(minutes=15))))
        await uow.commit()


def wal_size(db_url: str) -> int:
    wal = Path(db_url.split("///", 1)[1] + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def raw_sqlite_files(db_url: str) -> bytes:
    database = Path(db_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())


async def test_records_past_their_period_are_shredded_beyond_recovery_and_the_rest_is_kept(
    db_url: str, tmp_path: Path
) -> None:
    clock = FixedClock(LONG_AGO)
    async with records_world(db_url, tmp_path, clock) as world:
        keys = world.keyring()
        old = await world.add_residents(keys, 3, prefix=CANARY)
        revived = (await world.add_residents(keys, 1, prefix="Revived"))[0]
        clock.advance(timedelta(days=365 * 15))  # edited 15 years later: its period starts again
        await edit_resident(
            world.new_uow(), keys, world.nurse, revived.id, 1, details("Revivedx"), clock.now()
        )
        clock.advance(NOW - clock.now())
        recent = await world.add_residents(keys, 2, prefix="Recent")
        await add_technical_data(world)
        wrapped, sealed_name = await sealed_row(world, old[0])
        if db_url.startswith("sqlite"):
            assert wrapped in raw_sqlite_files(db_url)  # the search below looks where the key was
        audit_before = await count(world, audit_events)

        preview = await run_retention(world.new_uow, PERIODS, NOW, dry_run=True)
        medical, technical, recorded = preview
        assert recorded.kind is RetentionKind.RECORDINGS and recorded.counts == {"recordings": 0}
        assert medical.kind is RetentionKind.MEDICAL_RECORDS and medical.counts == {"records": 3}
        assert set(medical.ids) == {str(r.id) for r in old}
        assert technical.counts == {"sessions": 1, "login_counters": 1}
        assert (await count(world, data_keys), await count(world, residents)) == (6, 6)
        assert (await count(world, sessions), await count(world, login_throttle)) == (2, 2)
        assert await count(world, audit_events) == audit_before

        results = await run_retention(world.new_uow, PERIODS, NOW, dry_run=False, batch_size=2)
        assert [r.counts for r in results] == [
            {"records": 3},
            {"sessions": 1, "login_counters": 1},
            {"recordings": 0},
        ]
        assert await scrub_deleted(world.engine, tables_to_scrub(results))
        if db_url.startswith("sqlite"):
            assert wal_size(db_url) == 0  # truncated: no old page image left in it
            raw = raw_sqlite_files(db_url)
            for needle in (wrapped, WrappedKey.from_bytes(wrapped).blob, sealed_name):
                assert needle not in raw, "a copy of the shredded record survives in the SQLite files"
            for text in (CANARY, CANARY.upper()):
                assert text.encode() not in raw

        assert (await count(world, data_keys), await count(world, residents)) == (3, 3)
        assert (await count(world, sessions), await count(world, login_throttle)) == (1, 1)
        for resident in old:
            with pytest.raises(NotFound):
                await view_resident(world.new_uow(), keys, world.nurse, resident.id, clock.now())
        for resident in [*recent, revived]:
            assert (await view_resident(world.new_uow(), keys, world.nurse, resident.id, clock.now())).id
        async with world.new_uow().reading() as uow:
            shred_events = (
                await uow.session.scalars(
                    select(audit_events.c.object_id).where(audit_events.c.action == "resident.shred")
                )
            ).all()
            remaining = (await uow.session.scalars(select(data_keys.c.wrapped))).all()
        assert sorted(shred_events) == sorted(str(r.id) for r in old)
        assert (await verify(world.new_uow())).ok

        # With the keyring, no data key left in the database opens the shredded name: the only key that
        # could was deleted (and, wrapped for this record only, no other key unwraps for it).
        place = record_ref(old[0].id, old[0].ehpad_id).place("birth_name")
        for stored in remaining:
            with pytest.raises(CryptoError):
                open_data_key(keys, WrappedKey.from_bytes(stored), place.record)
            other = WrappedKey.from_bytes(stored)
            assert other.blob != WrappedKey.from_bytes(wrapped).blob
        assert open_sealed(
            open_data_key(keys, WrappedKey.from_bytes(wrapped), place.record), sealed_name, place
        )

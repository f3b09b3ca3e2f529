"""Issue "Records", item 7: online key rotation on both backends. Every data key is re-wrapped under the new
KEK in batches while readers keep reading; a crash resumes where it stopped; a missing KEK stops the job."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from records.audit.service import verify
from records.audit.store import audit_events
from records.crypto import Kek, LocalKeyring, ReloadingKeyring, rotate_key_file
from records.crypto.aead import new_key
from records.crypto.rotation import MissingKek, RotationProgress
from records.residents.model import Resident
from records.residents.service import view_resident
from records.residents.store import data_keys
from records.rotation.service import keys_report, rewrap_all
from records.rotation.store import RotationStore
from teleconsult.clock import FixedClock
from tests.integration.records_world import World, records_world


class Crash(Exception):
    """Stands for the process being killed between two batches."""


async def kek_counts(world: World) -> dict[str, int]:
    async with world.new_uow().reading() as uow:
        return await uow.store(RotationStore).count_by_kek()


async def all_readable(world: World, keys: LocalKeyring, created: list[Resident]) -> None:
    for resident in created:
        read = await view_resident(world.new_uow(), keys, world.nurse, resident.id, world.clock.now())
        assert read.details == resident.details


async def test_readers_never_fail_while_every_data_key_moves_to_the_new_kek(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    async with records_world(db_url, tmp_path, clock) as world:
        # The running service loaded the key file before the rotation: it does not know the new KEK yet.
        service_keys = ReloadingKeyring(world.keyring)
        created = await world.add_residents(service_keys, 300)
        old_kek = service_keys.current_kek_id()
        rotate_key_file(world.key_file)
        job_keys = world.keyring()
        new_kek = job_keys.current_kek_id()
        done = asyncio.Event()
        reads: list[int] = []
        failures: list[BaseException] = []

        async def reader(seed: int) -> None:
            pick = random.Random(seed)
            count = 0
            while not done.is_set():
                resident = pick.choice(created)
                try:
                    read = await view_resident(
                        world.new_uow(), service_keys, world.nurse, resident.id, clock.now()
                    )
                    assert read.details == resident.details
                    count += 1
                except Exception as exc:  # every failure is collected and fails the test below
                    failures.append(exc)
            reads.append(count)

        async def rotation() -> RotationProgress:
            try:
                return await rewrap_all(world.new_uow, job_keys, clock, batch_size=20)
            finally:
                done.set()

        readers = [asyncio.create_task(reader(seed)) for seed in range(4)]
        job = await rotation()
        await asyncio.gather(*readers)

        assert failures == []
        assert sum(reads) > 0 and all(reads)
        assert job.is_finished and job.rewrapped == 300 and job.skipped == 0 and job.batches == 16
        assert await kek_counts(world) == {new_kek: 300}
        assert service_keys.current_kek_id() == new_kek  # the service picked up the new KEK on its own
        report = await keys_report(world.new_uow(), job_keys.status())
        assert report.unfinished is None
        assert {u.kek_id: u.data_keys for u in report.usage} == {old_kek: 0, new_kek: 300}
        assert [u.kek_id for u in report.usage if u.may_be_removed] == [old_kek]
        await all_readable(world, job_keys, created[:10])
        async with world.new_uow().reading() as uow:
            actions = (
                await uow.session.scalars(
                    select(audit_events.c.action).where(audit_events.c.object_id == str(job.id))
                )
            ).all()
        assert actions == ["keys.rewrap.start", "keys.rewrap.end"]
        assert (await verify(world.new_uow())).ok


async def test_a_crashed_rotation_resumes_where_it_stopped(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    async with records_world(db_url, tmp_path, clock) as world:
        created = await world.add_residents(world.keyring(), 40)
        old_kek = world.keyring().current_kek_id()
        rotate_key_file(world.key_file)
        keys = world.keyring()
        new_kek = keys.current_kek_id()

        def crash_after_two_batches(job: RotationProgress) -> None:
            if job.batches == 2:
                raise Crash

        with pytest.raises(Crash):
            await rewrap_all(world.new_uow, keys, clock, batch_size=10, on_batch=crash_after_two_batches)

        async with world.new_uow().reading() as uow:
            saved = await uow.store(RotationStore).unfinished()
        assert saved is not None and not saved.is_finished
        assert (saved.batches, saved.rewrapped, saved.skipped, saved.target_kek_id) == (2, 20, 0, new_kek)
        assert await kek_counts(world) == {old_kek: 20, new_kek: 20}
        await all_readable(world, keys, created)  # half and half: everything still reads

        resumed = await rewrap_all(world.new_uow, keys, clock, batch_size=10)
        assert resumed.id == saved.id and resumed.is_finished
        assert (resumed.rewrapped, resumed.skipped) == (40, 0)
        assert await kek_counts(world) == {new_kek: 40}
        await all_readable(world, keys, created)

        again = await rewrap_all(world.new_uow, keys, clock, batch_size=10)  # nothing left: all skipped
        assert again.id != resumed.id and (again.rewrapped, again.skipped) == (0, 40)


async def test_a_data_key_under_a_kek_missing_from_the_keyring_stops_the_job_and_loses_nothing(
    db_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    async with records_world(db_url, tmp_path, clock) as world:
        keys = world.keyring()
        created = await world.add_residents(keys, 12)
        stray = LocalKeyring(
            [Kek("strayKEK42", 7, new_key(), datetime(2026, 1, 1, tzinfo=UTC))], "strayKEK42", keys.index_key
        )
        lost = (await world.add_residents(stray, 1, prefix="Stray"))[0]
        rotate_key_file(world.key_file)
        rotated = world.keyring()
        async with world.new_uow().reading() as uow:
            before = {row.id: row.wrapped for row in (await uow.session.execute(select(data_keys))).all()}
        stray_position = sorted(before).index(lost.id)

        with pytest.raises(MissingKek) as stopped:
            await rewrap_all(world.new_uow, rotated, clock, batch_size=3)
        assert stopped.value.kek_id == "strayKEK42" and "strayKEK42" in str(stopped.value)

        async with world.new_uow().reading() as uow:
            after = {row.id: row.wrapped for row in (await uow.session.execute(select(data_keys))).all()}
            job = await uow.store(RotationStore).unfinished()
        assert set(after) == set(before)  # no data key lost
        assert after[lost.id] == before[lost.id]
        assert job is not None and job.batches == stray_position // 3
        assert job.rewrapped == job.batches * 3
        await all_readable(world, rotated, created)
        await all_readable(world, stray, [lost])
        report = await keys_report(world.new_uow(), rotated.status())
        missing = [u for u in report.usage if not u.in_keyring]
        assert [(u.kek_id, u.data_keys) for u in missing] == [("strayKEK42", 1)]
        assert report.unfinished is not None and report.unfinished.id == job.id

"""What the scheduling store guarantees on its own, and how many queries its hot paths cost, on both
backends: the insert's overlap re-check, the longest appointment it accepts, and a slot search and a booking
whose number of statements does not grow with the number of experts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from records.residents import service as residents_service
from scheduling.model import MAX_APPOINTMENT_LENGTH
from scheduling.store import SchedulingStore
from teleconsult.identity.model import Role
from teleconsult.keys import ENGINE, KEYRING, PASSWORDS
from tests.factories import make_user
from tests.integration.conftest import Env
from tests.integration.test_scheduling import TUESDAY_2PM, book, booking, headers, new_resident, setup


@contextmanager
def statements(env: Env) -> Iterator[list[str]]:
    """The SQL statements the app runs inside the block (BEGIN and the like included)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    engine = env.app[ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def first_booking(env: Env) -> tuple[uuid.UUID, dict[str, Any]]:
    resident_id, expert_id = await setup(env)
    status, created = await book(env, booking(resident_id, expert_id))
    assert status == 201, created
    return resident_id, created


async def test_the_insert_re_checks_overlaps_with_the_expert_and_the_resident(env: Env) -> None:
    resident_id, created = await first_booking(env)
    other = await new_resident(env, "Bernard")
    async with env.uow() as uow:
        keys = env.app[KEYRING]
        store = uow.store(SchedulingStore)
        mine = await residents_service.dossier_key_in(uow, keys, resident_id)
        theirs = await residents_service.dossier_key_in(uow, keys, other)
        first = await store.get(uuid.UUID(created["id"]), {resident_id: mine})
        assert first is not None
        now = env.clock.now()
        # Another resident, the same expert, half an hour later: overlaps the expert's appointment.
        later = first.starts_at + timedelta(minutes=30)
        expert_overlap = replace(
            first, id=uuid.uuid4(), resident_id=other, starts_at=later, ends_at=later + timedelta(minutes=45)
        )
        assert not await store.add_if_free(expert_overlap, theirs, None, now)
        # The same resident with another expert at the same time: overlaps the resident's appointment.
        resident_overlap = replace(first, id=uuid.uuid4(), expert_id=env.territory.users[Role.SECRETARIAT].id)
        assert not await store.add_if_free(resident_overlap, mine, None, now)
        # Right after it: free.
        after = first.ends_at
        free = replace(
            first, id=uuid.uuid4(), resident_id=other, starts_at=after, ends_at=after + timedelta(minutes=45)
        )
        assert await store.add_if_free(free, theirs, None, now)
        await uow.commit()
    async with env.uow() as uow:
        store = uow.store(SchedulingStore)
        assert (
            len(await store.overlapping(expert_id=first.expert_id, start=first.starts_at, end=free.ends_at))
            == 2
        )


async def test_the_store_refuses_an_appointment_longer_than_the_longest_slot(env: Env) -> None:
    resident_id, created = await first_booking(env)
    async with env.uow() as uow:
        store = uow.store(SchedulingStore)
        key = await residents_service.dossier_key_in(uow, env.app[KEYRING], resident_id)
        first = await store.get(uuid.UUID(created["id"]), {resident_id: key})
        assert first is not None
        start = first.starts_at + timedelta(days=7)
        too_long = replace(
            first,
            id=uuid.uuid4(),
            starts_at=start,
            ends_at=start + MAX_APPOINTMENT_LENGTH + timedelta(minutes=1),
        )
        with pytest.raises(ValueError, match="at most 4 hours"):
            await store.add_if_free(too_long, key, None, env.clock.now())


async def add_experts(env: Env, count: int) -> None:
    """``count`` more experts of the care home's convention team, each with the afternoons."""
    await env.login(Role.SECRETARIAT)
    for n in range(count):
        expert = await make_user(
            env.uow,
            env.app[PASSWORDS],
            env.clock.now(),
            Role.EXPERT,
            env.territory.hospital,
            username=f"expert.more.{n}",
            department_id=env.territory.team_id,
        )
        response = await env.client.post(
            f"/api/v1/experts/{expert.id}/windows",
            json={
                "specialty": "geriatrie",
                "weekdays": [0, 1, 2, 3, 4],
                "start": "14:00",
                "end": "17:30",
                "valid_from": "2026-11-01",
            },
            headers=await headers(env),
        )
        assert response.status == 201, await response.text()


async def search_and_book(env: Env, resident_id: uuid.UUID, expert_id: uuid.UUID, at: str) -> tuple[int, int]:
    with statements(env) as seen:
        # Three slots: the afternoon's last three, whether one expert offers them or six.
        response = await env.client.get("/api/v1/slots?specialty=geriatrie&limit=3")
        assert response.status == 200 and len((await response.json())["slots"]) == 3
    searched = len(seen)
    with statements(env) as seen:
        status, created = await book(env, booking(resident_id, expert_id, at))
        assert status == 201, created
    return searched, len(seen)


async def test_slot_search_and_booking_cost_the_same_queries_with_one_expert_or_six(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    await env.client.get("/api/v1/slots?specialty=geriatrie")  # the session's first request warms caches
    alone = await search_and_book(env, resident_id, expert_id, TUESDAY_2PM)
    await add_experts(env, 5)
    await env.login(Role.IDE)
    await env.client.get("/api/v1/slots?specialty=geriatrie")
    many = await search_and_book(env, resident_id, expert_id, "2026-11-24T14:45:00+01:00")
    assert many == alone

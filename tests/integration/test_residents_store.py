"""ResidentStore.add_many on both backends: what it stores is what add stores, one resident at a time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from records.crypto import LocalKeyring
from records.residents.fields import name_token_indexes
from records.residents.model import (
    OID_TEST_NIR,
    IdentityStatus,
    IdentityTraits,
    Ins,
    InsTaken,
    Resident,
    ResidentDetails,
    Sex,
    name_words,
    nir_key,
)
from records.residents.store import ResidentStore, data_keys, resident_name_tokens, residents
from teleconsult.db import UnitOfWork, create_engine, create_session_factory
from teleconsult.identity.model import EstablishmentKind
from tests.factories import make_establishment

NOW = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
KEYS = LocalKeyring.generate()
Sessions = async_sessionmaker[AsyncSession]


def nir(first_13: str) -> str:
    return f"{first_13}{nir_key(first_13):02d}"


def details(birth_name: str, *, ins: Ins | None = None, used_name: str | None = None) -> ResidentDetails:
    traits = IdentityTraits(
        birth_name=birth_name,
        first_names=("Jeanne", "Marie"),
        sex=Sex.FEMALE,
        birth_date=date(1938, 4, 12),
        birth_place_code="78646",
        used_name=used_name,
    )
    status = IdentityStatus.QUALIFIEE if ins else IdentityStatus.PROVISOIRE
    return ResidentDetails(traits=traits, ins=ins, identity_status=status, room="12B")


def resident(ehpad_id: uuid.UUID, one: ResidentDetails, at: datetime = NOW) -> Resident:
    return Resident(uuid.uuid4(), ehpad_id, one, 1, at, at)


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(db_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def new_ehpad(sessions: Sessions) -> uuid.UUID:
    return (await make_establishment(lambda: UnitOfWork(sessions), NOW, EstablishmentKind.EHPAD)).id


async def add_many(sessions: Sessions, batch: list[Resident]) -> None:
    async with UnitOfWork(sessions) as uow:
        await uow.store(ResidentStore).add_many(batch, KEYS, NOW)
        await uow.commit()


async def test_residents_added_in_bulk_have_their_last_activity_so_retention_counts_from_it(
    sessions: Sessions,
) -> None:
    ehpad_id = await new_ehpad(sessions)
    earlier = NOW - timedelta(days=3)
    batch = [resident(ehpad_id, details("Dupont")), resident(ehpad_id, details("Martin"), earlier)]
    await add_many(sessions, batch)
    async with UnitOfWork(sessions).reading() as uow:
        stored = dict((await uow.session.execute(select(residents.c.id, residents.c.last_activity_at))).all())
        store = uow.store(ResidentStore)
        assert stored == {r.id: r.updated_at for r in batch}
        assert await store.count_inactive_since(NOW) == 1
        assert await store.ids_inactive_since(NOW, 10) == [batch[1].id]
        assert await store.count_inactive_since(NOW + timedelta(seconds=1)) == 2


async def test_add_many_stores_what_add_stores_one_by_one(
    sessions: Sessions,
) -> None:
    ehpad_id = await new_ehpad(sessions)
    people = [
        details("Dupont-Martin", ins=Ins(nir("2380478646123"), OID_TEST_NIR), used_name="Lefèvre"),
        details("Le Bœuf"),
        details("N'Diaye", used_name="Hélène Durand"),
    ]
    single = [resident(ehpad_id, one) for one in people]
    bulk = [resident(ehpad_id, replace(one, room="7")) for one in people[1:]]
    async with UnitOfWork(sessions) as uow:
        for one in single:
            await uow.store(ResidentStore).add(one, KEYS, NOW)
        await uow.commit()
    await add_many(sessions, bulk)

    async with UnitOfWork(sessions).reading() as uow:
        store = uow.store(ResidentStore)
        found = await store.list_for_ehpad(ehpad_id, KEYS, 10)
        assert {r.id: r for r in found} == {r.id: r for r in single + bulk}
        columns = select(
            residents.c.id,
            residents.c.data_key_id,
            residents.c.ins_index,
            residents.c.last_activity_at,
            residents.c.identity_status,
        )
        rows = {row.id: row for row in (await uow.session.execute(columns)).all()}
        tokens = (await uow.session.execute(select(resident_name_tokens))).all()
        keys_stored = await uow.session.scalar(select(func.count()).select_from(data_keys))
    assert keys_stored == len(single) + len(bulk)
    for one in single + bulk:
        row = rows[one.id]
        assert row.data_key_id == one.id and row.last_activity_at == one.updated_at
        assert row.identity_status == one.details.identity_status.value
        expected = name_token_indexes(KEYS.index_key, ehpad_id, one.details.traits)
        assert {t.token_hash for t in tokens if t.resident_id == one.id} == expected
    # The same person and name give the same blind indexes whichever way they were added.
    assert {t.token_hash for t in tokens if t.resident_id == single[1].id} == {
        t.token_hash for t in tokens if t.resident_id == bulk[0].id
    }
    assert rows[single[0].id].ins_index is not None and rows[single[1].id].ins_index is None
    async with UnitOfWork(sessions).reading() as uow:
        store = uow.store(ResidentStore)
        word = name_words("Le Bœuf")[1]
        hits = await store.ids_with_all_tokens(
            ehpad_id, name_token_indexes(KEYS.index_key, ehpad_id, details(word).traits), 10
        )
        assert set(hits) == {single[1].id, bulk[0].id}


async def test_add_many_refuses_an_ins_already_in_the_ehpad_and_saves_none_of_the_batch(
    sessions: Sessions,
) -> None:
    ehpad_id = await new_ehpad(sessions)
    ins = Ins(nir("2380478646123"), OID_TEST_NIR)
    await add_many(sessions, [resident(ehpad_id, details("Dupont", ins=ins))])
    with pytest.raises(InsTaken):
        await add_many(
            sessions, [resident(ehpad_id, details("Martin")), resident(ehpad_id, details("D", ins=ins))]
        )
    with pytest.raises(InsTaken):
        await add_many(
            sessions,
            [resident(ehpad_id, details("Alpha", ins=ins)), resident(ehpad_id, details("Beta", ins=ins))],
        )
    async with UnitOfWork(sessions).reading() as uow:
        assert await uow.store(ResidentStore).count() == 1
        assert await uow.session.scalar(select(func.count()).select_from(data_keys)) == 1


async def test_add_many_of_nobody_writes_nothing(
    sessions: Sessions,
) -> None:
    await add_many(sessions, [])
    async with UnitOfWork(sessions).reading() as uow:
        assert await uow.store(ResidentStore).count() == 0

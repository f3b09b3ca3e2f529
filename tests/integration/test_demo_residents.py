"""The demo's residents written through the residents service, on both backends: sealed, findable by name
by a nurse of their care home, and added only once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from records.audit.service import accesses_to
from records.residents.model import OID_TEST_NIR, check_details
from records.residents.service import count_residents
from records.residents.store import ResidentStore, residents
from teleconsult.demo_residents import seed_demo_residents
from teleconsult.identity.model import Role
from teleconsult.keys import KEYRING
from tests.integration.conftest import Env

API = "/api/v1/residents"


async def search(env: Env, query: str) -> list[dict[str, Any]]:
    response = await env.client.post(
        f"{API}/search", json={"q": query}, headers={"X-CSRF-Token": await env.csrf("/account")}
    )
    assert response.status == 200, await response.text()
    found: list[dict[str, Any]] = (await response.json())["residents"]
    return found


async def test_seeded_residents_are_valid_sealed_and_found_by_name_by_a_nurse(env: Env) -> None:
    now = env.clock.now()
    territory = env.territory
    added = await seed_demo_residents(env.uow, env.app[KEYRING], [territory.ehpad.id], now, per_ehpad=60)
    assert added == 60

    async with env.uow().reading() as uow:
        stored = await uow.store(ResidentStore).list_for_ehpad(territory.ehpad.id, env.app[KEYRING], 500)
        sealed_names = (await uow.session.execute(select(residents.c.birth_name))).scalars().all()
    assert len(stored) == 60
    for resident in stored:
        check_details(resident.details, now.date())
    ins = [r.details.ins for r in stored if r.details.ins is not None]
    assert ins and {i.oid for i in ins} == {OID_TEST_NIR}
    assert len({i.matricule for i in ins}) == len(ins)
    names = {r.details.traits.birth_name.encode() for r in stored}
    assert not any(name in blob for blob in sealed_names for name in names)  # ciphertext, not names

    await env.login(Role.IDE)
    listed = await env.client.get(API)
    assert len((await listed.json())["residents"]) == 60
    for resident in stored[:10]:
        traits = resident.details.traits
        for query in (traits.birth_name, traits.birth_name[:3], traits.used_name or traits.birth_name):
            assert str(resident.id) in {r["id"] for r in await search(env, query)}, query
    if ins:
        assert [r["ins_matricule"] for r in await search(env, ins[0].matricule)] == [ins[0].matricule]

    created = await accesses_to(env.uow(), "resident", str(stored[0].id))
    assert [(e.action, e.actor_id) for e in created] == [("resident.create", None)]


async def test_seeding_again_adds_nothing_and_another_care_homes_nurse_finds_none(env: Env) -> None:
    now = env.clock.now()
    keys, ehpad = env.app[KEYRING], env.territory.ehpad.id
    assert await seed_demo_residents(env.uow, keys, [ehpad], now, per_ehpad=20) == 20
    assert await seed_demo_residents(env.uow, keys, [ehpad], now, per_ehpad=20) == 0
    assert await count_residents(env.uow()) == 20

    await env.login(Role.IDE)
    async with env.uow().reading() as uow:
        first = (await uow.store(ResidentStore).list_for_ehpad(ehpad, keys, 1))[0]
    assert await search(env, first.details.traits.birth_name)
    await env.login(Role.EXPERT)
    refused = await env.client.post(
        f"{API}/search",
        json={"q": first.details.traits.birth_name},
        headers={"X-CSRF-Token": await env.csrf("/account")},
    )
    assert refused.status == 403

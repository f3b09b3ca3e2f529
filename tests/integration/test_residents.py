"""The residents registry through the JSON API, on both backends: round trips, access, audit, sealing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from records.audit.service import accesses_to
from records.crypto import IntegrityError
from records.residents.model import OID_TEST_NIR, UnreadableRecord, nir_key
from records.residents.store import ResidentStore, residents
from teleconsult.identity.model import Role
from teleconsult.keys import KEYRING, PASSWORDS
from tests.factories import PASSWORD, make_user
from tests.integration.conftest import Env

API = "/api/v1/residents"


def nir(first_13: str) -> str:
    return f"{first_13}{nir_key(first_13):02d}"


def resident_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "birth_name": "Dupont-Martin",
        "used_name": "Lefèvre",
        "first_names": ["Jeanne", "Marie"],
        "sex": "F",
        "birth_date": "1938-04-12",
        "birth_place_code": "78646",
        "ins_matricule": nir("2380478646123"),
        "ins_oid": OID_TEST_NIR,
        "identity_status": "qualifiee",
        "room": "12B",
        "treating_physician": "Dr Bernard",
        "contact_person": "Paul Lefèvre, 06 00 00 00 00",
    }
    body.update(changes)
    return body


async def headers(env: Env) -> dict[str, str]:
    return {"X-CSRF-Token": await env.csrf("/account")}


async def create(env: Env, **changes: Any) -> dict[str, Any]:
    response = await env.client.post(API, json=resident_body(**changes), headers=await headers(env))
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def test_nurse_creates_views_edits_and_searches_a_resident(env: Env) -> None:
    await env.login(Role.IDE)
    created = await create(env)
    assert created["birth_name"] == "Dupont-Martin" and created["version"] == 1

    got = await env.client.get(f"{API}/{created['id']}")
    assert got.status == 200
    assert await got.json() == created

    edited_body = resident_body(room="14", version=1)
    edited = await env.client.put(f"{API}/{created['id']}", json=edited_body, headers=await headers(env))
    assert edited.status == 200, await edited.text()
    assert (await edited.json())["room"] == "14" and (await edited.json())["version"] == 2

    stale = await env.client.put(f"{API}/{created['id']}", json=edited_body, headers=await headers(env))
    assert stale.status == 409
    assert "même temps" in (await stale.json())["message"]

    for query in ["dup", "DUPONT", "martin", "lefe", "Dupont mar", created["ins_matricule"]]:
        found = await env.client.post(f"{API}/search", json={"q": query}, headers=await headers(env))
        assert found.status == 200, query
        assert [r["id"] for r in (await found.json())["residents"]] == [created["id"]], query
    for query in ["dupx", "jeanne", "xyz", nir("1450175056123")]:
        found = await env.client.post(f"{API}/search", json={"q": query}, headers=await headers(env))
        assert (await found.json())["residents"] == [], query
    listed = await env.client.get(API)
    assert [r["id"] for r in (await listed.json())["residents"]] == [created["id"]]


async def test_invalid_ins_key_and_traits_get_422_in_french(env: Env) -> None:
    await env.login(Role.IDEC)
    wrong_key = resident_body(ins_matricule="238047864612300")
    response = await env.client.post(API, json=wrong_key, headers=await headers(env))
    assert response.status == 422
    assert "clé" in (await response.json())["fields"]["ins"]
    mismatch = resident_body(sex="M")
    response = await env.client.post(API, json=mismatch, headers=await headers(env))
    assert response.status == 422 and "sex" in (await response.json())["fields"]
    response = await env.client.post(API, json={"birth_name": 3}, headers=await headers(env))
    assert response.status == 422
    response = await env.client.post(API, data=b"{", headers=await headers(env))
    assert response.status == 400


async def test_the_same_ins_twice_in_one_care_home_is_a_conflict(env: Env) -> None:
    await env.login(Role.IDE)
    await create(env)
    response = await env.client.post(API, json=resident_body(), headers=await headers(env))
    assert response.status == 409


async def test_another_care_homes_nurse_gets_404_and_an_expert_403(env: Env) -> None:
    await env.login(Role.IDE)
    created = await create(env)
    env.client.session.cookie_jar.clear()
    stranger = await make_user(
        env.uow,
        env.app[PASSWORDS],
        env.clock.now(),
        Role.IDE,
        env.territory.other_ehpad,
        "ide.other",
    )
    token = await env.csrf()
    await env.client.post(
        "/login", data={"csrf_token": token, "username": stranger.username, "password": PASSWORD}
    )
    assert (await env.client.get(f"{API}/{created['id']}")).status == 404
    put = await env.client.put(
        f"{API}/{created['id']}", json=resident_body(version=1), headers=await headers(env)
    )
    assert put.status == 404
    assert (await env.client.get(API, params={"q": "dup"})).status == 400  # never a search in a URL
    assert (
        await (await env.client.post(f"{API}/search", json={"q": "dup"}, headers=await headers(env))).json()
    )["residents"] == []

    env.client.session.cookie_jar.clear()
    await env.login(Role.EXPERT)
    assert (await env.client.get(f"{API}/{created['id']}")).status == 403
    assert (await env.client.get(API)).status == 403


async def test_reads_and_writes_are_in_the_audit_trail_with_ids_only(env: Env) -> None:
    await env.login(Role.MEDECIN_CO)
    created = await create(env)
    await env.client.get(f"{API}/{created['id']}")
    await env.client.put(f"{API}/{created['id']}", json=resident_body(version=1), headers=await headers(env))
    events = await accesses_to(env.uow(), "resident", created["id"])
    assert [e.action for e in events] == ["resident.update", "resident.read", "resident.create"]
    user = env.territory.users[Role.MEDECIN_CO]
    assert all(e.actor_id == user.id and e.establishment_id == user.establishment_id for e in events)


async def test_a_ciphertext_copied_to_another_resident_fails_to_decrypt(env: Env) -> None:
    await env.login(Role.IDE)
    first = await create(env)
    second = await create(
        env, birth_name="Canarde", ins_matricule=nir("1450175056123"), sex="M", birth_date="1945-01-20"
    )
    first_id, second_id = uuid.UUID(first["id"]), uuid.UUID(second["id"])
    async with env.uow() as uow:
        sealed = await uow.session.scalar(select(residents.c.birth_name).where(residents.c.id == first_id))
        await uow.session.execute(
            update(residents).where(residents.c.id == second_id).values(birth_name=sealed)
        )
        await uow.commit()
    async with env.uow() as uow:
        with pytest.raises(UnreadableRecord) as caught:
            await uow.store(ResidentStore).get(second_id, env.app[KEYRING])
    assert isinstance(caught.value.__cause__, IntegrityError)
    response = await env.client.get(f"{API}/{second_id}")
    assert response.status == 500
    body = await response.json()
    assert body["message"] == "Dossier illisible : contactez l'administrateur."
    assert "Dupont" not in await response.text()

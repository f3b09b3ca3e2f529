"""The residents' pages, as a care-home nurse uses them on both backends: create through the form, list,
search, read, edit (and the stale edit), form errors in French, and another care home's resident hidden."""

from __future__ import annotations

import re
from typing import Any

from records.residents.model import OID_TEST_NIR
from teleconsult.identity.model import Role
from teleconsult.keys import PASSWORDS
from tests.factories import PASSWORD, make_user
from tests.integration.conftest import Env
from tests.integration.test_residents import nir

RESIDENT_PATH = re.compile(r"^/residents/([0-9a-f-]{36})$")


def form(**changes: str) -> dict[str, str]:
    data = {
        "birth_name": "Dupont-Martin",
        "used_name": "Lefèvre",
        "first_names": "Jeanne Marie",
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
    data.update(changes)
    return data


async def post(env: Env, path: str, data: dict[str, str]) -> Any:
    return await env.post_form(path, data, page="/residents")


async def create(env: Env, **changes: str) -> str:
    response = await post(env, "/residents", form(**changes))
    assert response.status == 303, await response.text()
    match = RESIDENT_PATH.match(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


async def test_a_nurse_creates_a_resident_and_finds_it_in_the_list_its_page_and_a_search(env: Env) -> None:
    await env.login(Role.IDE)
    empty = await env.client.get("/residents")
    assert empty.status == 200
    assert "Aucun résident" in await empty.text()

    new_page = await env.client.get("/residents/new")
    assert new_page.status == 200
    assert f'value="{OID_TEST_NIR}" selected' in await new_page.text()  # the test OID by default in demo

    resident_id = await create(env)
    listed = await (await env.client.get("/residents")).text()
    assert "Dupont-Martin" in listed and "12/04/1938" in listed and "Qualifiée" in listed
    assert f"/residents/{resident_id}" in listed

    card = await env.client.get(f"/residents/{resident_id}")
    assert card.status == 200
    text = await card.text()
    assert "Dupont-Martin" in text and "Jeanne Marie" in text and form()["ins_matricule"] in text
    assert f"/residents/{resident_id}/edit" in text

    found = await post(env, "/residents/search", {"q": "dup mar"})
    assert found.status == 200
    found_text = await found.text()
    assert f"/residents/{resident_id}" in found_text and "1 résident trouvé" in found_text
    missed = await post(env, "/residents/search", {"q": "xyz"})
    assert missed.status == 200 and f"/residents/{resident_id}" not in await missed.text()


async def test_the_ins_is_shown_only_once_the_identity_is_qualified(env: Env) -> None:
    await env.login(Role.IDE)
    resident_id = await create(env, identity_status="validee")
    text = await (await env.client.get(f"/residents/{resident_id}")).text()
    assert form()["ins_matricule"] not in text
    assert "ne peut pas encore" in text or "ne pourra" in text


async def test_a_bad_ins_key_gives_422_in_french_and_keeps_what_was_typed(env: Env) -> None:
    await env.login(Role.IDE)
    response = await post(env, "/residents", form(ins_matricule="238047864612300", room="7A"))
    assert response.status == 422
    text = await response.text()
    assert "La clé de ce INS" in text or "clé" in text
    assert 'id="f-ins_matricule-error"' in text
    assert 'value="238047864612300"' in text and 'value="Dupont-Martin"' in text and 'value="7A"' in text
    assert (await env.client.get("/residents")).status == 200
    assert "Dupont-Martin" not in await (await env.client.get("/residents")).text()


async def test_an_edit_saves_and_a_stale_edit_gets_409(env: Env) -> None:
    await env.login(Role.IDEC)
    resident_id = await create(env)
    edit_page = await env.client.get(f"/residents/{resident_id}/edit")
    assert edit_page.status == 200
    assert 'name="version" value="1"' in await edit_page.text()

    saved = await post(env, f"/residents/{resident_id}/edit", form(room="14", version="1"))
    assert saved.status == 303 and saved.headers["Location"] == f"/residents/{resident_id}"
    assert "14" in await (await env.client.get(f"/residents/{resident_id}")).text()

    stale = await post(env, f"/residents/{resident_id}/edit", form(room="15", version="1"))
    assert stale.status == 409
    text = await stale.text()
    assert "Quelqu'un a modifié ce dossier entre-temps" in text.replace("&#39;", "'")
    assert f"/residents/{resident_id}/edit" in text


async def test_another_care_homes_nurse_gets_404_and_an_expert_403(env: Env) -> None:
    await env.login(Role.IDE)
    resident_id = await create(env)
    env.client.session.cookie_jar.clear()
    stranger = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.other_ehpad, "ide.other"
    )
    token = await env.csrf()
    await env.client.post(
        "/login", data={"csrf_token": token, "username": stranger.username, "password": PASSWORD}
    )
    assert (await env.client.get(f"/residents/{resident_id}")).status == 404
    assert (await env.client.get(f"/residents/{resident_id}/edit")).status == 404
    update = await post(env, f"/residents/{resident_id}/edit", form(version="1"))
    assert update.status == 404
    assert f"/residents/{resident_id}" not in await (await env.client.get("/residents")).text()

    env.client.session.cookie_jar.clear()
    await env.login(Role.EXPERT)
    assert (await env.client.get(f"/residents/{resident_id}")).status == 403
    assert (await env.client.get("/residents")).status == 403

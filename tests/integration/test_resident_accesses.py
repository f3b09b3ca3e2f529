"""Who accessed a resident's record, on both backends: the médecin coordonnateur of the resident's care
home sees every access, named, in Paris time, newest first and paginated; nobody else sees it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from records.audit.service import accesses_to
from records.residents import service
from records.residents.model import OID_TEST_NIR, nir_key
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Principal
from teleconsult.keys import KEYRING, PASSWORDS
from tests.factories import PASSWORD, make_user
from tests.integration.conftest import Env

API = "/api/v1/residents"


async def create_resident(env: Env) -> str:
    first_13 = "2380478646123"
    body: dict[str, Any] = {
        "birth_name": "Dupont-Martin",
        "first_names": ["Jeanne"],
        "sex": "F",
        "birth_date": "1938-04-12",
        "birth_place_code": "78646",
        "ins_matricule": f"{first_13}{nir_key(first_13):02d}",
        "ins_oid": OID_TEST_NIR,
        "identity_status": "qualifiee",
    }
    response = await env.client.post(API, json=body, headers={"X-CSRF-Token": await env.csrf("/account")})
    assert response.status == 201, await response.text()
    resident_id: str = (await response.json())["id"]
    return resident_id


async def test_the_medecin_co_sees_that_a_nurse_opened_the_record(env: Env) -> None:
    await env.login(Role.IDE)
    resident_id = await create_resident(env)
    env.clock.advance(timedelta(minutes=7))
    assert (await env.client.get(f"/residents/{resident_id}")).status == 200

    await env.login(Role.MEDECIN_CO)
    view = await env.client.get(f"/residents/{resident_id}")
    assert f"/residents/{resident_id}/accesses" in await view.text()  # the link, for the médecin co

    page = await env.client.get(f"/residents/{resident_id}/accesses")
    html = await page.text()
    assert page.status == 200, html
    nurse = env.territory.users[Role.IDE]
    assert nurse.display_name in html and "EHPAD Test" in html
    assert "A ouvert le dossier" in html and "A créé le dossier" in html
    assert "Infirmier(ère) d'EHPAD (IDE)" in html
    assert "14:37" in html and "14:30" in html  # 13:37 UTC is 14:37 in Paris in November
    assert html.index("14:37") < html.index("14:30")  # newest first

    answer = await env.client.get(f"{API}/{resident_id}/accesses")
    assert answer.status == 200
    accesses = (await answer.json())["accesses"]
    # Newest first: this very read, the page above, the médecin co's and the nurse's reads of the page (the
    # record, then the list of its documents), the creation.
    assert [a["action"] for a in accesses] == [
        "resident.accesses",
        "resident.accesses",
        "document.list",
        "resident.read",
        "document.list",
        "resident.read",
        "resident.create",
    ]
    assert accesses[5]["user_name"] == nurse.display_name and accesses[5]["role"] == "ide"
    assert accesses[5]["establishment_name"] == "EHPAD Test" and accesses[5]["outcome"] == "success"
    assert accesses[0]["user_id"] == str(env.territory.users[Role.MEDECIN_CO].id)


async def test_nurses_and_the_idec_get_403_and_no_link(env: Env) -> None:
    await env.login(Role.IDE)
    resident_id = await create_resident(env)
    for role in (Role.IDE, Role.IDEC):
        await env.login(role)
        assert (
            f"/residents/{resident_id}/accesses"
            not in await (await env.client.get(f"/residents/{resident_id}")).text()
        )
        assert (await env.client.get(f"/residents/{resident_id}/accesses")).status == 403
        assert (await env.client.get(f"{API}/{resident_id}/accesses")).status == 403
    events = await accesses_to(env.uow(), "resident", resident_id)
    assert "resident.accesses" not in {e.action for e in events}


async def test_another_care_homes_medecin_co_gets_404(env: Env) -> None:
    await env.login(Role.IDE)
    resident_id = await create_resident(env)
    other = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.MEDECIN_CO, env.territory.other_ehpad
    )
    login = {"csrf_token": await env.csrf(), "username": other.username, "password": PASSWORD}
    assert (await env.client.post("/login", data=login, allow_redirects=False)).status == 303
    assert (await env.client.get(f"/residents/{resident_id}/accesses")).status == 404
    assert (await env.client.get(f"{API}/{resident_id}/accesses")).status == 404


async def test_a_long_list_comes_in_pages_newest_first(env: Env) -> None:
    await env.login(Role.IDE)
    resident_id = await create_resident(env)
    rid, now = UUID(resident_id), env.clock.now()
    nurse = Principal(env.territory.users[Role.IDE], second_factor_done=True)
    for _ in range(7):
        await service.view_resident(env.uow(), env.app[KEYRING], nurse, rid, now)
    medco = Principal(env.territory.users[Role.MEDECIN_CO], second_factor_done=True)
    first = await service.list_record_accesses(env.uow(), medco, rid, now, page_size=4)
    assert len(first.accesses) == 4 and first.older_than is not None
    second = await service.list_record_accesses(
        env.uow(), medco, rid, now, older_than=first.older_than, page_size=4
    )
    third = await service.list_record_accesses(
        env.uow(), medco, rid, now, older_than=second.older_than, page_size=4
    )
    actions = [a.action for page in (first, second, third) for a in page.accesses]
    assert third.older_than is None
    # 1 creation, 7 reads, then the first list's own event (the later two lists are newer than page one).
    assert actions == ["resident.accesses", *["resident.read"] * 7, "resident.create"]

    await env.login(Role.MEDECIN_CO)
    older = await env.client.get(f"/residents/{resident_id}/accesses?older_than={first.older_than}")
    assert older.status == 200
    bad = await env.client.get(f"{API}/{resident_id}/accesses?older_than=zero")
    assert bad.status == 422

"""The admin creates establishments, teams, conventions and accounts, and deactivates accounts."""

from __future__ import annotations

from aiohttp import ClientResponse

from teleconsult.identity import service
from teleconsult.identity.model import DepartmentKind, EstablishmentKind, Role
from teleconsult.identity.store import IdentityStore
from tests.integration.conftest import Env


async def post(env: Env, path: str, data: dict[str, str], page: str) -> ClientResponse:
    token = await env.csrf(page)
    return await env.client.post(path, data={"csrf_token": token, **data}, allow_redirects=False)


async def test_admin_creates_a_care_home_and_sees_its_page(env: Env) -> None:
    await env.login(Role.ADMIN)
    response = await post(
        env,
        "/admin/establishments",
        {
            "kind": "ehpad",
            "name": "EHPAD Les Érables",
            "finess": "78 9123456",
            "address": "Buc",
            "bed_count": "72",
        },
        "/admin/establishments",
    )
    assert response.status == 303
    page = await env.client.get(response.headers["Location"])
    assert "EHPAD Les Érables" in await page.text()
    async with env.uow() as uow:
        created = [e for e in await uow.store(IdentityStore).list_establishments() if e.finess == "789123456"]
    assert created and created[0].kind is EstablishmentKind.EHPAD and created[0].bed_count == 72


async def test_care_home_without_finess_gets_422_with_the_form_kept(env: Env) -> None:
    await env.login(Role.ADMIN)
    response = await post(
        env,
        "/admin/establishments",
        {"kind": "ehpad", "name": "EHPAD Sans Numéro", "bed_count": "40"},
        "/admin/establishments",
    )
    assert response.status == 422
    body = await response.text()
    assert "EHPAD Sans Numéro" in body  # what the admin typed is not lost
    assert 'aria-invalid="true"' in body


async def test_duplicate_finess_gets_409(env: Env) -> None:
    await env.login(Role.ADMIN)
    response = await post(
        env,
        "/admin/establishments",
        {"kind": "ehpad", "name": "Doublon", "finess": env.territory.ehpad.finess or "", "bed_count": "40"},
        "/admin/establishments",
    )
    assert response.status == 409


async def test_admin_creates_an_expert_who_can_then_log_in(env: Env) -> None:
    await env.login(Role.ADMIN)
    response = await post(
        env,
        "/admin/users",
        {
            "display_name": "Dr Jeanne Nouvelle",
            "username": "jeanne.nouvelle",
            "role": "expert",
            "establishment_id": str(env.territory.hospital.id),
            "specialties": "geriatrie",
            "password": "une phrase de passe solide",
        },
        "/admin/users",
    )
    assert response.status == 303
    env.client.session.cookie_jar.clear()
    token = await env.csrf()
    login = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": "jeanne.nouvelle", "password": "une phrase de passe solide"},
    )
    assert login.url.path == "/expert"
    assert "Dr Jeanne Nouvelle" in await login.text()


async def test_nurse_account_in_a_hospital_is_refused_and_password_not_echoed(env: Env) -> None:
    await env.login(Role.ADMIN)
    response = await post(
        env,
        "/admin/users",
        {
            "display_name": "Mauvais Rattachement",
            "username": "mauvais",
            "role": "ide",
            "establishment_id": str(env.territory.hospital.id),
            "password": "une phrase de passe solide",
        },
        "/admin/users",
    )
    assert response.status == 422
    assert "une phrase de passe solide" not in await response.text()


async def test_deactivated_account_cannot_log_in_and_admin_cannot_deactivate_self(env: Env) -> None:
    await env.login(Role.ADMIN)
    nurse = env.territory.users[Role.IDE]
    response = await post(env, f"/admin/users/{nurse.id}/deactivate", {}, "/admin/users")
    assert response.status == 303
    admin = env.territory.users[Role.ADMIN]
    self_response = await post(env, f"/admin/users/{admin.id}/deactivate", {}, "/admin/users")
    assert self_response.status == 403
    env.client.session.cookie_jar.clear()
    token = await env.csrf()
    login = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": nurse.username, "password": "correct horse battery staple"},
    )
    assert login.status == 401


async def test_convention_links_a_care_home_to_a_hospital_team(env: Env) -> None:
    team = await service.add_department(
        env.uow(),
        None,
        env.territory.hospital.id,
        "Équipe mobile",
        DepartmentKind.MOBILE_GERIATRIC_TEAM,
        env.clock.now(),
    )
    await env.login(Role.ADMIN)
    path = f"/admin/establishments/{env.territory.other_ehpad.id}/conventions"
    response = await post(env, path, {"department_id": str(team.id)}, "/admin/establishments")
    assert response.status == 303
    again = await post(env, path, {"department_id": str(team.id)}, "/admin/establishments")
    assert again.status == 422


async def test_nurse_sees_her_own_care_home_but_not_another(env: Env) -> None:
    await env.login(Role.IDE)
    own = await env.client.get(f"/establishments/{env.territory.ehpad.id}")
    assert own.status == 200
    assert "Gériatrie" in await own.text()  # the hospital team under convention
    other = await env.client.get(f"/establishments/{env.territory.other_ehpad.id}")
    assert other.status == 404
    malformed = await env.client.get("/establishments/not-a-uuid")
    assert malformed.status == 404


async def test_a_refused_account_form_keeps_the_ticked_specialties(env: Env) -> None:
    await env.login(Role.ADMIN)
    response = await post(
        env,
        "/admin/users",
        {
            "display_name": "Dr Sans Identifiant",
            "username": "",
            "role": "expert",
            "establishment_id": str(env.territory.hospital.id),
            "specialties": "nutrition",
            "password": "une phrase de passe solide",
        },
        "/admin/users",
    )
    assert response.status == 422
    assert 'value="nutrition" checked' in await response.text()


async def test_an_expert_joins_a_team_of_their_own_hospital_only(env: Env) -> None:
    other_hospital = await service.create_establishment(
        env.uow(), None, EstablishmentKind.HOSPITAL, "CH Ailleurs", "789777771", "", None, env.clock.now()
    )
    foreign_team = await service.add_department(
        env.uow(),
        None,
        other_hospital.id,
        "Gériatrie ailleurs",
        DepartmentKind.GERIATRIC_WARD,
        env.clock.now(),
    )
    await env.login(Role.ADMIN)
    base = {
        "display_name": "Dr Équipe",
        "role": "expert",
        "establishment_id": str(env.territory.hospital.id),
        "specialties": "geriatrie",
        "password": "une phrase de passe solide",
    }
    refused = await post(
        env,
        "/admin/users",
        {**base, "username": "dr.equipe1", "department_id": str(foreign_team.id)},
        "/admin/users",
    )
    assert refused.status == 422
    assert "équipe" in (await refused.text()).lower()
    async with env.uow() as uow:
        teams = await uow.store(IdentityStore).list_departments(env.territory.hospital.id)
    accepted = await post(
        env,
        "/admin/users",
        {**base, "username": "dr.equipe2", "department_id": str(teams[0].id)},
        "/admin/users",
    )
    assert accepted.status == 303
    async with env.uow() as uow:
        created = await uow.store(IdentityStore).get_user_by_username("dr.equipe2")
    assert created is not None and created.department_id == teams[0].id

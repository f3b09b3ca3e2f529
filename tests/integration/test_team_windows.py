"""Windows published for a whole hospital team (issue 5: "windows per expert or team"), on both backends:
the secretariat publishes the team's afternoons once, every expert of the team who practises the specialty
gets a copy and is offered to care homes, one copy can be removed alone, the whole publication at once;
experts may publish only their own windows; another hospital's secretariat does not see the team."""

from __future__ import annotations

import uuid
from html import unescape
from typing import Any

from sqlalchemy import select

from records.audit.store import audit_events
from teleconsult.identity.model import EstablishmentKind, Role, Specialty
from teleconsult.keys import PASSWORDS
from tests.factories import PASSWORD, make_establishment, make_user
from tests.integration.conftest import Env
from tests.integration.test_scheduling import book, booking, headers, new_resident

AFTERNOONS = {
    "specialty": "geriatrie",
    "weekdays": [0, 1, 2, 3, 4],
    "start": "14:00",
    "end": "17:30",
    "valid_from": "2026-11-01",
}


async def colleagues(env: Env) -> tuple[Any, Any]:
    """Two more experts of the care home's convention team: one geriatrician, one wound specialist only."""
    make = (env.uow, env.app[PASSWORDS], env.clock.now(), Role.EXPERT, env.territory.hospital)
    geriatrician = await make_user(*make, username="second.geriatre", department_id=env.territory.team_id)
    wounds = await make_user(
        *make,
        username="plaies.only",
        department_id=env.territory.team_id,
        specialties=frozenset({Specialty.PLAIES}),
    )
    return geriatrician, wounds


async def publish_for_team(env: Env, expert_id: uuid.UUID) -> Any:
    return await env.client.post(
        f"/api/v1/experts/{expert_id}/windows", json={**AFTERNOONS, "team": True}, headers=await headers(env)
    )


async def windows_of(env: Env, expert_id: uuid.UUID) -> list[dict[str, Any]]:
    response = await env.client.get(f"/api/v1/experts/{expert_id}/availability")
    assert response.status == 200, await response.text()
    found: list[dict[str, Any]] = (await response.json())["windows"]
    return found


async def test_the_secretariat_publishes_the_team_s_afternoons_once_and_each_expert_is_offered(
    env: Env,
) -> None:
    second, wounds = await colleagues(env)
    first = env.territory.users[Role.EXPERT]
    await env.login(Role.SECRETARIAT)
    response = await publish_for_team(env, first.id)
    assert response.status == 201, await response.text()
    mine = await response.json()
    assert mine["expert_id"] == str(first.id) and mine["team_id"] == str(env.territory.team_id)
    theirs = await windows_of(env, second.id)
    assert [w["team_window_id"] for w in theirs] == [mine["team_window_id"]]
    assert await windows_of(env, wounds.id) == []  # not a geriatrician: no copy
    async with env.uow().reading() as uow:
        rows = await uow.session.execute(
            select(audit_events.c.object_id).where(audit_events.c.action == "availability.window.add")
        )
        assert len(rows.all()) == 2  # one event per copy

    # The nurse sees both geriatricians at the first free time, and books the second one.
    resident_id = await new_resident(env)
    await env.login(Role.IDE)
    slots = (await (await env.client.get("/api/v1/slots?specialty=geriatrie&limit=4")).json())["slots"]
    assert {slot["expert_id"] for slot in slots[:2]} == {str(first.id), str(second.id)}
    assert slots[0]["local_start"] == slots[1]["local_start"]
    status, created = await book(env, booking(resident_id, second.id))
    assert status == 201, created


async def test_one_copy_is_removed_alone_then_the_whole_team_s_window_at_once(env: Env) -> None:
    second, _ = await colleagues(env)
    first = env.territory.users[Role.EXPERT]
    await env.login(Role.SECRETARIAT)
    mine = await (await publish_for_team(env, first.id)).json()
    copy = (await windows_of(env, second.id))[0]

    # The second geriatrician is not there on these afternoons: only their copy goes.
    removed = await env.client.delete(f"/api/v1/windows/{copy['id']}", headers=await headers(env))
    assert removed.status == 204
    assert await windows_of(env, second.id) == []
    assert len(await windows_of(env, first.id)) == 1

    garbage = await env.client.delete(f"/api/v1/windows/{mine['id']}?team=yes", headers=await headers(env))
    assert garbage.status == 422
    assert (await garbage.json())["fields"]["team"]
    whole = await env.client.delete(f"/api/v1/windows/{mine['id']}?team=true", headers=await headers(env))
    assert whole.status == 204
    assert await windows_of(env, first.id) == []

    # A window of one expert alone cannot be removed "for the team".
    await env.login(Role.EXPERT)
    alone = await (
        await env.client.post(
            f"/api/v1/experts/{first.id}/windows", json=AFTERNOONS, headers=await headers(env)
        )
    ).json()
    await env.login(Role.SECRETARIAT)
    refused = await env.client.delete(f"/api/v1/windows/{alone['id']}?team=true", headers=await headers(env))
    assert refused.status == 422
    assert "pour cet expert seul" in (await refused.json())["message"] + str((await refused.json())["fields"])


async def test_an_expert_publishes_their_own_windows_not_the_team_s(env: Env) -> None:
    await colleagues(env)
    first = env.territory.users[Role.EXPERT]
    await env.login(Role.EXPERT)
    response = await publish_for_team(env, first.id)
    assert response.status == 403
    body = await response.json()
    assert body["error"] and body["message"]
    assert await windows_of(env, first.id) == []  # nothing half-published


async def test_a_team_flag_that_is_not_a_boolean_is_refused_with_a_message(env: Env) -> None:
    await env.login(Role.SECRETARIAT)
    first = env.territory.users[Role.EXPERT]
    response = await env.client.post(
        f"/api/v1/experts/{first.id}/windows", json={**AFTERNOONS, "team": "oui"}, headers=await headers(env)
    )
    assert response.status == 422
    assert (await response.json())["fields"]["team"] == "Indiquez true ou false."


async def test_another_hospital_s_secretariat_does_not_see_the_team(env: Env) -> None:
    other = await make_establishment(env.uow, env.clock.now(), EstablishmentKind.HOSPITAL, "Autre CHU")
    await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.SECRETARIAT, other, username="secretariat.other"
    )
    token = await env.csrf()
    logged_in = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": "secretariat.other", "password": PASSWORD},
        allow_redirects=False,
    )
    assert logged_in.status == 303
    response = await publish_for_team(env, env.territory.users[Role.EXPERT].id)
    assert response.status == 404


async def test_the_availability_page_offers_the_team_and_marks_its_windows(env: Env) -> None:
    second, _ = await colleagues(env)
    first = env.territory.users[Role.EXPERT]
    await env.login(Role.SECRETARIAT)
    page = unescape(await (await env.client.get(f"/availability?expert={first.id}")).text())
    assert "Pour toute l'équipe" in page
    form = [
        ("csrf_token", await env.csrf("/availability")),
        ("expert_id", str(first.id)),
        ("specialty", "geriatrie"),
        ("weekdays", "1"),
        ("weekdays", "3"),
        ("start", "14:00"),
        ("end", "16:15"),
        ("consultation_minutes", "30"),
        ("report_minutes", "15"),
        ("valid_from", "2026-11-01"),
        ("for_team", "1"),
    ]
    response = await env.client.post("/availability/windows", data=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    page = unescape(await (await env.client.get(f"/availability?expert={second.id}")).text())
    assert "Équipe" in page and "Retirer pour toute l'équipe" in page
    await env.login(Role.EXPERT)
    own = unescape(await (await env.client.get("/availability")).text())
    assert "Pour toute l'équipe" not in own and "Retirer pour toute l'équipe" not in own


async def test_an_expert_who_joins_the_team_later_is_given_its_windows(env: Env) -> None:
    first = env.territory.users[Role.EXPERT]
    await env.login(Role.SECRETARIAT)
    mine = await (await publish_for_team(env, first.id)).json()
    newcomer, _ = await colleagues(env)  # joins after the publication: no copy yet
    assert await windows_of(env, newcomer.id) == []
    page = unescape(await (await env.client.get(f"/availability?expert={newcomer.id}")).text())
    assert "Plages de l'équipe que cet expert n'a pas" in page
    publication = mine["team_window_id"]
    url = f"/api/v1/experts/{newcomer.id}/team-windows/{publication}"
    given = await env.client.post(url, headers=await headers(env))
    assert given.status == 201, await given.text()
    copy = await given.json()
    assert copy["team_window_id"] == publication and copy["expert_id"] == str(newcomer.id)
    again = await env.client.post(url, headers=await headers(env))
    assert again.status == 422  # has it already: nothing doubled
    assert len(await windows_of(env, newcomer.id)) == 1
    page = unescape(await (await env.client.get(f"/availability?expert={newcomer.id}")).text())
    assert "Plages de l'équipe que cet expert n'a pas" not in page
    # Removing the team's window now removes the newcomer's copy too.
    whole = await env.client.delete(f"/api/v1/windows/{mine['id']}?team=true", headers=await headers(env))
    assert whole.status == 204
    assert await windows_of(env, newcomer.id) == []
    missing = await env.client.post(url, headers=await headers(env))
    assert missing.status == 404

"""Tele-expertise through the JSON API, on both backends: submit, queue, claim (and its race), answer,
withdraw, conversion into a teleconsultation, late flags, notifications, access and audit."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy import select

from records.audit.service import accesses_to
from scheduling.expertise.store import expertise_requests
from teleconsult.identity.model import Role, Specialty, User
from teleconsult.keys import PASSWORDS
from tests.factories import PASSWORD, make_user
from tests.integration.conftest import Env
from tests.integration.test_scheduling import headers, new_resident, publish_afternoons

# The fixed clock is Monday 23 November 2026, 14:30 in Paris.
TOMORROW_6PM = "2026-11-24T18:00:00+01:00"
WEDNESDAY_NOON = "2026-11-25T12:00:00+01:00"
QUESTION = "Plaie talonnière qui ne cicatrise pas : quel pansement ?"
CONTEXT = "Escarre stade 2 depuis 3 semaines, diabétique, albumine 30 g/L."
ALREADY_CLAIMED = "Cette demande vient d'être prise en charge par un autre expert."


def request_body(resident_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resident_id": str(resident_id),
        "specialty": "geriatrie",
        "level": 1,
        "urgency": "non_urgente",
        "reason": "plaie",
        "wished_deadline": TOMORROW_6PM,
        "question": QUESTION,
        "context": CONTEXT,
        "consent_given_by": "resident",
        "consent_given_on": "2026-11-23",
        "consent_method": "oral",
        "physician_agreement": True,
    }
    body.update(changes)
    return body


async def submit(env: Env, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await env.client.post("/api/v1/expertise", json=body, headers=await headers(env))
    payload: dict[str, Any] = await response.json()
    return response.status, payload


async def submitted(env: Env, **changes: Any) -> dict[str, Any]:
    """A resident of the test care home and a request about them, sent by its nurse."""
    resident_id = await new_resident(env)
    await env.login(Role.IDE)
    status, created = await submit(env, request_body(resident_id, **changes))
    assert status == 201, created
    return created


async def login_as(env: Env, user: User) -> None:
    env.client.session.cookie_jar.clear()
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": user.username, "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303


async def post(env: Env, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await env.client.post(path, json=body, headers=await headers(env))
    payload: dict[str, Any] = await response.json()
    return response.status, payload


async def queue(env: Env) -> dict[str, Any]:
    response = await env.client.get("/api/v1/expertise/queue")
    assert response.status == 200, await response.text()
    payload: dict[str, Any] = await response.json()
    return payload


async def care_home_list(env: Env) -> list[dict[str, Any]]:
    response = await env.client.get("/api/v1/expertise")
    assert response.status == 200, await response.text()
    requests: list[dict[str, Any]] = (await response.json())["requests"]
    return requests


async def expert(env: Env, username: str, **changes: Any) -> User:
    """Another expert of the test hospital (by default in the team under convention, geriatrics)."""
    return await make_user(
        env.uow,
        env.app[PASSWORDS],
        env.clock.now(),
        Role.EXPERT,
        env.territory.hospital,
        username=username,
        department_id=changes.pop("department_id", env.territory.team_id),
        **changes,
    )


async def test_the_full_flow_from_question_to_answer_with_notifications_and_audit(env: Env) -> None:
    created = await submitted(env)
    assert created["status"] == "submitted" and created["question"] == QUESTION
    assert created["resident_name"] == "MARTIN Louise" and created["is_late"] is False
    # Health fields never reach the database in clear.
    async with env.uow() as uow:
        row = (await uow.session.execute(select(expertise_requests))).one()
    assert QUESTION.encode() not in row.question and b"Escarre" not in row.context

    await env.login(Role.EXPERT)
    waiting = (await queue(env))["waiting"]
    assert [(r["id"], r["ehpad_name"], r["reason"]) for r in waiting] == [
        (created["id"], "EHPAD Test", "plaie")
    ]
    url = f"/api/v1/expertise/{created['id']}"
    status, taken = await post(env, f"{url}/claim", {"deadline": WEDNESDAY_NOON})
    assert status == 200, taken
    assert taken["status"] == "claimed" and taken["claim"]["deadline"] == "2026-11-25T11:00:00+00:00"
    assert taken["local_deadline"] == WEDNESDAY_NOON
    mine = await queue(env)
    assert mine["waiting"] == [] and [r["id"] for r in mine["mine"]] == [created["id"]]

    await env.login(Role.IDE)
    listed = await care_home_list(env)
    assert (listed[0]["status"], listed[0]["news"]) == ("claimed", ["claimed"])
    assert listed[0]["claim"]["expert_name"] == env.territory.users[Role.EXPERT].display_name
    assert (await care_home_list(env))[0]["news"] == []  # seen once, no longer new

    await env.login(Role.EXPERT)
    status, done = await post(
        env, f"{url}/answer", {"outcome": "modification_therapeutique", "text": "Hydrocolloïde, décharge."}
    )
    assert status == 200, done
    assert done["status"] == "answered" and done["answer"]["outcome"] == "modification_therapeutique"
    assert [r["id"] for r in (await queue(env))["answered"]] == [created["id"]]

    await env.login(Role.IDEC)  # a colleague sees the answer, without the requester's notification
    colleague = await care_home_list(env)
    assert colleague[0]["answer"]["text"] == "Hydrocolloïde, décharge." and colleague[0]["news"] == []
    await env.login(Role.IDE)
    assert (await care_home_list(env))[0]["news"] == ["answered"]

    async with env.uow() as uow:
        events = await accesses_to(uow, "expertise", created["id"])
    assert {"expertise.submit", "expertise.claim", "expertise.answer", "expertise.read"} <= {
        event.action for event in events
    }


async def test_fifty_concurrent_claims_by_two_experts_give_one_200_and_forty_nine_409(env: Env) -> None:
    created = await submitted(env)
    second = await expert(env, "expert.rival")
    await env.login(Role.EXPERT)
    url = f"/api/v1/expertise/{created['id']}/claim"
    first_token = await headers(env)
    base = str(env.client.make_url(""))
    async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as rival:
        login_page = await (await rival.get("/login")).text()
        match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', login_page)
        assert match
        response = await rival.post(
            "/login",
            data={"csrf_token": match.group(1), "username": second.username, "password": PASSWORD},
            allow_redirects=False,
        )
        assert response.status == 303
        account = await (await rival.get("/account")).text()
        match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', account)
        assert match
        rival_token = {"X-CSRF-Token": match.group(1)}

        async def attempt(n: int) -> tuple[int, dict[str, Any]]:
            if n % 2:
                response = await rival.post(url, json={"deadline": WEDNESDAY_NOON}, headers=rival_token)
            else:
                response = await env.client.post(url, json={"deadline": WEDNESDAY_NOON}, headers=first_token)
            payload: dict[str, Any] = await response.json()
            return response.status, payload

        results = await asyncio.gather(*(attempt(n) for n in range(50)))
    statuses = [status for status, _ in results]
    assert statuses.count(200) == 1, sorted(set(statuses))
    assert statuses.count(409) == 49
    refusals = [payload for status, payload in results if status == 409]
    assert {(p["error"], p["message"]) for p in refusals} == {("already_claimed", ALREADY_CLAIMED)}
    async with env.uow() as uow:
        rows = (await uow.session.execute(select(expertise_requests))).all()
    assert len(rows) == 1 and rows[0].status == "claimed" and rows[0].version == 2


async def test_another_care_home_gets_404_for_the_request_and_its_resident(env: Env) -> None:
    created = await submitted(env)
    stranger = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.other_ehpad, "ide.other"
    )
    await login_as(env, stranger)
    url = f"/api/v1/expertise/{created['id']}"
    assert (await env.client.get(url)).status == 404
    status, _ = await post(env, f"{url}/withdraw", {})
    assert status == 404
    status, _ = await submit(env, request_body(uuid.UUID(created["resident_id"])))
    assert status == 404
    assert await care_home_list(env) == []
    # The secretariat and the coordinator never see requests.
    for role in (Role.SECRETARIAT, Role.COORDINATEUR):
        await env.login(role)
        assert (await env.client.get(url)).status == 403


async def test_an_expert_of_another_specialty_or_team_neither_sees_nor_claims(env: Env) -> None:
    created = await submitted(env)
    cardiologist = await expert(env, "expert.cardio", specialties=frozenset({Specialty.CARDIOLOGIE}))
    outsider = await expert(env, "expert.noconvention", department_id=None)
    url = f"/api/v1/expertise/{created['id']}"
    for stranger in (cardiologist, outsider):
        await login_as(env, stranger)
        assert (await queue(env))["waiting"] == []
        assert (await env.client.get(url)).status == 404
        status, _ = await post(env, f"{url}/claim", {"deadline": WEDNESDAY_NOON})
        assert status == 404
    # Once taken on, even another geriatrician of the team no longer reads it (but learns it was taken).
    await env.login(Role.EXPERT)
    assert (await post(env, f"{url}/claim", {"deadline": WEDNESDAY_NOON}))[0] == 200
    colleague = await expert(env, "expert.colleague")
    await login_as(env, colleague)
    assert (await env.client.get(url)).status == 404
    status, payload = await post(env, f"{url}/claim", {"deadline": WEDNESDAY_NOON})
    assert (status, payload["error"]) == (409, "already_claimed")
    status, _ = await post(env, f"{url}/answer", {"outcome": "avis_conseils", "text": "Non."})
    assert status == 404


async def test_a_request_past_its_deadline_is_flagged_late_until_answered(env: Env) -> None:
    created = await submitted(env, wished_deadline="2026-11-23T17:00:00+01:00", urgency="urgente")
    await env.login(Role.EXPERT)
    assert (await queue(env))["waiting"][0]["is_late"] is False
    env.clock.advance(timedelta(hours=3))  # 17:30 in Paris (the idle session has expired: log in again)
    await env.login(Role.EXPERT)
    waiting = (await queue(env))["waiting"]
    assert waiting[0]["is_late"] is True
    url = f"/api/v1/expertise/{created['id']}"
    status, taken = await post(env, f"{url}/claim", {"deadline": "2026-11-23T20:00:00+01:00"})
    assert status == 200 and taken["is_late"] is False  # the accepted deadline now counts
    env.clock.advance(timedelta(hours=3))
    await env.login(Role.EXPERT)
    assert (await queue(env))["mine"][0]["is_late"] is True
    await env.login(Role.IDE)
    assert (await care_home_list(env))[0]["is_late"] is True
    await env.login(Role.EXPERT)
    status, done = await post(env, f"{url}/answer", {"outcome": "orientation_urgences", "text": "SAMU."})
    assert status == 200 and done["is_late"] is False


async def test_answering_before_claiming_is_409_and_a_withdrawn_request_is_closed(env: Env) -> None:
    created = await submitted(env)
    url = f"/api/v1/expertise/{created['id']}"
    await env.login(Role.EXPERT)
    status, payload = await post(env, f"{url}/answer", {"outcome": "avis_conseils", "text": "Avis."})
    assert (status, payload["error"]) == (409, "not_claimed")
    status, payload = await post(env, f"{url}/claim", {"deadline": "2026-11-23T10:00:00+01:00"})
    assert status == 422 and "deadline" in payload["fields"]
    await env.login(Role.IDEC)  # any staff of the care home may take the request back
    status, gone = await post(env, f"{url}/withdraw", {})
    assert status == 200 and gone["status"] == "withdrawn"
    assert (await post(env, f"{url}/withdraw", {}))[0] == 409
    await env.login(Role.EXPERT)
    assert (await queue(env))["waiting"] == []
    status, payload = await post(env, f"{url}/claim", {"deadline": WEDNESDAY_NOON})
    assert (status, payload["error"]) == (409, "expertise_closed")


async def test_bad_requests_get_a_message_on_each_field(env: Env) -> None:
    resident_id = await new_resident(env)
    await env.login(Role.IDE)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        (request_body(resident_id, question="  "), {"question"}),
        (request_body(resident_id, wished_deadline="2026-11-23T09:00:00+01:00"), {"wished_deadline"}),
        (request_body(resident_id, wished_deadline="2027-06-01T09:00:00+02:00"), {"wished_deadline"}),
        (request_body(resident_id, consent_given_by="famille"), {"consent_person"}),
        (request_body(resident_id, consent_given_on="2026-12-01"), {"consent_given_on"}),
        (request_body(resident_id, physician_agreement=False), {"physician_note"}),
        (request_body(resident_id, level=3, urgency="demain"), {"level", "urgency"}),
        (request_body(resident_id, context="x" * 1600), {"context"}),
        (request_body(resident_id, specialty="cardiologie"), {"specialty"}),
    ]
    for body, fields in cases:
        status, payload = await submit(env, body)
        assert (status, set(payload.get("fields", {}))) == (422, fields), (body, payload)
    assert (await submit(env, request_body(uuid.uuid4())))[0] == 404
    assert await care_home_list(env) == []


async def test_the_expert_turns_a_request_into_a_teleconsultation_that_keeps_its_context(env: Env) -> None:
    created = await submitted(
        env,
        urgency="urgente",
        consent_given_by="famille",
        consent_person="Paul Martin",
        physician_agreement=False,
        physician_note="Médecin traitant en congé",
    )
    url = f"/api/v1/expertise/{created['id']}"
    await publish_afternoons(env)  # logs in as the expert
    status, payload = await post(env, f"{url}/convert", {"starts_at": "2026-11-24T14:00:00+01:00"})
    assert (status, payload["error"]) == (409, "not_claimed")
    assert (await post(env, f"{url}/claim", {"deadline": WEDNESDAY_NOON}))[0] == 200
    slots = (await (await env.client.get(f"{url}/slots")).json())["slots"]
    assert slots[0]["local_start"] == "2026-11-23T14:45:00+01:00"
    status, done = await post(env, f"{url}/convert", {"starts_at": slots[1]["starts_at"]})
    assert status == 200, done
    assert done["status"] == "converted" and done["appointment_id"]

    await env.login(Role.IDE)
    response = await env.client.get(f"/api/v1/appointments/{done['appointment_id']}")
    assert response.status == 200
    appointment = await response.json()
    assert appointment["status"] == "booked" and appointment["local_start"] == slots[1]["local_start"]
    assert appointment["details"] == f"{QUESTION}\n\n{CONTEXT}"
    assert (appointment["reason"], appointment["urgency"], appointment["attendees"]) == (
        "plaie",
        "semi_urgente",
        ["ide"],
    )
    assert appointment["consent"]["person_name"] == "Paul Martin"
    assert appointment["physician_agreement"] == {"obtained": False, "note": "Médecin traitant en congé"}
    listed = await care_home_list(env)
    assert listed[0]["status"] == "converted" and listed[0]["news"] == ["claimed", "converted"]

    # The slot is taken now: converting another request onto it is refused with the next free ones.
    other = await submitted(env)
    await env.login(Role.EXPERT)
    other_url = f"/api/v1/expertise/{other['id']}"
    assert (await post(env, f"{other_url}/claim", {"deadline": WEDNESDAY_NOON}))[0] == 200
    status, taken = await post(env, f"{other_url}/convert", {"starts_at": slots[1]["starts_at"]})
    assert (status, taken["error"]) == (409, "slot_taken")
    assert slots[1]["starts_at"] not in [a["starts_at"] for a in taken["alternatives"]]
    assert (await (await env.client.get(other_url)).json())["status"] == "claimed"

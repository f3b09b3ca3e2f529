"""Scheduling through the JSON API, on both backends: availability, slot search, booking and its rules,
idempotent retries, cancel, reschedule, no-show, preparation, agendas, access and audit."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from records.audit.service import accesses_to
from records.residents import service as residents_service
from records.residents.model import IdentityStatus, IdentityTraits, ResidentDetails, Sex
from scheduling.store import appointments
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Principal
from teleconsult.keys import KEYRING, PASSWORDS
from tests.factories import PASSWORD, make_user
from tests.integration.conftest import Env

# The fixed clock is Monday 23 November 2026, 14:30 in Paris. Tuesday 24 is a plain working day.
TUESDAY_2PM = "2026-11-24T14:00:00+01:00"
TUESDAY_245PM = "2026-11-24T14:45:00+01:00"


async def headers(env: Env) -> dict[str, str]:
    return {"X-CSRF-Token": await env.csrf("/account")}


async def new_resident(env: Env, birth_name: str = "Martin", ehpad_id: uuid.UUID | None = None) -> uuid.UUID:
    nurse = env.territory.users[Role.IDE]
    if ehpad_id is not None and ehpad_id != nurse.establishment_id:
        other = await make_user(
            env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.other_ehpad
        )
        nurse = other
    details = ResidentDetails(
        traits=IdentityTraits(birth_name, ("Louise",), Sex("F"), date(1935, 3, 2), "75056"),
        ins=None,
        identity_status=IdentityStatus.PROVISOIRE,
        room="3",
    )
    created = await residents_service.create_resident(
        env.uow(), env.app[KEYRING], Principal(nurse, True), details, env.clock.now()
    )
    return created.id


async def publish_afternoons(env: Env, **changes: Any) -> dict[str, Any]:
    """The expert publishes Monday-to-Friday afternoons, 14:00-17:30, 30 + 15 minutes."""
    await env.login(Role.EXPERT)
    expert = env.territory.users[Role.EXPERT]
    body = {
        "specialty": "geriatrie",
        "weekdays": [0, 1, 2, 3, 4],
        "start": "14:00",
        "end": "17:30",
        "valid_from": "2026-11-01",
        **changes,
    }
    response = await env.client.post(
        f"/api/v1/experts/{expert.id}/windows", json=body, headers=await headers(env)
    )
    assert response.status == 201, await response.text()
    window: dict[str, Any] = await response.json()
    return window


def booking(
    resident_id: uuid.UUID, expert_id: uuid.UUID, starts_at: str = TUESDAY_2PM, **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resident_id": str(resident_id),
        "expert_id": str(expert_id),
        "starts_at": starts_at,
        "specialty": "geriatrie",
        "reason": "troubles_comportement",
        "details": "Agitation vespérale depuis 10 jours",
        "urgency": "programmee",
        "attendees": ["idec", "famille"],
        "consent": {
            "given_by": "famille",
            "given_on": "2026-11-20",
            "method": "oral",
            "person_name": "Paul Martin",
        },
        "physician_agreement": {"obtained": True, "note": ""},
    }
    body.update(changes)
    return body


async def setup(env: Env) -> tuple[uuid.UUID, uuid.UUID]:
    await publish_afternoons(env)
    resident_id = await new_resident(env)
    await env.login(Role.IDE)
    return resident_id, env.territory.users[Role.EXPERT].id


async def book(env: Env, body: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any]]:
    extra = {"Idempotency-Key": key} if key else {}
    response = await env.client.post(
        "/api/v1/appointments", json=body, headers={**await headers(env), **extra}
    )
    payload: dict[str, Any] = await response.json()
    return response.status, payload


async def test_the_nurse_finds_the_next_afternoon_slots_in_paris_time(env: Env) -> None:
    await setup(env)
    response = await env.client.get("/api/v1/slots?specialty=geriatrie&limit=5")
    assert response.status == 200, await response.text()
    slots = (await response.json())["slots"]
    # Monday 14:30 now: today's 14:45 slot is too close (15 min lead time)? 14:45 is exactly 15 min away.
    starts = [slot["local_start"] for slot in slots]
    assert starts[0] == "2026-11-23T14:45:00+01:00"
    assert starts[1:] == [
        "2026-11-23T15:30:00+01:00",
        "2026-11-23T16:15:00+01:00",
        "2026-11-24T14:00:00+01:00",
        "2026-11-24T14:45:00+01:00",
    ]
    assert slots[0]["expert_name"] == env.territory.users[Role.EXPERT].display_name


async def test_booking_then_the_same_slot_again_gives_409_with_the_next_free_slots(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    status, created = await book(env, booking(resident_id, expert_id))
    assert status == 201, created
    assert created["local_start"] == TUESDAY_2PM and created["status"] == "booked"
    assert created["details"] == "Agitation vespérale depuis 10 jours"
    assert created["readiness"] == "not_started"

    other = await new_resident(env, "Bernard")
    status, taken = await book(env, booking(other, expert_id))
    assert status == 409
    assert taken["error"] == "slot_taken"
    assert taken["message"].startswith("Ce créneau vient d'être réservé")
    assert [a["local_start"] for a in taken["alternatives"]] == [
        TUESDAY_245PM,
        "2026-11-24T15:30:00+01:00",
        "2026-11-24T16:15:00+01:00",
    ]
    # The slot search no longer offers it.
    response = await env.client.get("/api/v1/slots?after=2026-11-24T13:00:00Z&limit=1")
    assert (await response.json())["slots"][0]["local_start"] == TUESDAY_245PM


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_booking(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    status, first = await book(env, booking(resident_id, expert_id), key="tablet-42-attempt-1")
    assert status == 201
    status, again = await book(env, booking(resident_id, expert_id), key="tablet-42-attempt-1")
    assert status == 200 and again["id"] == first["id"]
    async with env.uow() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(appointments))
    assert count == 1


async def test_a_resident_cannot_have_two_overlapping_appointments(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    second_expert = await make_user(
        env.uow,
        env.app[PASSWORDS],
        env.clock.now(),
        Role.EXPERT,
        env.territory.hospital,
        username="expert.two",
        department_id=env.territory.team_id,
    )
    await env.login(Role.SECRETARIAT)  # the secretariat publishes for any expert of its hospital
    response = await env.client.post(
        f"/api/v1/experts/{second_expert.id}/windows",
        json={
            "specialty": "geriatrie",
            "weekdays": [1],
            "start": "14:00",
            "end": "17:30",
            "valid_from": "2026-11-01",
        },
        headers=await headers(env),
    )
    assert response.status == 201, await response.text()
    await env.login(Role.IDE)
    assert (await book(env, booking(resident_id, expert_id)))[0] == 201
    status, busy = await book(env, booking(resident_id, second_expert.id))
    assert status == 409 and busy["error"] == "resident_busy"


async def test_bad_bookings_get_a_clear_french_message(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (booking(resident_id, expert_id, "2026-11-23T14:00:00+01:00"), 422, "slot_in_past"),
        (booking(resident_id, expert_id, "2026-11-24T14:10:00+01:00"), 422, "outside_availability"),
        (booking(resident_id, expert_id, "2026-11-24T09:00:00+01:00"), 422, "outside_availability"),
        # 25 December is a public holiday, a Friday.
        (booking(resident_id, expert_id, "2026-12-25T14:00:00+01:00"), 422, "outside_availability"),
        (
            booking(
                resident_id,
                expert_id,
                consent={"given_by": "famille", "given_on": "2026-11-20", "method": "oral"},
            ),
            422,
            "invalid_input",
        ),
        (booking(resident_id, expert_id, physician_agreement={"obtained": False}), 422, "invalid_input"),
        (booking(resident_id, expert_id, attendees=[]), 422, "invalid_input"),
        (booking(resident_id, expert_id, reason="autre", details=""), 422, "invalid_input"),
        (booking(uuid.uuid4(), expert_id), 404, "not_found"),
    ]
    for body, status, code in cases:
        got, payload = await book(env, body)
        assert (got, payload.get("error")) == (status, code), (body, payload)
        assert payload["message"] and "Traceback" not in payload["message"]
    _, invalid = await book(env, booking(resident_id, expert_id, physician_agreement={"obtained": False}))
    assert "médecin traitant" in invalid["fields"]["physician_note"]
    # Every wrong field at once, under the booking form's names (the page shows each beside its field).
    _, several = await book(
        env,
        booking(
            resident_id,
            expert_id,
            reason="nonsense",
            consent={"given_by": "voisin", "given_on": "2030-01-01", "method": "oral"},
            physician_agreement={"obtained": "peut-être"},
        ),
    )
    assert set(several["fields"]) == {"reason", "consent_given_by", "physician_agreement"}
    _, future = await book(
        env,
        booking(
            resident_id,
            expert_id,
            consent={"given_by": "resident", "given_on": "2030-01-01", "method": "oral"},
        ),
    )
    assert set(future["fields"]) == {"consent_given_on"}
    async with env.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(appointments)) == 0


async def test_a_resident_of_another_care_home_is_hidden_and_an_expert_without_convention_refused(
    env: Env,
) -> None:
    await publish_afternoons(env)
    stranger = await new_resident(env, "Durand", ehpad_id=env.territory.other_ehpad.id)
    mine = await new_resident(env)
    lone_expert = await make_user(
        env.uow,
        env.app[PASSWORDS],
        env.clock.now(),
        Role.EXPERT,
        env.territory.hospital,
        username="expert.alone",
    )
    await env.login(Role.IDE)
    expert_id = env.territory.users[Role.EXPERT].id
    status, payload = await book(env, booking(stranger, expert_id))
    assert status == 404
    status, payload = await book(env, booking(mine, lone_expert.id))
    assert status == 422 and payload["error"] == "no_convention"


async def test_cancel_frees_the_slot_and_the_other_side_sees_why(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    _, created = await book(env, booking(resident_id, expert_id))
    await env.login(Role.EXPERT)
    response = await env.client.post(
        f"/api/v1/appointments/{created['id']}/cancel",
        json={"reason": "Bloc opératoire imprévu"},
        headers=await headers(env),
    )
    assert response.status == 200, await response.text()
    cancelled = await response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancellation"]["by"] == "hospital"
    await env.login(Role.IDE)
    listing = await (await env.client.get("/api/v1/appointments")).json()
    assert listing["appointments"][0]["cancellation"]["reason"] == "Bloc opératoire imprévu"
    assert (await book(env, booking(resident_id, expert_id)))[0] == 201
    # Cancelling twice is a conflict, not a crash.
    response = await env.client.post(
        f"/api/v1/appointments/{created['id']}/cancel", json={"reason": "encore"}, headers=await headers(env)
    )
    assert response.status == 409


async def test_reschedule_is_atomic(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    _, first = await book(env, booking(resident_id, expert_id))
    other = await new_resident(env, "Bernard")
    _, blocker = await book(env, booking(other, expert_id, TUESDAY_245PM))
    # Moving onto a taken slot changes nothing.
    response = await env.client.post(
        f"/api/v1/appointments/{first['id']}/reschedule",
        json={"expert_id": str(expert_id), "starts_at": TUESDAY_245PM},
        headers=await headers(env),
    )
    assert response.status == 409
    still = await (await env.client.get(f"/api/v1/appointments/{first['id']}")).json()
    assert still["status"] == "booked"
    # Moving onto a free slot books the new one and cancels the old one.
    response = await env.client.post(
        f"/api/v1/appointments/{first['id']}/reschedule",
        json={"expert_id": str(expert_id), "starts_at": "2026-11-24T15:30:00+01:00"},
        headers=await headers(env),
    )
    assert response.status == 201, await response.text()
    moved = await response.json()
    assert moved["rescheduled_from"] == first["id"] and moved["details"] == first["details"]
    old = await (await env.client.get(f"/api/v1/appointments/{first['id']}")).json()
    assert old["status"] == "cancelled"
    assert blocker["status"] == "booked"


async def test_preparation_checklist_drives_readiness_and_no_show_waits_for_the_start(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    _, created = await book(env, booking(resident_id, expert_id, "2026-11-23T14:45:00+01:00"))
    url = f"/api/v1/appointments/{created['id']}"
    response = await env.client.put(f"{url}/checklist/dlu", json={"done": True}, headers=await headers(env))
    assert response.status == 200
    assert (await response.json())["readiness"] == "incomplete"
    for item in ("constantes", "traitement", "photos", "consentement", "test_connexion"):
        response = await env.client.put(
            f"{url}/checklist/{item}", json={"done": True}, headers=await headers(env)
        )
    assert (await response.json())["readiness"] == "ready"
    response = await env.client.put(
        f"{url}/checklist/nonsense", json={"done": True}, headers=await headers(env)
    )
    assert response.status == 404
    response = await env.client.post(f"{url}/no-show", json={}, headers=await headers(env))
    assert response.status == 422
    env.clock.advance(timedelta(minutes=20))  # 14:50 in Paris: the call has started
    response = await env.client.post(f"{url}/no-show", json={}, headers=await headers(env))
    assert response.status == 200 and (await response.json())["status"] == "no_show"


async def test_the_expert_agenda_shows_the_care_home_reason_and_readiness_and_is_audited(env: Env) -> None:
    resident_id, expert_id = await setup(env)
    _, created = await book(env, booking(resident_id, expert_id))
    await env.login(Role.EXPERT)
    response = await env.client.get(f"/api/v1/experts/{expert_id}/agenda?from=2026-11-23&days=7")
    assert response.status == 200
    agenda = (await response.json())["appointments"]
    assert [(a["ehpad_name"], a["reason"], a["readiness"]) for a in agenda] == [
        ("EHPAD Test", "troubles_comportement", "not_started")
    ]
    assert agenda[0]["resident_name"] == "MARTIN Louise"
    async with env.uow() as uow:
        events = await accesses_to(uow, "appointment", created["id"])
    assert {event.action for event in events} >= {"appointment.book", "appointment.read"}
    # Another expert cannot read this agenda, nor the appointment.
    other = await make_user(
        env.uow,
        env.app[PASSWORDS],
        env.clock.now(),
        Role.EXPERT,
        env.territory.hospital,
        username="expert.nosy",
    )
    env.client.session.cookie_jar.clear()
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": other.username, "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303
    response = await env.client.get(f"/api/v1/experts/{expert_id}/agenda")
    assert response.status == 403
    response = await env.client.get(f"/api/v1/appointments/{created['id']}")
    assert response.status == 404


async def test_two_hundred_concurrent_bookings_of_one_slot_give_one_201_and_199_409(env: Env) -> None:
    await publish_afternoons(env)
    resident_ids = [await new_resident(env, f"Resident{n}") for n in range(20)]
    await env.login(Role.IDE)
    expert_id = env.territory.users[Role.EXPERT].id
    token = await headers(env)

    async def attempt(n: int) -> int:
        body = booking(resident_ids[n % len(resident_ids)], expert_id)
        response = await env.client.post("/api/v1/appointments", json=body, headers=token)
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(attempt(n) for n in range(200)))
    assert sorted(statuses).count(201) == 1
    assert statuses.count(409) == 199, sorted(set(statuses))
    async with env.uow() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(appointments))
    assert count == 1


async def test_windows_are_checked_and_only_the_expert_or_their_secretariat_publish(env: Env) -> None:
    await env.login(Role.EXPERT)
    expert = env.territory.users[Role.EXPERT]
    bad = {
        "specialty": "geriatrie",
        "weekdays": [],
        "start": "17:00",
        "end": "14:00",
        "valid_from": "2026-11-01",
    }
    response = await env.client.post(
        f"/api/v1/experts/{expert.id}/windows", json=bad, headers=await headers(env)
    )
    assert response.status == 422
    fields = (await response.json())["fields"]
    assert set(fields) >= {"weekdays", "end"}
    wrong_specialty = {**bad, "weekdays": [1], "start": "14:00", "end": "17:30", "specialty": "cardiologie"}
    response = await env.client.post(
        f"/api/v1/experts/{expert.id}/windows", json=wrong_specialty, headers=await headers(env)
    )
    assert response.status == 422
    await env.login(Role.IDE)
    response = await env.client.post(
        f"/api/v1/experts/{expert.id}/windows", json={**bad, "weekdays": [1]}, headers=await headers(env)
    )
    assert response.status == 403


async def test_leave_removes_slots(env: Env) -> None:
    await publish_afternoons(env)
    expert = env.territory.users[Role.EXPERT]
    response = await env.client.post(
        f"/api/v1/experts/{expert.id}/leaves",
        json={
            "starts_at": "2026-11-24T00:00:00+01:00",
            "ends_at": "2026-11-25T00:00:00+01:00",
            "label": "Congé",
        },
        headers=await headers(env),
    )
    assert response.status == 201, await response.text()
    await env.login(Role.IDE)
    slots = (await (await env.client.get("/api/v1/slots?after=2026-11-24T00:00:00Z&limit=1")).json())["slots"]
    assert slots[0]["local_start"] == "2026-11-25T14:00:00+01:00"
    assert timedelta(0) < datetime.fromisoformat(slots[0]["starts_at"]) - env.clock.now()

"""The scheduling pages as a nurse, an expert and a secretariat use them, on both backends: the three steps
of a request (keeping input on errors, offering the next slots when one was just taken), the appointment's
preparation and cancellation, the expert's week, the availability forms."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select

from scheduling.store import appointments
from teleconsult.identity.model import Role
from tests.integration.conftest import Env
from tests.integration.test_scheduling import TUESDAY_2PM, book, booking, new_resident, publish_afternoons


async def count(env: Env) -> int:
    async with env.uow().reading() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(appointments)) or 0)


def step3_form(resident_id: uuid.UUID, expert_id: uuid.UUID, key: str, **changes: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "resident_id": str(resident_id),
        "expert_id": str(expert_id),
        "starts_at": "2026-11-24T13:00:00+00:00",
        "specialty": "geriatrie",
        "idempotency_key": key,
        "reason": "chutes",
        "details": "Trois chutes en une semaine",
        "urgency": "semi_urgente",
        "attendees": "idec",
        "consent_given_by": "resident",
        "consent_given_on": "2026-11-23",
        "consent_method": "oral",
        "physician_agreement": "yes",
    }
    form.update(changes)
    return form


async def test_the_nurse_books_in_three_steps_and_the_form_keeps_her_input(env: Env) -> None:
    await publish_afternoons(env)
    resident_id = await new_resident(env, "Lefebvre")
    await env.login(Role.IDE)
    expert_id = env.territory.users[Role.EXPERT].id

    step1 = await env.client.get("/appointments/new")
    assert step1.status == 200
    assert "LEFEBVRE Louise" in await step1.text()

    step2 = await env.client.get(f"/appointments/new?resident={resident_id}&specialty=geriatrie")
    html = await step2.text()
    assert step2.status == 200 and "Prochain créneau" in html
    first_link = re.search(r'href="(/appointments/new\?[^"]*expert=[^"]*)"', html)
    assert first_link, html
    step3 = await env.client.get(first_link.group(1).replace("&amp;", "&"))
    html3 = await step3.text()
    assert step3.status == 200 and "Demande et consentement" in html3
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html3)
    assert key

    token = await env.csrf("/appointments/new")
    # Consent given by the family without the person's name: 422, everything typed is still there.
    bad = step3_form(resident_id, expert_id, key.group(1), consent_given_by="famille")
    response = await env.client.post("/appointments", data={**bad, "csrf_token": token})
    page = await response.text()
    assert response.status == 422
    assert "Trois chutes en une semaine" in page and "Indiquez le nom de la personne" in page
    assert await count(env) == 0

    good = step3_form(resident_id, expert_id, key.group(1))
    response = await env.client.post(
        "/appointments", data={**good, "csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    # The same form sent twice (a double tap, a retry after the Wi-Fi dropped) books once.
    again = await env.client.post("/appointments", data={**good, "csrf_token": token}, allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == location
    assert await count(env) == 1

    view = await env.client.get(location)
    html = await view.text()
    assert view.status == 200 and "Trois chutes en une semaine" in html and "Semi-urgente" in html


async def test_a_slot_taken_meanwhile_shows_the_next_ones(env: Env) -> None:
    await publish_afternoons(env)
    first, second = await new_resident(env, "Premier"), await new_resident(env, "Second")
    await env.login(Role.IDE)
    expert_id = env.territory.users[Role.EXPERT].id
    assert (await book(env, booking(first, expert_id, TUESDAY_2PM)))[0] == 201
    token = await env.csrf("/appointments/new")
    form = step3_form(second, expert_id, uuid.uuid4().hex, starts_at=TUESDAY_2PM)
    response = await env.client.post("/appointments", data={**form, "csrf_token": token})
    html = await response.text()
    assert response.status == 409
    assert "Ce créneau vient d&#39;être réservé" in html or "Ce créneau vient d'être réservé" in html
    assert "14:45" in html  # the next slot of that Tuesday is offered


async def test_preparation_and_cancellation_from_the_appointment_page(env: Env) -> None:
    await publish_afternoons(env)
    resident_id = await new_resident(env)
    await env.login(Role.IDE)
    _, created = await book(env, booking(resident_id, env.territory.users[Role.EXPERT].id))
    url = f"/appointments/{created['id']}"
    token = await env.csrf(url)
    response = await env.client.post(
        f"{url}/checklist", data={"csrf_token": token, "done": ["dlu", "constantes"]}, allow_redirects=False
    )
    assert response.status == 303
    html = await (await env.client.get(url)).text()
    assert "Préparation en cours" in html
    empty = await env.client.post(f"{url}/cancel", data={"csrf_token": token, "reason": ""})
    assert empty.status == 422
    response = await env.client.post(
        f"{url}/cancel", data={"csrf_token": token, "reason": "Résident hospitalisé"}, allow_redirects=False
    )
    assert response.status == 303
    home = await (await env.client.get("/ehpad")).text()
    assert "Aucune téléconsultation" in home or "Annulé" in home


async def test_the_expert_sees_the_week_and_the_secretariat_publishes_availability(env: Env) -> None:
    await publish_afternoons(env)
    resident_id = await new_resident(env)
    await env.login(Role.IDE)
    await book(env, booking(resident_id, env.territory.users[Role.EXPERT].id))
    await env.login(Role.EXPERT)
    week = await env.client.get("/agenda?week=2026-11-23")
    html = await week.text()
    assert week.status == 200 and "EHPAD Test" in html and "Troubles du comportement" in html
    home = await (await env.client.get("/expert")).text()
    assert "Cet après-midi" in home

    await env.login(Role.SECRETARIAT)
    page = await env.client.get("/availability")
    assert page.status == 200 and "Lundi" in await page.text()
    token = await env.csrf("/availability")
    expert_id = env.territory.users[Role.EXPERT].id
    bad = {
        "csrf_token": token,
        "expert_id": str(expert_id),
        "specialty": "geriatrie",
        "start": "17:00",
        "end": "14:00",
        "valid_from": "2026-12-01",
        "consultation_minutes": "30",
        "report_minutes": "15",
    }
    response = await env.client.post("/availability/windows", data=bad)
    html = await response.text()
    assert response.status == 422 and "Cochez au moins un jour" in html
    good = {**bad, "start": "09:00", "end": "12:00", "weekdays": ["5"]}
    response = await env.client.post("/availability/windows", data=good, allow_redirects=False)
    assert response.status == 303
    leave = {
        "csrf_token": token,
        "expert_id": str(expert_id),
        "leave_start": "2026-12-24T00:00",
        "leave_end": "2026-12-26T00:00",
        "label": "Congés",
    }
    response = await env.client.post("/availability/leaves", data=leave, allow_redirects=False)
    assert response.status == 303
    html = await (await env.client.get(f"/availability?expert={expert_id}")).text()
    assert "Samedi" in html and "Congés" in html


async def test_from_the_residents_page_the_next_slot_is_two_taps_away(env: Env) -> None:
    await publish_afternoons(env)
    resident_id = await new_resident(env, "Rapide")
    await env.login(Role.IDE)
    page = await (await env.client.get(f"/residents/{resident_id}")).text()
    link = re.search(r'href="(/appointments/new\?resident=[^"]+)"', page)
    assert link, "the resident's page offers to request a teleconsultation"
    slots = await (await env.client.get(link.group(1).replace("&amp;", "&"))).text()  # tap 1
    assert "Prochain créneau" in slots
    first = re.search(r'class="button button-primary button-wide slot-big"\s+href="([^"]+)"', slots)
    assert first
    form = await env.client.get(first.group(1).replace("&amp;", "&"))  # tap 2: the request form
    assert form.status == 200 and "Demande et consentement" in await form.text()

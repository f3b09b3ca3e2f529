"""The tele-expertise pages on both backends: the nurse's form (which keeps what was typed when something is
wrong) and list, the expert's queue with its claim, answer and conversion forms, in French."""

from __future__ import annotations

import html
import re
from typing import Any

from teleconsult.identity.model import Role
from tests.integration.conftest import Env
from tests.integration.test_expertise import CONTEXT, QUESTION
from tests.integration.test_scheduling import new_resident, publish_afternoons


def form(resident_id: str, **changes: str) -> dict[str, str]:
    data = {
        "resident_id": resident_id,
        "specialty": "geriatrie",
        "level": "2",
        "urgency": "urgente",
        "reason": "plaie",
        "wished_deadline": "2026-11-24T18:00",
        "question": QUESTION,
        "context": CONTEXT,
        "consent_given_by": "famille",
        "consent_person": "Paul Martin",
        "consent_given_on": "2026-11-23",
        "consent_method": "oral",
        "physician_agreement": "true",
        "physician_note": "",
    }
    data.update(changes)
    return data


async def text_of(response: Any) -> str:
    return html.unescape(await response.text())


async def test_the_nurse_asks_through_the_form_and_reads_the_answer_in_her_list(env: Env) -> None:
    resident_id = str(await new_resident(env))
    await env.login(Role.IDE)
    page = await env.client.get(f"/expertise/new?resident_id={resident_id}")
    assert page.status == 200
    body = await text_of(page)
    assert "Demander une téléexpertise" in body and f'value="{resident_id}" selected' in body

    # Something wrong: the page comes back with the message and everything typed.
    wrong = await env.post_form(
        "/expertise",
        form(resident_id, consent_person="", wished_deadline="2026-11-22T18:00"),
        "/expertise/new",
    )
    assert wrong.status == 422
    body = await text_of(wrong)
    assert "Indiquez le nom de la personne" in body and "Le délai doit être dans le futur." in body
    assert QUESTION in body and CONTEXT in body and 'value="2026-11-22T18:00"' in body
    assert 'value="2" checked' in body and 'value="urgente" checked' in body

    sent = await env.post_form("/expertise", form(resident_id), "/expertise/new")
    assert sent.status == 303 and sent.headers["Location"] == "/expertise?sent=1"
    listing = await text_of(await env.client.get("/expertise?sent=1"))
    assert "Votre demande a été envoyée" in listing and "En attente d'un expert" in listing
    assert "MARTIN Louise" in listing and "Urgente" in listing

    # The expert takes it on and answers from the queue page.
    await env.login(Role.EXPERT)
    queue = await text_of(await env.client.get("/expertise/queue"))
    assert "File de téléexpertise" in queue and QUESTION in queue
    request_id = re.search(r"/expertise/([0-9a-f-]{36})/claim", queue)
    assert request_id
    claim_url = f"/expertise/{request_id.group(1)}/claim"
    late = await env.post_form(claim_url, {"deadline": "2026-11-23T09:00"}, "/expertise/queue")
    assert late.status == 422
    assert 'value="2026-11-23T09:00"' in await late.text()
    claimed = await env.post_form(claim_url, {"deadline": "2026-11-24T12:00"}, "/expertise/queue")
    assert claimed.status == 303
    again = await env.post_form(claim_url, {"deadline": "2026-11-24T12:00"}, "/expertise/queue")
    assert again.status == 409
    assert "Cette demande vient d'être prise en charge par un autre expert." in await text_of(again)
    answered = await env.post_form(
        f"/expertise/{request_id.group(1)}/answer",
        {"outcome": "avis_conseils", "text": "Pansement hydrocolloïde, décharge du talon."},
        "/expertise/queue",
    )
    assert answered.status == 303
    assert "Répondues récemment" in await text_of(await env.client.get("/expertise/queue"))

    await env.login(Role.IDE)
    listing = await text_of(await env.client.get("/expertise"))
    assert "Nouveau : réponse reçue" in listing and "Avis et conseils" in listing
    assert "Pansement hydrocolloïde, décharge du talon." in listing
    assert "Retirer cette demande" not in listing  # answered: nothing left to withdraw


async def test_the_expert_converts_from_the_queue_and_the_nurse_withdraws_from_her_list(env: Env) -> None:
    resident_id = str(await new_resident(env))
    await env.login(Role.IDE)
    for question in ("Première question ?", "Seconde question ?"):
        sent = await env.post_form("/expertise", form(resident_id, question=question), "/expertise/new")
        assert sent.status == 303
    listing = await text_of(await env.client.get("/expertise"))
    first, second = re.findall(r"/expertise/([0-9a-f-]{36})/withdraw", listing)
    withdrawn = await env.post_form(f"/expertise/{first}/withdraw", {}, "/expertise")
    assert withdrawn.status == 303
    assert "Retirée" in await text_of(await env.client.get("/expertise"))

    await publish_afternoons(env)
    assert (await env.post_form(f"/expertise/{second}/claim", {"deadline": "2026-11-24T12:00"})).status == 303
    queue = await text_of(await env.client.get("/expertise/queue"))
    assert "Réserver la téléconsultation" in queue
    slot = re.search(r'<option value="(2026-11-2[0-9]T[0-9:+]+)">', queue)
    assert slot
    converted = await env.post_form(f"/expertise/{second}/convert", {"starts_at": slot.group(1)})
    assert converted.status == 303
    await env.login(Role.IDE)
    listing = await text_of(await env.client.get("/expertise"))
    assert "Nouveau : téléconsultation réservée" in listing and "Téléconsultation réservée" in listing

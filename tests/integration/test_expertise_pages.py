"""The tele-expertise pages on both backends: the nurse's form (which keeps what was typed when something is
wrong) and list, the expert's queue with its claim, answer and conversion forms, in French."""

from __future__ import annotations

import html
import re
from typing import Any

import aiohttp
from sqlalchemy import func, select

from scheduling.expertise.store import expertise_requests
from teleconsult.identity.model import Role
from teleconsult.settings import Settings
from tests.integration.conftest import Env
from tests.integration.test_documents import blob_files, document_rows
from tests.integration.test_expertise import CONTEXT, QUESTION
from tests.integration.test_scheduling import new_resident, publish_afternoons
from tests.unit.test_documents_model import jpeg


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


def multipart(token: str, fields: dict[str, str], photos: list[tuple[str, bytes]]) -> aiohttp.FormData:
    """The form as the browser sends it with its file input: the CSRF token first, then the fields and
    the chosen files (an empty file part when none was chosen)."""
    body = aiohttp.FormData()
    body.add_field("csrf_token", token)
    for name, value in fields.items():
        body.add_field(name, value)
    for file_name, data in photos or [("", b"")]:
        body.add_field("photos", data, filename=file_name, content_type="application/octet-stream")
    return body


async def request_rows(env: Env) -> int:
    async with env.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(expertise_requests)) or 0)


async def test_photos_sent_with_the_form_are_stored_with_the_request(env: Env, settings: Settings) -> None:
    resident_id = str(await new_resident(env))
    await env.login(Role.IDE)
    page = await text_of(await env.client.get("/expertise/new"))
    assert 'enctype="multipart/form-data"' in page and 'name="photos"' in page
    token = await env.csrf("/expertise/new")
    body = multipart(token, form(resident_id), [("plaie.jpg", jpeg()), ("talon.jpg", jpeg(color="blue"))])
    sent = await env.client.post("/expertise", data=body, allow_redirects=False)
    assert sent.status == 303, await sent.text()
    assert await request_rows(env) == 1 and await document_rows(env) == 2 and len(blob_files(settings)) == 2
    listing = await text_of(await env.client.get("/expertise"))
    assert len(re.findall(r"/expertise/[0-9a-f-]{36}/documents/[0-9a-f-]{36}", listing)) >= 2
    # An empty file input (no photo chosen) sends the request alone.
    token = await env.csrf("/expertise/new")
    alone = await env.client.post(
        "/expertise", data=multipart(token, form(resident_id), []), allow_redirects=False
    )
    assert alone.status == 303 and await request_rows(env) == 2 and await document_rows(env) == 2


async def test_a_refused_photo_sends_nothing_and_keeps_what_was_typed(env: Env, settings: Settings) -> None:
    resident_id = str(await new_resident(env))
    await env.login(Role.IDE)
    token = await env.csrf("/expertise/new")
    photos = [("plaie.jpg", jpeg()), ("scan.gif", b"GIF89a not accepted")]
    refused = await env.client.post("/expertise", data=multipart(token, form(resident_id), photos))
    assert refused.status == 415
    body = await text_of(refused)
    assert (
        "La photo scan.gif a été refusée" in body and "Envoyez une photo (JPEG, PNG, HEIC) ou un PDF" in body
    )
    assert QUESTION in body and CONTEXT in body and 'value="urgente" checked' in body
    assert await request_rows(env) == 0 and await document_rows(env) == 0 and blob_files(settings) == []

    # A photo over the size limit: 413, nothing either.
    token = await env.csrf("/expertise/new")
    big = [("grosse.jpg", b"\xff\xd8\xff" + b"0" * (settings.upload_max_bytes + 10))]
    too_big = await env.client.post("/expertise", data=multipart(token, form(resident_id), big))
    assert too_big.status == 413 and QUESTION in await text_of(too_big)
    assert await request_rows(env) == 0 and blob_files(settings) == []

    # The request itself wrong while the photos are fine: 422, the nurse is told to choose them again.
    token = await env.csrf("/expertise/new")
    wrong = await env.client.post(
        "/expertise", data=multipart(token, form(resident_id, consent_person=""), [("plaie.jpg", jpeg())])
    )
    assert wrong.status == 422
    assert "choisissez-les à nouveau" in (await text_of(wrong)).lower()
    assert await request_rows(env) == 0 and await document_rows(env) == 0 and blob_files(settings) == []

"""The compte-rendu of a tele-expertise answer, on both backends: made when the expert answers, it carries
the resident's identity with INS, the request, the outcome, the answer and the expert's RPPS; it is stored
encrypted (no PDF on disk) among the resident's documents and in the outbox's ids; the care home downloads
it from the API and from its list, the resident's timeline shows it; other care homes and experts get 404;
a server that cannot render PDFs keeps the answer and the PDF is made at the first download."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pypdf
import pytest
from sqlalchemy import select, update

import teleconsult.pdf
from records.audit.service import accesses_to
from records.documents.store import resident_documents
from teleconsult.identity.model import Role
from teleconsult.identity.store import users
from teleconsult.keys import PASSWORDS
from teleconsult.pdf import PdfUnavailable
from teleconsult.settings import Settings
from tests.factories import make_user
from tests.integration.conftest import Env
from tests.integration.test_documents import blob_files
from tests.integration.test_expertise import (
    CONTEXT,
    QUESTION,
    WEDNESDAY_NOON,
    expert,
    login_as,
    post,
    request_body,
    submit,
)
from tests.integration.test_notifications import (
    BIRTH_NAME,
    FIRST_NAME,
    INS_MATRICULE,
    assert_no_health_data,
    resident_with_ins,
)

RPPS = "10101234567"
ANSWER = "Hydrocolloïde sur le talon, décharge totale, réévaluer dans 10 jours."


async def claimed_request(env: Env) -> dict[str, Any]:
    """A request about a resident with a qualified INS, sent by the nurse and taken on by the expert (who
    has an RPPS); logged in as the expert."""
    resident_id = await resident_with_ins(env)
    await env.login(Role.IDE)
    status, created = await submit(env, request_body(resident_id))
    assert status == 201, created
    async with env.uow() as uow:
        expert_id = env.territory.users[Role.EXPERT].id
        await uow.session.execute(update(users).where(users.c.id == expert_id).values(rpps=RPPS))
        await uow.commit()
    await env.login(Role.EXPERT)
    status, taken = await post(env, f"/api/v1/expertise/{created['id']}/claim", {"deadline": WEDNESDAY_NOON})
    assert status == 200, taken
    return created


async def answered_request(env: Env) -> dict[str, Any]:
    created = await claimed_request(env)
    status, done = await post(
        env,
        f"/api/v1/expertise/{created['id']}/answer",
        {"outcome": "modification_therapeutique", "text": ANSWER},
    )
    assert status == 200, done
    assert done["status"] == "answered"
    return created


def pdf_text(data: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


async def stored_pdfs(env: Env, request_id: str) -> list[Any]:
    async with env.uow() as uow:
        rows = await uow.session.execute(
            select(resident_documents.c.id).where(
                resident_documents.c.context_type == "expertise_report",
                resident_documents.c.context_id == uuid.UUID(request_id),
                resident_documents.c.content_type == "application/pdf",
            )
        )
        return list(rows.all())


def outbox_lines(settings: Settings) -> list[dict[str, Any]]:
    outbox = Path(settings.data_dir) / "outbox" / "reports.jsonl"
    if not outbox.exists():
        return []
    text = outbox.read_text()
    assert_no_health_data(text)
    return [json.loads(line) for line in text.splitlines()]


async def test_the_nurse_downloads_a_pdf_with_identity_outcome_and_rpps_while_the_blob_is_no_pdf(
    env: Env, settings: Settings
) -> None:
    created = await answered_request(env)
    request_id = created["id"]
    assert len(await stored_pdfs(env, request_id)) == 1  # made when the expert answered
    sent = outbox_lines(settings)
    assert [(m["kind"], m["report_id"]) for m in sent] == [("expertise", request_id)]

    await env.login(Role.IDE)
    response = await env.client.get(f"/api/v1/expertise/{request_id}/pdf")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "application/pdf"
    text = pdf_text(await response.read())
    assert "Compte-rendu de la téléexpertise du lundi 23 novembre 2026" in " ".join(text.split())
    assert "Modification thérapeutique" in text  # the outcome's label
    assert BIRTH_NAME in text and FIRST_NAME in text and "03/08/1955" in text
    assert f"{INS_MATRICULE} (OID 1.2.250.1.213.1.4.10)" in text
    assert f"RPPS {RPPS}" in text
    assert "Hôpital Test" in text and "EHPAD Test" in text  # letterhead, requesting care home
    assert "Niveau 1 : une question précise" in text and "TE2" in text
    for line in (QUESTION, CONTEXT, ANSWER):
        assert " ".join(line.split()) in " ".join(text.split())
    assert len(await stored_pdfs(env, request_id)) == 1  # downloaded, not made again

    stored = [path.read_bytes() for path in blob_files(settings)]
    assert stored and all(b"%PDF" not in blob and b"Hydrocollo" not in blob for blob in stored)

    listing = await env.client.get("/expertise")
    assert f"/expertise/{request_id}/report.pdf" in await listing.text()
    page_pdf = await env.client.get(f"/expertise/{request_id}/report.pdf")
    assert page_pdf.status == 200 and (await page_pdf.read()).startswith(b"%PDF-")

    timeline = await env.client.get(f"/residents/{created['resident_id']}/timeline")
    assert "Compte-rendu de téléexpertise du 23/11/2026" in await timeline.text()

    events = [e.action for e in await accesses_to(env.uow(), "expertise", request_id)]
    assert {"expertise.answer", "expertise.pdf.generate", "expertise.pdf"} <= set(events)
    assert events.count("expertise.pdf") == 2  # the API's and the page's download


async def test_another_care_home_or_expert_gets_404_and_nobody_gets_a_pdf_before_the_answer(
    env: Env,
) -> None:
    created = await claimed_request(env)
    request_id = created["id"]
    url = f"/api/v1/expertise/{request_id}/pdf"
    assert (await env.client.get(url)).status == 404  # not answered yet
    status, _done = await post(
        env, f"/api/v1/expertise/{request_id}/answer", {"outcome": "avis_conseils", "text": ANSWER}
    )
    assert status == 200
    assert (await env.client.get(url)).status == 200  # the expert who answered

    passwords, now = env.app[PASSWORDS], env.clock.now()
    other_nurse = await make_user(
        env.uow, passwords, now, Role.IDE, env.territory.other_ehpad, username="ide.autre"
    )
    other_expert = await expert(env, "exp.autre")
    for outsider in (other_nurse, other_expert):
        await login_as(env, outsider)
        assert (await env.client.get(url)).status == 404
        assert (await env.client.get(f"/expertise/{request_id}/report.pdf")).status == 404
    await env.login(Role.COORDINATEUR)
    assert (await env.client.get(url)).status == 403
    await env.login(Role.IDE)
    assert (await env.client.get(url)).status == 200


async def test_without_a_pdf_renderer_the_answer_stays_and_the_pdf_is_made_at_the_first_download(
    env: Env, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await claimed_request(env)
    request_id = created["id"]

    def no_pango() -> object:
        raise PdfUnavailable()

    # The server as it is without Pango: WeasyPrint cannot be loaded.
    monkeypatch.setattr(teleconsult.pdf, "_weasyprint", no_pango)
    token = await env.csrf("/expertise/queue")
    answered = await env.client.post(
        f"/expertise/{request_id}/answer",
        data={"csrf_token": token, "outcome": "consultation_physique", "text": ANSWER},
        allow_redirects=False,
    )
    assert answered.status == 303, await answered.text()
    await env.login(Role.IDE)
    view = await (await env.client.get(f"/api/v1/expertise/{request_id}")).json()
    assert view["status"] == "answered" and view["answer"]["text"] == ANSWER
    assert await stored_pdfs(env, request_id) == [] and outbox_lines(settings) == []

    refused = await env.client.get(f"/api/v1/expertise/{request_id}/pdf")
    assert refused.status == 503
    assert (await refused.json())["error"] == "pdf_unavailable"

    monkeypatch.undo()  # Pango is back
    response = await env.client.get(f"/api/v1/expertise/{request_id}/pdf")
    assert response.status == 200, await response.text()
    assert "Une consultation physique est nécessaire" in pdf_text(await response.read())
    assert len(await stored_pdfs(env, request_id)) == 1
    assert [m["report_id"] for m in outbox_lines(settings)] == [request_id]

"""Comptes-rendus on both backends: the booked expert autosaves, finalises (422 naming every missing field,
then immutable: 409 proposing an addendum), adds an addendum; the appointment becomes held; the PDF carries
the outcome and the resident's identity while the stored blob is no PDF; the care home downloads it,
outsiders get 404, coordinators 403; every step is audited; two finalisations at once give one winner."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pypdf
from sqlalchemy import select

from records.audit.service import accesses_to
from records.reports.store import reports
from teleconsult.identity.model import Role
from teleconsult.keys import PASSWORDS
from teleconsult.settings import Settings
from tests.factories import make_user
from tests.integration.conftest import Env
from tests.integration.test_appointment_documents import appointment, booked_appointment
from tests.integration.test_documents import blob_files
from tests.integration.test_expertise import login_as
from tests.integration.test_notifications import (
    BIRTH_NAME,
    FIRST_NAME,
    INS_MATRICULE,
    assert_no_health_data,
    booked,
)
from tests.integration.test_scheduling import headers

COMPLETE: dict[str, Any] = {
    "outcome": "direct_admission",
    "findings": "Chutes répétées, hypotension orthostatique. Conclusion : iatrogénie probable.",
    "prescriptions": "Arrêt de l'amlodipine.",
    "participants": "IDEC, fille de la résidente",
    "admission_department": "Gériatrie aiguë",
    "admission_on": "2026-12-02",
    "follow_up_on": "2027-01-15",
}


def url(appointment_id: str, tail: str = "") -> str:
    return f"/api/v1/appointments/{appointment_id}/report{tail}"


async def as_expert_after_the_call(env: Env) -> str:
    appointment_id = await booked_appointment(env)
    env.clock.advance(timedelta(days=2))  # the consultation has taken place
    await env.login(Role.EXPERT)
    return appointment_id


async def save(env: Env, appointment_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await env.client.put(url(appointment_id), json=body, headers=await headers(env))
    return response.status, await response.json()


async def finalise(env: Env, appointment_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await env.client.post(url(appointment_id, "/finalise"), json=body, headers=await headers(env))
    return response.status, await response.json()


async def test_autosave_then_finalise_names_every_missing_field_then_the_report_is_final(env: Env) -> None:
    appointment_id = await as_expert_after_the_call(env)
    status, draft = await save(env, appointment_id, {"version": 0, "findings": "Début de note"})
    assert status == 200, draft
    assert draft["status"] == "draft" and draft["version"] == 1

    status, refused = await finalise(env, appointment_id, {"version": 1, "outcome": "direct_admission"})
    assert status == 422, refused
    assert set(refused["fields"]) == {"findings", "admission_department", "admission_on"}
    # Nothing was finalised, and the draft kept its last saved content.
    status, current = await save(env, appointment_id, {**COMPLETE, "version": 1})
    assert status == 200 and current["version"] == 2

    status, final = await finalise(env, appointment_id, {**COMPLETE, "version": 2})
    assert status == 200, final
    assert final["status"] == "final" and final["finalised_at"]
    assert (await appointment(env, appointment_id))["status"] == "done"

    status, edit = await save(env, appointment_id, {**COMPLETE, "version": final["version"], "findings": "x"})
    assert status == 409 and edit["error"] == "report_finalised"
    assert "addendum" in edit["message"].lower()


async def test_a_stale_autosave_is_refused(env: Env) -> None:
    appointment_id = await as_expert_after_the_call(env)
    assert (await save(env, appointment_id, {"version": 0, "findings": "onglet 1"}))[0] == 200
    status, stale = await save(env, appointment_id, {"version": 0, "findings": "onglet 2"})
    assert status == 409 and stale["error"] == "stale_report"


async def test_finalising_before_the_call_or_on_bad_input_is_a_clear_4xx(env: Env) -> None:
    appointment_id = await booked_appointment(env)
    await env.login(Role.EXPERT)
    status, early = await finalise(env, appointment_id, {**COMPLETE, "version": 0})
    assert status == 409 and early["error"] == "consultation_not_started"
    status, bad = await save(
        env, appointment_id, {"version": 0, "outcome": "guérison", "admission_on": "32/13"}
    )
    assert status == 422 and set(bad["fields"]) == {"outcome", "admission_on"}


async def test_the_pdf_holds_outcome_and_identity_but_the_stored_blob_is_no_pdf(
    env: Env, settings: Settings
) -> None:
    appointment_id = str((await booked(env))["id"])  # a resident with a qualified INS
    env.clock.advance(timedelta(days=2))
    await env.login(Role.EXPERT)
    status, final = await finalise(env, appointment_id, {**COMPLETE, "version": 0})
    assert status == 200, final

    await env.login(Role.IDE)  # the care home's nurse downloads it
    response = await env.client.get(f"/appointments/{appointment_id}/report.pdf")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "application/pdf"
    data = await response.read()
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    assert "Hospitalisation directe programmée" in text
    assert BIRTH_NAME in text and FIRST_NAME in text and "03/08/1955" in text
    assert f"{INS_MATRICULE} (OID 1.2.250.1.213.1.4.10)" in text
    assert "Arrêt de l'amlodipine" in text

    stored = [path.read_bytes() for path in blob_files(settings)]
    assert stored and all(b"%PDF" not in blob and b"amlodipine" not in blob for blob in stored)
    async with env.uow() as uow:
        body = (await uow.session.execute(select(reports.c.body))).scalar_one()
    assert b"amlodipine" not in body and "amlodipine".encode("utf-16-le") not in body

    outbox = Path(settings.data_dir) / "outbox" / "reports.jsonl"
    sent = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [m["report_id"] for m in sent] == [final["id"]]
    assert "amlodipine" not in outbox.read_text()
    assert_no_health_data(outbox.read_text())


async def test_an_addendum_is_audited_and_goes_into_a_new_pdf(env: Env) -> None:
    appointment_id = await as_expert_after_the_call(env)
    status, final = await finalise(env, appointment_id, {**COMPLETE, "version": 0})
    assert status == 200, final
    env.clock.advance(timedelta(minutes=20))
    response = await env.client.post(
        url(appointment_id, "/addenda"),
        json={"text": "Erratum : reprendre l'amlodipine à demi-dose."},
        headers=await headers(env),
    )
    assert response.status == 201, await response.text()
    read = await (await env.client.get(url(appointment_id))).json()
    assert [a["text"] for a in read["addenda"]] == ["Erratum : reprendre l'amlodipine à demi-dose."]
    pdf = await (await env.client.get(f"/appointments/{appointment_id}/report.pdf")).read()
    assert "demi-dose" in "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    events = [e.action for e in await accesses_to(env.uow(), "report", final["id"])]
    assert {"report.finalise", "report.addendum", "report.read"} <= set(events)


async def test_who_may_read_and_write(env: Env) -> None:
    appointment_id = await as_expert_after_the_call(env)
    assert (await finalise(env, appointment_id, {**COMPLETE, "version": 0}))[0] == 200
    passwords, now = env.app[PASSWORDS], env.clock.now()
    other_expert = await make_user(
        env.uow, passwords, now, Role.EXPERT, env.territory.hospital, username="exp.o"
    )
    other_nurse = await make_user(
        env.uow, passwords, now, Role.IDE, env.territory.other_ehpad, username="ide.o"
    )
    for outsider in (other_expert, other_nurse):
        await login_as(env, outsider)
        assert (await env.client.get(url(appointment_id))).status == 404
        assert (await env.client.get(f"/appointments/{appointment_id}/report.pdf")).status == 404
    for role in (Role.COORDINATEUR, Role.SECRETARIAT):
        await env.login(role)
        assert (await env.client.get(url(appointment_id))).status == 403
    await env.login(Role.IDE)
    assert (await env.client.get(url(appointment_id))).status == 200
    response = await env.client.put(url(appointment_id), json={"version": 2}, headers=await headers(env))
    assert response.status == 403  # the care home reads, the expert writes


async def test_two_finalisations_at_once_give_one_final_report(env: Env) -> None:
    appointment_id = await as_expert_after_the_call(env)
    assert (await save(env, appointment_id, {**COMPLETE, "version": 0}))[0] == 200
    results = await asyncio.gather(
        finalise(env, appointment_id, {**COMPLETE, "version": 1}),
        finalise(env, appointment_id, {**COMPLETE, "version": 1, "findings": "autre"}),
    )
    assert sorted(status for status, _ in results) == [200, 409]
    async with env.uow() as uow:
        rows = (await uow.session.execute(select(reports.c.status, reports.c.version))).all()
    assert [(row.status, row.version) for row in rows] == [("final", 3)]  # saved, then finalised


async def test_the_report_page_shows_errors_in_french_and_the_final_view(env: Env) -> None:
    appointment_id = await as_expert_after_the_call(env)
    page = await env.client.get(f"/appointments/{appointment_id}/report")
    assert page.status == 200
    token = await env.csrf(f"/appointments/{appointment_id}/report")
    refused = await env.client.post(
        f"/appointments/{appointment_id}/report",
        data={"csrf_token": token, "intent": "finalise", "version": "0", "findings": "Note"},
    )
    assert refused.status == 422
    html = await refused.text()
    assert "Choisissez le résultat de la consultation." in html and "Note" in html
    done = await env.client.post(
        f"/appointments/{appointment_id}/report",
        data={"csrf_token": token, "intent": "finalise", "version": "0", **COMPLETE},
    )
    assert done.status == 200  # followed the redirect to the final view
    assert "Ajouter un addendum" in await done.text()


async def test_the_resident_timeline_lists_the_consultation_its_report_and_documents(env: Env) -> None:
    created = await booked(env)  # logged in as the nurse
    appointment_id, resident_id = str(created["id"]), str(created["resident_id"])
    env.clock.advance(timedelta(days=2))
    await env.login(Role.EXPERT)
    assert (await finalise(env, appointment_id, {**COMPLETE, "version": 0}))[0] == 200

    await env.login(Role.IDE)
    page = await env.client.get(f"/residents/{resident_id}/timeline")
    assert page.status == 200, await page.text()
    html = await page.text()
    report_at = html.index("Hospitalisation directe programmée")
    requested_at = html.index("Téléconsultation demandée")
    assert report_at < requested_at  # newest first
    assert f"/appointments/{appointment_id}/report.pdf" in html
    assert "Compte-rendu de téléconsultation du" in html  # the PDF, among the resident's documents
    events = await accesses_to(env.uow(), "resident", resident_id)
    assert "resident.timeline" in {e.action for e in events}

    other_nurse = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.other_ehpad, username="ide.t"
    )
    await login_as(env, other_nurse)
    assert (await env.client.get(f"/residents/{resident_id}/timeline")).status == 404

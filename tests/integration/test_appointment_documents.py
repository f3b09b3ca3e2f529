"""An appointment's preparation documents, through the API and the appointment page, on both backends:
attaching ticks the checklist (so readiness follows), the appointment's expert reads and downloads them
(with ranges), another EHPAD's nurse and another expert get 404, every access is audited, and a refused
upload leaves nothing behind."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from records.audit.service import accesses_to
from teleconsult.identity.model import Role
from teleconsult.keys import PASSWORDS
from teleconsult.settings import Settings
from tests.factories import make_user
from tests.integration.conftest import Env
from tests.integration.test_documents import big_pdf, blob_files, document_rows
from tests.integration.test_expertise import login_as
from tests.integration.test_scheduling import book, booking, headers, setup
from tests.unit.test_documents_model import jpeg, pdf


def form(data: bytes, title: str = "Photo de la plaie", *, dlu: bool = False) -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("title", title)
    if dlu:
        body.add_field("is_dlu", "1")
    body.add_field("file", data, filename="photo.jpg", content_type="image/jpeg")
    return body


async def booked_appointment(env: Env) -> str:
    resident_id, expert_id = await setup(env)
    status, created = await book(env, booking(resident_id, expert_id))
    assert status == 201, created
    return str(created["id"])


async def attach(env: Env, appointment_id: str, data: bytes, **kwargs: Any) -> aiohttp.ClientResponse:
    url = f"/api/v1/appointments/{appointment_id}/documents"
    return await env.client.post(url, data=form(data, **kwargs), headers=await headers(env))


async def appointment(env: Env, appointment_id: str) -> dict[str, Any]:
    response = await env.client.get(f"/api/v1/appointments/{appointment_id}")
    assert response.status == 200, await response.text()
    payload: dict[str, Any] = await response.json()
    return payload


async def test_attaching_ticks_photos_then_dlu_and_readiness_follows(env: Env) -> None:
    appointment_id = await booked_appointment(env)
    before = await appointment(env, appointment_id)
    assert not before["checklist"]["photos"] and not before["checklist"]["dlu"]

    response = await attach(env, appointment_id, jpeg())
    assert response.status == 201, await response.text()
    document = await response.json()
    assert document["context_id"] == appointment_id and document["content_type"] == "image/jpeg"
    after_photo = await appointment(env, appointment_id)
    assert after_photo["checklist"]["photos"] and not after_photo["checklist"]["dlu"]
    assert after_photo["readiness"] != "not_started"

    response = await attach(env, appointment_id, pdf(), title="DLU", dlu=True)
    assert response.status == 201, await response.text()
    after_dlu = await appointment(env, appointment_id)
    assert after_dlu["checklist"]["dlu"]

    listed = await (await env.client.get(f"/api/v1/appointments/{appointment_id}/documents")).json()
    assert sorted(d["title"] for d in listed["documents"]) == ["DLU", "Photo de la plaie"]


async def test_the_expert_downloads_with_ranges_and_outsiders_get_404(env: Env) -> None:
    appointment_id = await booked_appointment(env)
    content = big_pdf()
    response = await attach(env, appointment_id, content, title="Ordonnance")
    assert response.status == 201, await response.text()
    document = await response.json()

    await login_as(env, env.territory.users[Role.EXPERT])
    listed = await env.client.get(f"/api/v1/appointments/{appointment_id}/documents")
    assert [d["id"] for d in (await listed.json())["documents"]] == [document["id"]]
    whole = await env.client.get(document["download_url"])
    assert whole.status == 200 and await whole.read() == content
    part = await env.client.get(document["download_url"], headers={"Range": "bytes=70000-70099"})
    assert part.status == 206 and await part.read() == content[70000:70100]
    page = await env.client.get(f"/appointments/{appointment_id}/documents/{document['id']}")
    assert page.status == 200 and await page.read() == content
    # The expert reads; only the care home attaches.
    assert (await attach(env, appointment_id, jpeg())).status == 403

    other_expert = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.EXPERT, env.territory.hospital, username="expert.o"
    )
    other_nurse = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.other_ehpad, username="ide.o"
    )
    # Experts never attach (403 whatever the appointment); another EHPAD's nurse does not learn it exists.
    for outsider, upload_status in ((other_expert, 403), (other_nurse, 404)):
        await login_as(env, outsider)
        assert (await env.client.get(document["download_url"])).status == 404
        assert (await env.client.get(f"/api/v1/appointments/{appointment_id}/documents")).status == 404
        assert (await attach(env, appointment_id, jpeg())).status == upload_status

    events = await accesses_to(env.uow(), "document", document["id"])
    assert sorted({e.action for e in events}) == ["document.read", "document.upload"]
    about_appointment = {e.action for e in await accesses_to(env.uow(), "appointment", appointment_id)}
    assert {"document.list", "appointment.prepare"} <= about_appointment


async def test_a_refused_upload_leaves_nothing_and_ticks_nothing(env: Env, settings: Settings) -> None:
    appointment_id = await booked_appointment(env)
    unsupported = await attach(env, appointment_id, b"GIF89a not accepted")
    assert unsupported.status == 415
    too_big = await attach(env, appointment_id, b"\xff\xd8\xff" + b"0" * (settings.upload_max_bytes + 10))
    assert too_big.status == 413
    assert blob_files(settings) == [] and await document_rows(env) == 0
    assert not (await appointment(env, appointment_id))["checklist"]["photos"]


async def test_the_appointment_page_shows_the_form_and_the_documents_to_both_sides(env: Env) -> None:
    appointment_id = await booked_appointment(env)
    page = await env.client.get(f"/appointments/{appointment_id}")
    html = await page.text()
    assert page.status == 200 and 'name="is_dlu"' in html
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert token
    body = aiohttp.FormData()
    body.add_field("csrf_token", token.group(1))
    body.add_field("title", "")
    body.add_field("file", jpeg(), filename="photo.jpg", content_type="image/jpeg")
    refused = await env.client.post(f"/appointments/{appointment_id}/documents", data=body)
    assert refused.status == 422 and "Donnez un titre" in await refused.text()

    body = aiohttp.FormData()
    body.add_field("csrf_token", token.group(1))
    body.add_field("title", "DLU du jour")
    body.add_field("is_dlu", "1")
    body.add_field("file", pdf(), filename="dlu.pdf", content_type="application/pdf")
    sent = await env.client.post(
        f"/appointments/{appointment_id}/documents", data=body, allow_redirects=False
    )
    assert sent.status == 303, await sent.text()
    assert (await appointment(env, appointment_id))["checklist"]["dlu"]

    await login_as(env, env.territory.users[Role.EXPERT])
    expert_page = await (await env.client.get(f"/appointments/{appointment_id}")).text()
    assert "DLU du jour" in expert_page and 'name="is_dlu"' not in expert_page
    assert f"/appointments/{appointment_id}/documents/" in expert_page

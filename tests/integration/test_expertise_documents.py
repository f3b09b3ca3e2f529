"""A tele-expertise request's photos, through the API and the pages, on both backends: the requester
attaches them, an expert of the specialty sees and downloads them (with ranges), an expert of another
specialty and another EHPAD's nurse get 404, every access is audited, a refused upload leaves nothing."""

from __future__ import annotations

from typing import Any

import aiohttp

from records.audit.service import accesses_to
from teleconsult.identity.model import Role, Specialty
from teleconsult.keys import PASSWORDS
from teleconsult.settings import Settings
from tests.factories import make_user
from tests.integration.conftest import Env
from tests.integration.test_documents import big_pdf, blob_files, document_rows
from tests.integration.test_expertise import expert, headers, login_as, submitted
from tests.unit.test_documents_model import jpeg


async def attach(
    env: Env, request_id: str, data: bytes, title: str = "Plaie talon"
) -> aiohttp.ClientResponse:
    body = aiohttp.FormData()
    body.add_field("title", title)
    body.add_field("file", data, filename="plaie.jpg", content_type="image/jpeg")
    url = f"/api/v1/expertise/{request_id}/documents"
    return await env.client.post(url, data=body, headers=await headers(env))


async def test_the_expert_of_the_specialty_sees_the_photos_and_others_get_404(env: Env) -> None:
    created = await submitted(env)
    request_id = created["id"]
    photo = await attach(env, request_id, jpeg())
    assert photo.status == 201, await photo.text()
    content = big_pdf()
    response = await attach(env, request_id, content, title="Ordonnance")
    assert response.status == 201, await response.text()
    document: dict[str, Any] = await response.json()
    assert document["context_type"] == "expertise" and document["context_id"] == request_id

    await login_as(env, env.territory.users[Role.EXPERT])
    listed = await (await env.client.get(f"/api/v1/expertise/{request_id}/documents")).json()
    assert sorted(d["title"] for d in listed["documents"]) == ["Ordonnance", "Plaie talon"]
    whole = await env.client.get(document["download_url"])
    assert whole.status == 200 and await whole.read() == content
    part = await env.client.get(document["download_url"], headers={"Range": "bytes=100-199"})
    assert part.status == 206 and await part.read() == content[100:200]
    page = await env.client.get(f"/expertise/{request_id}/documents/{document['id']}")
    assert page.status == 200 and await page.read() == content
    queue = await (await env.client.get("/expertise/queue")).text()
    assert f"/expertise/{request_id}/documents/{document['id']}" in queue

    cardiologist = await expert(env, "expert.cardio", specialties=frozenset({Specialty.CARDIOLOGIE}))
    other_nurse = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.other_ehpad, username="ide.o"
    )
    for outsider in (cardiologist, other_nurse):
        await login_as(env, outsider)
        assert (await env.client.get(document["download_url"])).status == 404
        assert (await env.client.get(f"/api/v1/expertise/{request_id}/documents")).status == 404
    assert (await attach(env, request_id, jpeg())).status == 404

    events = await accesses_to(env.uow(), "document", document["id"])
    assert sorted({e.action for e in events}) == ["document.read", "document.upload"]
    about_request = {e.action for e in await accesses_to(env.uow(), "expertise", request_id)}
    assert {"document.list", "expertise.attach"} <= about_request


async def test_the_requesters_list_shows_the_photos_and_refusals_leave_nothing(
    env: Env, settings: Settings
) -> None:
    created = await submitted(env)
    request_id = created["id"]
    assert (await attach(env, request_id, b"GIF89a not accepted")).status == 415
    too_big = await attach(env, request_id, b"\xff\xd8\xff" + b"0" * (settings.upload_max_bytes + 10))
    assert too_big.status == 413
    assert blob_files(settings) == [] and await document_rows(env) == 0

    response = await attach(env, request_id, jpeg())
    assert response.status == 201
    document = await response.json()
    listing = await (await env.client.get("/expertise")).text()
    assert f"/expertise/{request_id}/documents/{document['id']}" in listing

"""Residents' documents through the JSON API and the pages, on both backends, with real files and crypto:
type checks, metadata stripping, caps, ranges, access, audit, tampering, nothing left after a refusal."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

from records.audit.service import accesses_to
from records.documents import service
from records.documents.model import UploadLimits
from records.documents.service import Upload
from records.documents.store import resident_documents
from teleconsult.identity.model import Role, User
from teleconsult.identity.policy import Principal
from teleconsult.keys import BLOB_STORE, KEYRING, PASSWORDS
from teleconsult.settings import Settings
from tests.factories import PASSWORD, make_user
from tests.integration.conftest import ClientFactory, Env, build_env
from tests.integration.test_residents import create, headers
from tests.unit.test_documents_model import GPS_IFD, ORIENTATION, jpeg, pdf, png_claiming

UNREADABLE_FR = "Document illisible : contactez l'administrateur."


def docs_url(resident_id: str) -> str:
    return f"/api/v1/residents/{resident_id}/documents"


def form(
    data: bytes, title: str = "DLU", filename: str = "photo.jpg", content_type: str = "image/jpeg"
) -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("title", title)
    body.add_field("file", data, filename=filename, content_type=content_type)
    return body


async def upload(env: Env, resident_id: str, data: bytes, **kwargs: str) -> aiohttp.ClientResponse:
    return await env.client.post(docs_url(resident_id), data=form(data, **kwargs), headers=await headers(env))


async def uploaded(env: Env, resident_id: str, data: bytes, **kwargs: str) -> dict[str, Any]:
    response = await upload(env, resident_id, data, **kwargs)
    assert response.status == 201, await response.text()
    document: dict[str, Any] = await response.json()
    return document


def blob_files(settings: Settings) -> list[Path]:
    return [p for p in settings.blob_dir.rglob("*") if p.is_file()] if settings.blob_dir.exists() else []


async def document_rows(env: Env) -> int:
    async with env.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(resident_documents)) or 0)


def big_pdf(size: int = 200_000) -> bytes:
    """A PDF of several 64 KiB segments (a long comment line in the middle)."""
    head, tail = pdf().split(b"xref", 1)
    return head + b"%" + b"0123456789abcdef" * (size // 16) + b"\nxref" + tail


async def nurse_with_resident(env: Env) -> str:
    await env.login(Role.IDE)
    return str((await create(env))["id"])


async def test_a_photo_with_gps_comes_back_upright_and_without_metadata(env: Env) -> None:
    resident_id = await nurse_with_resident(env)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 48.0, 10.0), 3: "E", 4: (2.0, 7.0, 30.0)})
    # The declared name and type lie (a .png name, a PDF type): the bytes decide.
    document = await uploaded(
        env,
        resident_id,
        jpeg((40, 20), exif),
        title="Plaie talon",
        filename="x.png",
        content_type="application/pdf",
    )
    assert document["content_type"] == "image/jpeg" and document["file_name"] == "x.png"

    listed = await env.client.get(docs_url(resident_id))
    assert [d["id"] for d in (await listed.json())["documents"]] == [document["id"]]

    response = await env.client.get(document["download_url"])
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="Plaie talon.jpg"')
    image = Image.open(io.BytesIO(await response.read()))
    assert image.size == (20, 40)
    assert dict(image.getexif()) == {} and not image.getexif().get_ifd(GPS_IFD) and "exif" not in image.info


async def test_byte_ranges_are_served_from_the_encrypted_blob(env: Env) -> None:
    resident_id = await nurse_with_resident(env)
    content = big_pdf()
    url = (await uploaded(env, resident_id, content, filename="plan.pdf"))["download_url"]
    length = len(content)

    async def get(range_header: str) -> aiohttp.ClientResponse:
        return await env.client.get(url, headers={"Range": range_header})

    first = await get("bytes=0-99")
    assert first.status == 206 and await first.read() == content[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{length}"
    across = await get("bytes=65500-140000")  # three segments
    assert across.status == 206 and await across.read() == content[65500:140001]
    open_ended = await get(f"bytes={length - 10}-")
    assert open_ended.status == 206 and await open_ended.read() == content[-10:]
    suffix = await get("bytes=-25")
    assert suffix.status == 206 and await suffix.read() == content[-25:]
    assert suffix.headers["Content-Range"] == f"bytes {length - 25}-{length - 1}/{length}"
    beyond = await get(f"bytes={length}-")
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{length}"
    several = await get("bytes=0-1,5-6")
    assert several.status == 200 and await several.read() == content
    head = await env.client.head(url)
    assert head.status == 200 and head.headers["Content-Length"] == str(length)


async def test_a_decompression_bomb_gets_413_before_decoding_and_leaves_nothing(
    env: Env, settings: Settings
) -> None:
    resident_id = await nurse_with_resident(env)
    response = await upload(env, resident_id, png_claiming(50_000, 50_000), filename="bomb.png")
    assert response.status == 413
    assert "mégapixels" in (await response.json())["message"]
    assert blob_files(settings) == [] and await document_rows(env) == 0


async def test_a_file_over_the_cap_gets_413_and_leaves_nothing(
    aiohttp_client: ClientFactory, settings: Settings, clock: Any
) -> None:
    env = await build_env(aiohttp_client, settings.replace(upload_max_bytes=100_000), clock)
    resident_id = await nurse_with_resident(env)
    response = await upload(env, resident_id, big_pdf(300_000), filename="gros.pdf")
    assert response.status == 413
    body = await response.json()
    assert body["error"] == "document.too_large" and "trop volumineux" in body["message"]
    assert blob_files(settings) == [] and await document_rows(env) == 0
    # Just under the cap is fine.
    assert (await upload(env, resident_id, big_pdf(90_000), filename="ok.pdf")).status == 201


async def test_other_types_get_415_in_french(env: Env, settings: Settings) -> None:
    resident_id = await nurse_with_resident(env)
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, "GIF")
    response = await upload(env, resident_id, gif.getvalue(), filename="photo.jpg", content_type="image/jpeg")
    assert response.status == 415
    assert "n'est pas accepté" in (await response.json())["message"]
    cut = await upload(env, resident_id, jpeg()[:40])
    assert cut.status == 415 and "endommagé" in (await cut.json())["message"]
    assert blob_files(settings) == [] and await document_rows(env) == 0


async def test_a_failure_after_the_blob_is_written_removes_it(env: Env, settings: Settings) -> None:
    """The row's transaction fails (an uploader unknown to the database): the blob goes too."""
    await nurse_with_resident(env)
    resident_id = uuid.UUID((await (await env.client.get("/api/v1/residents")).json())["residents"][0]["id"])
    ghost = User(uuid.uuid4(), "ghost", "Ghost", Role.IDE, env.territory.ehpad.id)

    async def read() -> Upload:
        return Upload("DLU", "dlu.pdf", pdf())

    with pytest.raises(DatabaseIntegrityError):
        await service.attach_document(
            env.uow(),
            env.app[KEYRING],
            env.app[BLOB_STORE],
            Principal(ghost, True),
            resident_id,
            read,
            UploadLimits(1_000_000, 1_000_000),
            env.clock.now(),
        )
    assert blob_files(settings) == [] and await document_rows(env) == 0


async def test_a_client_gone_mid_upload_leaves_nothing(env: Env, settings: Settings) -> None:
    resident_id = await nurse_with_resident(env)
    token = (await headers(env))["X-CSRF-Token"]
    cookie = "; ".join(f"{c.key}={c.value}" for c in env.client.session.cookie_jar)
    boundary = "XyZ"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nDLU\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode() + pdf()[:30]
    _, writer = await asyncio.open_connection(env.client.host, env.client.port)
    writer.write(
        (
            f"POST {docs_url(resident_id)} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
            f"X-CSRF-Token: {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        + head
    )
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await asyncio.sleep(0.5)
    assert blob_files(settings) == [] and await document_rows(env) == 0  # no blob, no temporary file


async def test_another_care_homes_nurse_gets_404_and_an_expert_403(env: Env) -> None:
    resident_id = await nurse_with_resident(env)
    document = await uploaded(env, resident_id, pdf(), filename="dlu.pdf")
    env.client.session.cookie_jar.clear()
    stranger = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.other_ehpad, "ide.other"
    )
    token = await env.csrf()
    await env.client.post(
        "/login", data={"csrf_token": token, "username": stranger.username, "password": PASSWORD}
    )
    assert (await env.client.get(docs_url(resident_id))).status == 404
    assert (await env.client.get(document["download_url"])).status == 404
    assert (await env.client.get(f"/residents/{resident_id}/documents/{document['id']}")).status == 404
    assert (await upload(env, resident_id, pdf())).status == 404
    # A document id under another resident's URL is no way round it either.
    env.client.session.cookie_jar.clear()
    await env.login(Role.IDE)
    other_resident = (await create(env, ins_matricule=None, ins_oid=None, identity_status="provisoire"))["id"]
    assert (await env.client.get(f"{docs_url(other_resident)}/{document['id']}")).status == 404
    env.client.session.cookie_jar.clear()
    await env.login(Role.EXPERT)
    assert (await env.client.get(document["download_url"])).status == 403


async def test_uploads_lists_downloads_and_refusals_are_audited_with_ids_only(env: Env) -> None:
    resident_id = await nurse_with_resident(env)
    document = await uploaded(env, resident_id, pdf(), title="Compte-rendu secret", filename="cr.pdf")
    await env.client.get(docs_url(resident_id))
    await env.client.get(document["download_url"])
    await upload(env, resident_id, b"GIF89a nope")
    events = await accesses_to(env.uow(), "document", document["id"])
    assert sorted(e.action for e in events) == ["document.read", "document.upload"]
    about_resident = await accesses_to(env.uow(), "resident", resident_id)
    actions = [(e.action, e.outcome.value) for e in about_resident]
    assert ("document.list", "success") in actions and ("document.upload", "failure") in actions
    for event in [*events, *about_resident]:
        assert "secret" not in repr(event) and "cr.pdf" not in repr(event)


async def test_a_tampered_blob_is_unreadable_in_french_with_an_alert_without_data(
    env: Env, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    resident_id = await nurse_with_resident(env)
    content = big_pdf()
    document = await uploaded(env, resident_id, content, title="Titre confidentiel", filename="c.pdf")
    (path,) = blob_files(settings)
    tampered = bytearray(path.read_bytes())
    tampered[100_000] ^= 0x01  # in the second segment
    path.write_bytes(bytes(tampered))
    caplog.set_level(logging.INFO)

    whole = await env.client.get(document["download_url"])
    assert whole.status == 500
    assert (await whole.json())["message"] == UNREADABLE_FR
    page = await env.client.get(f"/residents/{resident_id}/documents/{document['id']}")
    assert page.status == 500 and UNREADABLE_FR.replace("'", "&#39;") in await page.text()
    alerts = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert alerts and all(r.__dict__.get("code") == "crypto.integrity" for r in alerts)
    assert all(r.__dict__.get("document_id") == document["id"] for r in alerts)

    # A range starting in the good first segment: its bytes go, then the connection is cut, never a
    # complete-looking answer and never an unverified byte.
    cut = await env.client.get(document["download_url"], headers={"Range": "bytes=0-"})
    assert cut.status == 206
    with pytest.raises(aiohttp.ClientPayloadError):
        await cut.read()
    # A range inside the bad segment fails before any byte: the French answer again.
    inside = await env.client.get(document["download_url"], headers={"Range": "bytes=99000-99100"})
    assert inside.status == 500 and (await inside.json())["message"] == UNREADABLE_FR
    logs = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "confidentiel" not in logs and "0123456789abcdef" not in logs and "%PDF" not in logs


async def test_the_resident_page_lists_documents_and_its_form_uploads_and_keeps_the_title(env: Env) -> None:
    resident_id = await nurse_with_resident(env)
    page = await env.client.get(f"/residents/{resident_id}")
    text = await page.text()
    assert "Aucun document" in text and 'enctype="multipart/form-data"' in text and "accept=" in text
    token = (await headers(env))["X-CSRF-Token"]

    def page_form(data: bytes, title: str) -> aiohttp.FormData:
        body = aiohttp.FormData()
        body.add_field("csrf_token", token)  # first, as the page's form sends it
        body.add_field("title", title)
        body.add_field("file", data, filename="photo.jpg", content_type="image/jpeg")
        return body

    sent = await env.client.post(
        f"/residents/{resident_id}/documents", data=page_form(jpeg(), "Photo DLU"), allow_redirects=False
    )
    assert sent.status == 303 and sent.headers["Location"].endswith(f"/residents/{resident_id}#documents")
    text = await (await env.client.get(f"/residents/{resident_id}")).text()
    assert "Photo DLU" in text and "Photo (JPEG)" in text and "/documents/" in text

    refused = await env.client.post(
        f"/residents/{resident_id}/documents", data=page_form(b"GIF89a....", "Ordonnance du jour")
    )
    assert refused.status == 415
    text = await refused.text()
    assert "Ce type de fichier n'est pas accepté" in text and 'value="Ordonnance du jour"' in text

    without_token = aiohttp.FormData()
    without_token.add_field("title", "x")
    without_token.add_field("file", jpeg(), filename="a.jpg", content_type="image/jpeg")
    assert (await env.client.post(f"/residents/{resident_id}/documents", data=without_token)).status == 403

"""Issue 4, item 8: a canary resident entered through the HTTP API leaves no plaintext anywhere: not in the
SQLite file (nor its -wal), not in a pg_dump of the PostgreSQL database, not in the logs. The same for a
document whose title, file name and content carry the canary: not in the database, the blob directory
(every file of it) or the logs either; and for a teleconsultation and a tele-expertise about the canary,
whose free texts, consent person and cancellation reason name it."""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from pathlib import Path

import aiohttp
import pytest

from records.residents.model import OID_TEST_NIR, nir_key
from teleconsult.identity.model import Role
from teleconsult.settings import Settings
from tests.conftest import IN_CI, PG_ADMIN_DSN
from tests.integration.conftest import Env
from tests.integration.test_expertise import request_body, submit
from tests.integration.test_scheduling import book, booking, publish_afternoons

CANARY_NAME = "Canaryzzqx"
CANARY_FIRST = "Zzqxelle"
CANARY_INS = "2380478646777" + f"{nir_key('2380478646777'):02d}"
#: A PDF (stored byte for byte, so the canary really is in what is encrypted) about the canary resident.
CANARY_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% Patient: "
    + CANARY_NAME.encode()
    + b" "
    + CANARY_INS.encode()
    + b"\nxref\n0 1\ntrailer << /Root 1 0 R >>\nstartxref\n9\n%%EOF\n"
)


def _needles() -> list[bytes]:
    texts = [CANARY_NAME, CANARY_NAME.upper(), CANARY_FIRST, CANARY_INS, CANARY_INS[:13]]
    return [t.encode("utf-8") for t in texts] + [t.encode("utf-16-le") for t in texts[:2]]


async def _pg_dump(database_url: str) -> bytes:
    executable = shutil.which("pg_dump")
    if executable is None:
        if IN_CI:
            pytest.fail("CI=true and pg_dump is not installed")
        pytest.skip("pg_dump is not installed: the PostgreSQL dump cannot be searched")
    name = database_url.rsplit("/", 1)[1]
    dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    process = await asyncio.create_subprocess_exec(
        executable, "--no-owner", dsn, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")
    return out


async def test_the_canary_resident_is_nowhere_in_plaintext(
    env: Env, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await publish_afternoons(env)  # the expert's afternoons, for the canary's teleconsultation below
    await env.login(Role.IDE)
    token = await env.csrf("/account")
    body = {
        "birth_name": CANARY_NAME,
        "first_names": [CANARY_FIRST],
        "sex": "F",
        "birth_date": "1938-04-12",
        "birth_place_code": "78646",
        "ins_matricule": CANARY_INS,
        "ins_oid": OID_TEST_NIR,
        "identity_status": "qualifiee",
        "contact_person": f"{CANARY_NAME} fils",
    }
    created = await env.client.post("/api/v1/residents", json=body, headers={"X-CSRF-Token": token})
    assert created.status == 201, await created.text()
    resident_id = (await created.json())["id"]
    assert (await env.client.get(f"/api/v1/residents/{resident_id}")).status == 200
    found = await env.client.post(
        "/api/v1/residents/search", json={"q": CANARY_NAME[:5]}, headers={"X-CSRF-Token": token}
    )
    assert [r["id"] for r in (await found.json())["residents"]] == [resident_id]
    found = await env.client.post(
        "/api/v1/residents/search", json={"q": CANARY_INS}, headers={"X-CSRF-Token": token}
    )
    assert [r["id"] for r in (await found.json())["residents"]] == [resident_id]
    document = aiohttp.FormData()
    document.add_field("title", f"Lettre de {CANARY_NAME}")
    document.add_field("file", CANARY_PDF, filename=f"{CANARY_NAME}.pdf", content_type="application/pdf")
    uploaded = await env.client.post(
        f"/api/v1/residents/{resident_id}/documents", data=document, headers={"X-CSRF-Token": token}
    )
    assert uploaded.status == 201, await uploaded.text()
    listed = await env.client.get(f"/api/v1/residents/{resident_id}/documents")
    assert (await listed.json())["documents"][0]["title"] == f"Lettre de {CANARY_NAME}"
    downloaded = await env.client.get((await uploaded.json())["download_url"])
    assert await downloaded.read() == CANARY_PDF
    # A teleconsultation and a tele-expertise about the canary, their free texts naming it, then a
    # cancellation whose reason names it too: sealed like the rest.
    expert_id = env.territory.users[Role.EXPERT].id
    status, appointment = await book(
        env,
        booking(
            uuid.UUID(resident_id),
            expert_id,
            details=f"Agitation de {CANARY_NAME}",
            consent={
                "given_by": "famille",
                "given_on": "2026-11-20",
                "method": "oral",
                "person_name": f"{CANARY_NAME} fils",
            },
        ),
    )
    assert status == 201, appointment
    cancelled = await env.client.post(
        f"/api/v1/appointments/{appointment['id']}/cancel",
        json={"reason": f"{CANARY_NAME} hospitalisée"},
        headers={"X-CSRF-Token": token},
    )
    assert cancelled.status == 200
    status, _request = await submit(
        env, request_body(uuid.UUID(resident_id), question=f"Plaie de {CANARY_NAME} ?", context=CANARY_FIRST)
    )
    assert status == 201
    await env.client.close()  # runs the app's cleanup: the engine is disposed, SQLite checkpoints

    url = settings.database_url
    if url.startswith("sqlite"):
        database = Path(url.split("///", 1)[1])
        files = [p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()]
        assert database in files
        haystacks = {str(p): p.read_bytes() for p in files}
    else:
        haystacks = {"pg_dump": await _pg_dump(url)}
    assert any(b"resident.create" in h for h in haystacks.values()), "the search must look at real data"
    blobs = [p for p in settings.blob_dir.rglob("*") if p.is_file()]
    assert len(blobs) == 1, "the search must look at the document's blob"
    haystacks.update({str(p): p.read_bytes() for p in blobs})
    # Every log record with its extras, aiohttp's access log included: searches travel in request bodies,
    # so no URL holds a name or an INS.
    records = list(caplog.records)
    assert any(r.name == "teleconsult.http" for r in records)
    haystacks["logs"] = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in records).encode("utf-8")
    for where, haystack in haystacks.items():
        for needle in _needles():
            assert haystack.count(needle) == 0, f"{needle!r} found in {where}"

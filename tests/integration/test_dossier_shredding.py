"""A resident's whole dossier is crypto-shredded by retention: its record, its documents (their own data
keys), its appointments and tele-expertise requests (sealed under the resident's key); and a booking
restarts the retention period. Both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from records.documents.store import resident_documents
from records.residents.store import data_keys, residents
from records.retention.model import RetentionPeriods
from records.retention.service import run_retention
from scheduling.expertise.store import expertise_requests
from scheduling.store import appointment_checklist, appointments
from teleconsult.identity.model import Role
from tests.integration.conftest import Env
from tests.integration.test_documents import uploaded
from tests.integration.test_expertise import request_body, submit
from tests.integration.test_scheduling import book, booking, headers, new_resident, publish_afternoons
from tests.unit.test_documents_model import pdf

PERIODS = RetentionPeriods(medical_records_years=20, technical_months=12, recordings_days=30)


async def count(env: Env, table: object) -> int:
    async with env.uow().reading() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_shredding_a_dossier_removes_its_documents_keys_and_appointments(env: Env) -> None:
    await publish_afternoons(env)
    shredded = await new_resident(env, "Ancien")
    kept = await new_resident(env, "Recent")
    await env.login(Role.IDE)
    expert_id = env.territory.users[Role.EXPERT].id
    status, appointment = await book(env, booking(shredded, expert_id))
    assert status == 201
    response = await env.client.put(
        f"/api/v1/appointments/{appointment['id']}/checklist/dlu",
        json={"done": True},
        headers=await headers(env),
    )
    assert response.status == 200
    await uploaded(env, str(shredded), pdf(), filename="dlu.pdf", content_type="application/pdf")
    status, _ = await submit(env, request_body(shredded))
    assert status == 201
    await uploaded(env, str(kept), pdf(), filename="dlu.pdf", content_type="application/pdf")
    # Twenty years later, the recent resident has just been booked again: only the other one is due.
    later = env.clock.now() + timedelta(days=365 * 20 + 10)
    async with env.uow() as uow:
        await uow.session.execute(
            residents.update()
            .where(residents.c.id == kept)
            .values(last_activity_at=later - timedelta(days=1))
        )
        await uow.commit()
    keys_before = await count(env, data_keys)

    results = await run_retention(env.uow, PERIODS, later, dry_run=False)

    assert results[0].ids == (str(shredded),)
    assert await count(env, appointments) == 0
    assert await count(env, appointment_checklist) == 0
    assert await count(env, expertise_requests) == 0
    assert await count(env, resident_documents) == 1  # the kept resident's
    assert await count(env, data_keys) == keys_before - 2  # the resident's key and its document's
    assert await count(env, residents) == 1


async def test_a_booking_restarts_the_retention_period(env: Env) -> None:
    await publish_afternoons(env)
    resident_id = await new_resident(env)
    env.clock.advance(timedelta(days=2))  # the record was created two days before the booking
    await env.login(Role.IDE)
    status, _ = await book(
        env, booking(resident_id, env.territory.users[Role.EXPERT].id, "2026-11-26T14:00:00+01:00")
    )
    assert status == 201
    async with env.uow().reading() as uow:
        last = await uow.session.scalar(
            select(residents.c.last_activity_at).where(residents.c.id == resident_id)
        )
    assert last == env.clock.now()

"""Sequential bookings per second through the service, against raw INSERTs of the same rows, on SQLite and
PostgreSQL.

Target: scheduling.service.book (access policy, checks of the request and the slot, the dossier key, the
sealed insert and the audit event, one transaction) booking the next free afternoon slots of one expert
one after the other. Baseline: the same appointment rows (sealed beforehand) inserted one by one for
another expert by a bare INSERT, each in its own transaction, through the same engine and driver. Rounds of
a fixed number of bookings alternate target and baseline; the figure is the median of per-pair ratios.

Goal: bookings/s >= 0.3 x raw INSERTs/s on both backends.

    .venv/bin/python bench/booking_throughput.py
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/x.py` puts bench/ first on sys.path, where bench/http.py would hide the standard library's
# http (which aiohttp imports): put the repository root there instead.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import asyncio  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import insert  # noqa: E402

from bench._common import median, result_line  # noqa: E402
from bench._scheduling import (  # noqa: E402
    BACKENDS,
    BackendUnavailable,
    Database,
    database,
    make_residents,
    next_working_day,
    paris_afternoon,
    publish_afternoons,
    seed_territory,
)
from records.residents import service as residents_service  # noqa: E402
from scheduling import service  # noqa: E402
from scheduling.model import (  # noqa: E402
    PARIS,
    Appointment,
    AppointmentStatus,
    Attendee,
    Consent,
    ConsentGiver,
    ConsentMethod,
    PhysicianAgreement,
    Qualification,
    Reason,
    Urgency,
)
from scheduling.store import SchedulingStore, appointments  # noqa: E402
from teleconsult.db import create_engine  # noqa: E402
from teleconsult.identity.model import Role, Specialty  # noqa: E402
from teleconsult.identity.passwords import Passwords  # noqa: E402
from teleconsult.identity.policy import Principal  # noqa: E402

ROUNDS = 7  # of each kind, interleaved
BOOKINGS_PER_ROUND = 40
WARMUP = 10
TARGET_RATIO = 0.3
BACKEND_TIMEOUT = 900.0
SLOT_MINUTES = (0, 45, 90, 135)  # the four afternoon slots after 14:00


def slots(first_day: date, count: int) -> list[datetime]:
    found: list[datetime] = []
    day = first_day
    while len(found) < count:
        found += [paris_afternoon(day) + timedelta(minutes=m) for m in SLOT_MINUTES]
        day = next_working_day(day)
    return found[:count]


QUALIFICATION = Qualification(
    Specialty.GERIATRIE,
    Reason.TROUBLES_COMPORTEMENT,
    "Agitation vespérale depuis 10 jours",
    Urgency.PROGRAMMEE,
    frozenset({Attendee.IDEC, Attendee.FAMILY}),
)


async def ratio_on(db: Database) -> float:
    now = datetime.now(UTC)
    today = now.astimezone(PARIS).date()
    territory = await seed_territory(db, Passwords(fast=True), now)
    nurse, expert = territory.users[Role.IDE], territory.users[Role.EXPERT]
    await publish_afternoons(db, expert, expert, now, today)
    booker_resident, raw_resident = await make_residents(db, nurse, 2, now)
    total = WARMUP + ROUNDS * BOOKINGS_PER_ROUND
    times = slots(next_working_day(today), 2 * total)
    service_times, raw_times = times[:total], times[total:]
    consent = Consent(ConsentGiver.FAMILY, today, ConsentMethod.ORAL, "Paul Martin")
    agreement = PhysicianAgreement(True)
    actor = Principal(nurse, True)

    # The baseline's rows: the same columns a booking writes, sealed for real, prepared before timing.
    async with db.new_uow() as uow:
        key = await residents_service.dossier_key_in(uow, db.keys, raw_resident)
    template = Appointment(
        id=uuid.uuid4(),
        expert_id=expert.id,
        ehpad_id=territory.ehpad.id,
        resident_id=raw_resident,
        specialty=Specialty.GERIATRIE,
        starts_at=raw_times[0],
        ends_at=raw_times[0] + timedelta(minutes=45),
        status=AppointmentStatus.BOOKED,
        qualification=QUALIFICATION,
        consent=consent,
        agreement=agreement,
        created_by=nurse.id,
        created_at=now,
    )
    raw_rows: list[dict[str, Any]] = [
        SchedulingStore._values(
            replace(template, id=uuid.uuid4(), starts_at=start, ends_at=start + timedelta(minutes=45)),
            key,
            None,
            now,
        )
        for start in raw_times
    ]
    engine = create_engine(db.settings.sqlalchemy_url)
    booked = 0
    inserted = 0

    async def book_some(count: int) -> float:
        nonlocal booked
        started = time.perf_counter()
        for start in service_times[booked : booked + count]:
            request = service.BookingRequest(
                booker_resident, expert.id, start, QUALIFICATION, consent, agreement
            )
            result = await service.book(db.new_uow(), db.keys, actor, request, now)
            assert result.created
        booked += count
        return count / (time.perf_counter() - started)

    async def insert_some(count: int) -> float:
        nonlocal inserted
        started = time.perf_counter()
        for row in raw_rows[inserted : inserted + count]:
            async with engine.begin() as connection:
                await connection.execute(insert(appointments).values(row))
        inserted += count
        return count / (time.perf_counter() - started)

    try:
        await book_some(WARMUP)
        await insert_some(WARMUP)
        ratios = []
        for index in range(ROUNDS):
            if index % 2 == 0:
                rate, raw_rate = await book_some(BOOKINGS_PER_ROUND), await insert_some(BOOKINGS_PER_ROUND)
            else:
                raw_rate, rate = await insert_some(BOOKINGS_PER_ROUND), await book_some(BOOKINGS_PER_ROUND)
            ratios.append(rate / raw_rate)
            print(
                f"{db.backend} round {index + 1}: service {rate:.0f} bookings/s, raw {raw_rate:.0f} "
                f"inserts/s, ratio {rate / raw_rate:.3f}",
                flush=True,
            )
    finally:
        await engine.dispose()
    return median(ratios)


async def main() -> None:
    print(
        f"booking throughput: {ROUNDS} interleaved rounds of {BOOKINGS_PER_ROUND} sequential bookings "
        "through "
        "scheduling.service.book against as many raw INSERTs of the same rows",
        flush=True,
    )
    lines = []
    for backend in BACKENDS:
        ratio = math.nan
        try:
            async with database(backend) as db:
                ratio = await asyncio.wait_for(ratio_on(db), BACKEND_TIMEOUT)
        except BackendUnavailable as exc:
            print(f"{backend}: {exc}", flush=True)
        except Exception as exc:
            print(f"{backend}: benchmark failed: {exc.__class__.__name__}: {exc}", flush=True)
        lines.append(
            result_line(f"booking_throughput_{backend}", "throughput_ratio", ratio, ">=", TARGET_RATIO)
        )
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())

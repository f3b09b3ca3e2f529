"""The nurse's slot search and an expert's month agenda, with 1x and 10x data, on SQLite and PostgreSQL.

Data: one care home under convention with a geriatric team of 30 experts (1x) or 300 (10x), each with
Monday-to-Friday afternoons (4 slots of 45 minutes) and a year of bookings (two of the four slots of every
working day, six months back and six months ahead), one resident per expert. Experts, residents and windows
go through the real service functions; the appointments through SchedulingStore.add_many in big
transactions, sealed for real under each resident's dossier key.

Both datasets live side by side (one database each), served in-process by the real app (aiohttp test
server); rounds alternate between them and between each request and its baseline:
- GET /api/v1/slots?specialty=geriatrie (as the nurse), against one raw SQL query through the same engine
  and driver returning the rows the search reads (the busy periods of the experts up to the day of its
  last slot);
- GET /api/v1/experts/{id}/agenda?days=31 (as the expert), against one raw SQL query returning that month's
  appointment rows of the expert.

Targets per backend and request: time at 10x / time at 1x <= 2; and request speed >= 0.4 x the raw query's
(raw query time / request time, medians of the rounds).

    .venv/bin/python bench/agenda.py
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
import contextlib  # noqa: E402
import math  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime, time, timedelta  # noqa: E402
from time import perf_counter  # noqa: E402
from typing import Any  # noqa: E402

from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench._common import CSRF_INPUT, median, result_line  # noqa: E402
from bench._scheduling import (  # noqa: E402
    BACKENDS,
    BackendUnavailable,
    Database,
    database,
    make_residents,
    paris_afternoon,
    publish_afternoons,
    seed_territory,
)
from records.residents import service as residents_service  # noqa: E402
from records.sealing import DossierKey  # noqa: E402
from scheduling.model import (  # noqa: E402
    ACTIVE_STATUSES,
    PARIS,
    SEARCH_HORIZON,
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
from scheduling.service import is_french_holiday  # noqa: E402
from scheduling.store import SchedulingStore, appointments  # noqa: E402
from teleconsult.app import create_app  # noqa: E402
from teleconsult.identity.model import Role, Specialty, User  # noqa: E402
from teleconsult.identity.passwords import Passwords  # noqa: E402
from teleconsult.keys import ENGINE  # noqa: E402
from tests.factories import PASSWORD, make_user  # noqa: E402

BASE_EXPERTS = 30
SCALES = (1, 10)
ROUNDS = 7
REQUESTS_PER_ROUND = 10
BOOKED_SLOTS = (0, 2)  # of the four afternoon slots (14:00, 14:45, 15:30, 16:15), these are booked
ROWS_PER_TRANSACTION = 5000
SCALING_TARGET = 2.0
RAW_TARGET = 0.4
BACKEND_TIMEOUT = 3600.0

Client = TestClient[web.Request, web.Application]


@dataclass
class Dataset:
    scale: int
    db: Database
    nurse: Client
    expert: Client
    expert_id: uuid.UUID
    expert_ids: list[uuid.UUID]


def working_days(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5 and not is_french_holiday(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def appointment(expert: User, ehpad_id: uuid.UUID, resident_id: uuid.UUID, start: datetime) -> Appointment:
    return Appointment(
        id=uuid.uuid4(),
        expert_id=expert.id,
        ehpad_id=ehpad_id,
        resident_id=resident_id,
        specialty=Specialty.GERIATRIE,
        starts_at=start,
        ends_at=start + timedelta(minutes=45),
        status=AppointmentStatus.BOOKED,
        qualification=Qualification(
            Specialty.GERIATRIE,
            Reason.TROUBLES_COMPORTEMENT,
            "Agitation vespérale depuis 10 jours",
            Urgency.PROGRAMMEE,
            frozenset({Attendee.IDEC, Attendee.FAMILY}),
        ),
        consent=Consent(ConsentGiver.FAMILY, start.date() - timedelta(days=7), ConsentMethod.ORAL, "Paul M."),
        agreement=PhysicianAgreement(True),
        created_by=expert.id,
        created_at=start - timedelta(days=14),
    )


async def seed(db: Database, experts_count: int, now: datetime) -> tuple[User, User, list[User]]:
    """The territory, ``experts_count`` experts in its team, their windows and a year of bookings."""
    passwords = Passwords(fast=True)
    territory = await seed_territory(db, passwords, now)
    nurse, first_expert = territory.users[Role.IDE], territory.users[Role.EXPERT]
    experts = [first_expert] + [
        await make_user(
            db.new_uow,
            passwords,
            now,
            Role.EXPERT,
            territory.hospital,
            username=f"expert.bench.{n}",
            department_id=territory.team_id,
        )
        for n in range(experts_count - 1)
    ]
    today = now.astimezone(PARIS).date()
    first, last = today - timedelta(days=182), today + timedelta(days=182)
    for expert in experts:
        await publish_afternoons(db, expert, expert, now, first)
    residents = await make_residents(db, nurse, experts_count, now)
    keys: dict[uuid.UUID, DossierKey] = {}
    async with db.new_uow() as uow:
        for resident_id in residents:
            keys[resident_id] = await residents_service.dossier_key_in(uow, db.keys, resident_id)
    ehpad_id = territory.ehpad.id
    batch: list[tuple[Appointment, DossierKey]] = []
    days = working_days(first, last)
    started = perf_counter()
    total = 0
    for expert, resident_id in zip(experts, residents, strict=True):
        for day in days:
            for index in BOOKED_SLOTS:
                start = paris_afternoon(day, 14, 0) + timedelta(minutes=45 * index)
                batch.append((appointment(expert, ehpad_id, resident_id, start), keys[resident_id]))
        if len(batch) >= ROWS_PER_TRANSACTION or expert is experts[-1]:
            async with db.new_uow() as uow:
                await uow.store(SchedulingStore).add_many(batch, now)
                await uow.commit()
            total += len(batch)
            batch = []
    print(
        f"{db.backend} x{experts_count // BASE_EXPERTS}: {experts_count} experts, {total} appointments "
        f"sealed and inserted in {perf_counter() - started:.1f} s",
        flush=True,
    )
    return nurse, first_expert, experts


async def log_in_client(client: Client, username: str) -> Client:
    await client.start_server()
    page = await client.get("/login")
    found = CSRF_INPUT.search(await page.text())
    assert found is not None
    answer = await client.post(
        "/login",
        data={"csrf_token": found.group(1), "username": username, "password": PASSWORD},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    return client


@contextlib.asynccontextmanager
async def dataset(backend: str, scale: int, now: datetime) -> AsyncIterator[Dataset]:
    async with database(backend) as db:
        nurse, expert, experts = await seed(db, BASE_EXPERTS * scale, now)
        server = TestServer(create_app(db.settings))
        nurse_client = await log_in_client(TestClient(server), nurse.username)
        expert_client = await log_in_client(TestClient(server), expert.username)  # its own cookies
        try:
            yield Dataset(scale, db, nurse_client, expert_client, expert.id, [e.id for e in experts])
        finally:
            await expert_client.close()
            await nurse_client.close()


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    """Median seconds of one action over REQUESTS_PER_ROUND runs."""
    times = []
    for _ in range(REQUESTS_PER_ROUND):
        started = perf_counter()
        await action()
        times.append(perf_counter() - started)
    return median(times)


def slot_search(data: Dataset) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        response = await data.nurse.get("/api/v1/slots?specialty=geriatrie")
        body = await response.json()
        assert response.status == 200 and len(body["slots"]) == 12, body

    return run


def agenda(data: Dataset, today: date) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        response = await data.expert.get(f"/api/v1/experts/{data.expert_id}/agenda?from={today}&days=31")
        body = await response.json()
        assert response.status == 200 and len(body["appointments"]) > 20, body

    return run


def raw(data: Dataset, query: Any, expect_rows: int) -> Callable[[], Awaitable[None]]:
    """One SQL statement through the app's own engine and driver, rows fetched, nothing else."""
    engine = data.nurse.server.app[ENGINE]  # type: ignore[index]

    async def run() -> None:
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        assert len(rows) >= expect_rows

    return run


async def search_reach(data: Dataset, now: datetime) -> datetime:
    """Where the slot search must have read to: the Paris midnight after the day of its last slot (it
    reads the horizon a stretch at a time and stops once the page is full)."""
    body = await (await data.nurse.get("/api/v1/slots?specialty=geriatrie")).json()
    last_day = datetime.fromisoformat(body["slots"][-1]["local_start"]).date()
    return min(datetime.combine(last_day + timedelta(days=1), time(), tzinfo=PARIS), now + SEARCH_HORIZON)


def baselines(
    data: Dataset, now: datetime, today: date, reach: datetime
) -> dict[str, Callable[[], Awaitable[None]]]:
    first = datetime.combine(today, time(), tzinfo=PARIS)
    busy = select(appointments.c.expert_id, appointments.c.starts_at, appointments.c.ends_at).where(
        appointments.c.expert_id.in_(data.expert_ids),
        appointments.c.status.in_([status.value for status in ACTIVE_STATUSES]),
        appointments.c.starts_at < reach,
        appointments.c.ends_at > now,
    )
    month = (
        select(appointments)
        .where(
            appointments.c.expert_id == data.expert_id,
            appointments.c.starts_at >= first,
            appointments.c.starts_at < first + timedelta(days=31),
        )
        .order_by(appointments.c.starts_at)
    )
    return {"slots": raw(data, busy, 1), "agenda": raw(data, month, 20)}


async def measure(backend: str) -> dict[str, dict[str, float]]:
    """Per request kind: median request seconds at each scale, and median raw/request ratio per scale."""
    now = datetime.now(UTC)
    today = now.astimezone(PARIS).date()
    async with contextlib.AsyncExitStack() as stack:
        sets = [await stack.enter_async_context(dataset(backend, scale, now)) for scale in SCALES]
        kinds: dict[str, dict[int, tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]]] = {
            "slots": {},
            "agenda": {},
        }
        for data in sets:
            base = baselines(data, now, today, await search_reach(data, now))
            kinds["slots"][data.scale] = (slot_search(data), base["slots"])
            kinds["agenda"][data.scale] = (agenda(data, today), base["agenda"])
        for per_scale in kinds.values():  # warm up every path once
            for request, query in per_scale.values():
                await request()
                await query()
        samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for round_index in range(ROUNDS):
            for kind, per_scale in kinds.items():
                order = SCALES if round_index % 2 == 0 else tuple(reversed(SCALES))
                for scale in order:
                    request, query = per_scale[scale]
                    request_s, raw_s = (await timed(request), await timed(query))
                    samples.setdefault((kind, scale), []).append((request_s, raw_s))
    figures: dict[str, dict[str, float]] = {}
    for kind in kinds:
        figure: dict[str, float] = {}
        for scale in SCALES:
            pairs = samples[(kind, scale)]
            figure[f"request_x{scale}"] = median([r for r, _ in pairs])
            figure[f"raw_x{scale}"] = median([q for _, q in pairs])
            figure[f"raw_ratio_x{scale}"] = median([q / r for r, q in pairs])
        figure["scaling"] = figure[f"request_x{SCALES[-1]}"] / figure[f"request_x{SCALES[0]}"]
        figures[kind] = figure
        print(
            f"{backend} {kind}: request {figure['request_x1'] * 1000:.1f} ms at 1x, "
            f"{figure['request_x10'] * 1000:.1f} ms at 10x (x{figure['scaling']:.2f}); raw query "
            f"{figure['raw_x1'] * 1000:.2f} ms at 1x, {figure['raw_x10'] * 1000:.2f} ms at 10x; "
            f"raw/request {figure['raw_ratio_x1']:.3f} at 1x, {figure['raw_ratio_x10']:.3f} at 10x",
            flush=True,
        )
    return figures


async def main() -> None:
    print(
        f"agenda bench: {BASE_EXPERTS} and {BASE_EXPERTS * SCALES[-1]} experts with a year of bookings; "
        f"{ROUNDS} interleaved rounds of {REQUESTS_PER_ROUND} requests per kind and scale",
        flush=True,
    )
    lines: list[str] = []
    for backend in BACKENDS:
        figures: dict[str, dict[str, float]] = {}
        try:
            figures = await asyncio.wait_for(measure(backend), BACKEND_TIMEOUT)
        except BackendUnavailable as exc:
            print(f"{backend}: {exc}", flush=True)
        except Exception as exc:
            print(f"{backend}: benchmark failed: {exc.__class__.__name__}: {exc}", flush=True)
        for kind in ("slots", "agenda"):
            figure = figures.get(kind, {})
            lines.append(
                result_line(
                    f"agenda_{kind}_scaling_{backend}",
                    "time_10x_over_1x",
                    figure.get("scaling", math.nan),
                    "<=",
                    SCALING_TARGET,
                )
            )
            for scale in SCALES:
                lines.append(
                    result_line(
                        f"agenda_{kind}_vs_raw_x{scale}_{backend}",
                        "raw_over_request",
                        figure.get(f"raw_ratio_x{scale}", math.nan),
                        ">=",
                        RAW_TARGET,
                    )
                )
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())

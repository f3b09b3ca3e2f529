"""1,000 nurses' tablets book the same slot at the same instant, over HTTP, through the real app served by
its own process (bench/_http_server.py), on SQLite and on PostgreSQL.

Each backend gets a database of this run's own: a territory, the expert's weekday afternoons, 50 residents.
The nurse logs in over HTTP; 1,000 POST /api/v1/appointments for the first slot of the next working day
(each for one of the 50 residents, in turn) wait behind one gate on as many connections, then go at once.
Baseline, side by side on the same server: 1,000 concurrent GET /api/v1/me, to show what settling a burst
of that size costs without any booking.

Goal on each backend: exactly 1 answer 201, 999 answers 409 (slot_taken), no 5xx; one active appointment
in the database for the slot. The time to settle (gate open -> last answer) is printed.

    .venv/bin/python bench/booking_race.py
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
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import aiohttp  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from bench._common import LOOPBACK  # noqa: E402
from bench._scheduling import (  # noqa: E402
    BACKENDS,
    ApiSession,
    BackendUnavailable,
    Database,
    api_session,
    booking_body,
    database,
    exact_line,
    make_residents,
    next_working_day,
    paris_afternoon,
    publish_afternoons,
    seed_territory,
)
from bench.http import start_server, stop_server  # noqa: E402
from scheduling.model import PARIS  # noqa: E402
from scheduling.store import ACTIVE_PREDICATE, appointments  # noqa: E402
from teleconsult.identity.model import Role  # noqa: E402
from teleconsult.identity.passwords import Passwords  # noqa: E402

ATTEMPTS = 1000
RESIDENTS = 50
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=300)
BACKEND_TIMEOUT = 900.0


@dataclass
class Race:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # the "error" code of each non-2xx answer
    transport_failures: int = 0
    settle_seconds: float = math.nan
    baseline_seconds: float = math.nan
    active_rows: int = -1


async def burst(
    client: aiohttp.ClientSession, count: int, send: str, url: str, session: ApiSession, bodies: list[object]
) -> tuple[list[tuple[int, str]], float]:
    """``count`` requests held behind one gate, then released together; (status, error code) of each
    (status 0: no answer) and the seconds from the gate opening to the last answer."""
    gate = asyncio.Event()

    async def one(n: int) -> tuple[int, str]:
        await gate.wait()
        try:
            async with client.request(
                send, url, json=bodies[n % len(bodies)] if bodies else None, headers=session.headers
            ) as response:
                payload = await response.json(content_type=None) if response.status != 204 else {}
                code = payload.get("error", "") if isinstance(payload, dict) else ""
                return response.status, str(code)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, exc.__class__.__name__

    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    await asyncio.sleep(0.5)  # every task waits at the gate
    started = time.perf_counter()
    gate.set()
    answers = await asyncio.gather(*tasks)
    return list(answers), time.perf_counter() - started


async def race_on(db: Database) -> Race:
    now = datetime.now(UTC)
    today = now.astimezone(PARIS).date()
    territory = await seed_territory(db, Passwords(fast=True), now)
    expert, nurse = territory.users[Role.EXPERT], territory.users[Role.IDE]
    await publish_afternoons(db, expert, expert, now, today)
    residents = await make_residents(db, nurse, RESIDENTS, now)
    slot = paris_afternoon(next_working_day(today))
    bodies: list[object] = [booking_body(r, expert.id, slot, today) for r in residents]
    race = Race()
    process, app_port, _hello_port = await start_server(db.url, db.data_dir)
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=REQUEST_TIMEOUT
        ) as client:
            base = f"http://{LOOPBACK}:{app_port}"
            session = await api_session(client, base, nurse.username)
            me, race.baseline_seconds = await burst(client, ATTEMPTS, "GET", f"{base}/api/v1/me", session, [])
            if Counter(status for status, _ in me) != Counter({200: ATTEMPTS}):
                print(f"{db.backend}: baseline answers {Counter(s for s, _ in me)}", flush=True)
            answers, race.settle_seconds = await burst(
                client, ATTEMPTS, "POST", f"{base}/api/v1/appointments", session, bodies
            )
    finally:
        await stop_server(process)
    for status, code in answers:
        race.statuses[status] += 1
        if status == 0:
            race.transport_failures += 1
        if status >= 300 or status == 0:
            race.errors[f"{status} {code}"] += 1
    async with db.new_uow() as uow:
        race.active_rows = int(
            await uow.session.scalar(
                select(func.count())
                .select_from(appointments)
                .where(appointments.c.starts_at == slot, text(ACTIVE_PREDICATE))
            )
            or 0
        )
    return race


async def main() -> None:
    print(
        f"booking race: {ATTEMPTS} concurrent POST /api/v1/appointments for one slot, {RESIDENTS} residents, "
        "real server process; baseline = as many concurrent GET /api/v1/me",
        flush=True,
    )
    lines: list[str] = []
    for backend in BACKENDS:
        name = f"booking_race_{backend}"
        race = Race()
        try:
            async with database(backend) as db:
                race = await asyncio.wait_for(race_on(db), BACKEND_TIMEOUT)
        except BackendUnavailable as exc:
            print(f"{backend}: {exc}", flush=True)
        except Exception as exc:
            print(f"{backend}: benchmark failed: {exc.__class__.__name__}: {exc}", flush=True)
        else:
            print(
                f"{backend}: statuses {dict(sorted(race.statuses.items()))}, answers by code "
                f"{dict(sorted(race.errors.items()))}; settled in {race.settle_seconds:.2f} s "
                f"(baseline {ATTEMPTS} x GET /api/v1/me: {race.baseline_seconds:.2f} s, ratio "
                f"{race.settle_seconds / race.baseline_seconds:.2f}); active appointments on the slot in "
                f"the database: {race.active_rows}",
                flush=True,
            )
        measured = bool(race.statuses)
        total = sum(race.statuses.values()) if measured else math.nan
        fives = sum(n for status, n in race.statuses.items() if status >= 500 or status == 0)
        lines += [
            exact_line(name, "successes", race.statuses[201] if measured else math.nan, 1),
            exact_line(
                f"{name}_409", "conflicts", race.errors["409 slot_taken"] if measured else math.nan, 999
            ),
            exact_line(f"{name}_5xx", "server_errors", fives if measured else math.nan, 0),
            exact_line(f"{name}_rows", "active_appointments", race.active_rows if measured else math.nan, 1),
        ]
        if measured and total != ATTEMPTS:
            print(f"{backend}: {total} answers for {ATTEMPTS} attempts", flush=True)
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())

"""The coordinators' activity figures for a 25-EHPAD territory: one year of history (1x, about 12,000
teleconsultations) against ten years (10x, about 120,000), on SQLite and PostgreSQL.

Data: one hospital team of 16 experts under convention with 25 care homes of 40 residents each; every
working day each expert holds each of their 4 afternoon slots with probability 3/4 (about 48 a day, 12,000 a
year), 85 % held, 9 % cancelled, 6 % missed, booked 2 to 40 days ahead; a finalised report (outcome drawn
from the six categories) for each consultation held and a technical incident in the call journal of 4 % of
them; 12 tele-expertise requests a working day. Appointments go through SchedulingStore.add_many (sealed for
real under each resident's dossier key); reports, call events and tele-expertise requests are inserted in
bulk into their tables (their sealed columns hold placeholder bytes: nothing here reads them).

Both datasets live side by side (one database each). The dashboard is the service call the page makes
(records.activity.service.activity: the pre-aggregated cells of the period, the totals, the delays'
percentiles and the suppression; ADR 0018) for the last 12 months and every care home, as an administrator;
its baseline is one raw SQL aggregate over the same rows (the period's appointments of those care homes,
counted per care home and specialty) through the same engine. Seeding marks every cell as changed (the
triggers of migration 0016): the first dashboard call after it, the warm-up, recomputes the period's cells
from the source rows; its time is printed, not measured against the target. Rounds alternate scales and
each measurement with its baseline.

Targets per backend: dashboard time at 10x / at 1x <= 2 (the period filter and the (ehpad_id, starts_at)
index read the selected months only; the 10x database holds ten times the rows, in other years); and raw
aggregate time / dashboard time >= 0.3 at each scale.

    .venv/bin/python bench/activity.py
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime, time, timedelta  # noqa: E402
from time import perf_counter  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import func, insert, select  # noqa: E402

from bench._common import median, result_line  # noqa: E402
from bench._scheduling import BACKENDS, BackendUnavailable, Database, database  # noqa: E402
from records.activity import service as activity_service  # noqa: E402
from records.activity.model import SavingsRules, default_period  # noqa: E402
from records.reports.model import Outcome  # noqa: E402
from records.reports.store import reports  # noqa: E402
from records.residents.model import IdentityStatus, IdentityTraits, ResidentDetails, Sex  # noqa: E402
from records.residents.service import dossier_keys_in, import_residents  # noqa: E402
from records.sealing import DossierKey  # noqa: E402
from scheduling.expertise.store import expertise_requests  # noqa: E402
from scheduling.model import PARIS, Appointment, AppointmentStatus  # noqa: E402
from scheduling.service import is_french_holiday  # noqa: E402
from scheduling.store import SchedulingStore, appointments  # noqa: E402
from signalling.store import call_events  # noqa: E402
from teleconsult.demo_history import Visit, past_appointment  # noqa: E402
from teleconsult.identity import service as identity  # noqa: E402
from teleconsult.identity.model import DepartmentKind, EstablishmentKind, Role, Specialty, User  # noqa: E402
from teleconsult.identity.passwords import Passwords  # noqa: E402
from teleconsult.identity.policy import Principal  # noqa: E402
from tests.factories import make_establishment, make_user  # noqa: E402

CARE_HOMES = 25
RESIDENTS_PER_HOME = 40
EXPERTS = 16
SLOTS = (time(14), time(14, 45), time(15, 30), time(16, 15))
SLOT_SHARE = 0.75
EXPERTISE_PER_DAY = 12
INCIDENT_SHARE = 0.04
SCALES = (1, 10)  # years of history
ROUNDS = 7
RUNS_PER_ROUND = 5
ROWS_PER_TRANSACTION = 5000
SCALING_TARGET = 2.0
RAW_TARGET = 0.3
BACKEND_TIMEOUT = 3600.0


@dataclass
class Dataset:
    years: int
    db: Database
    admin: Principal
    ehpad_ids: list[uuid.UUID]
    rows: int


def working_days(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5 and not is_french_holiday(day):
            days.append(day)
        day += timedelta(days=1)
    return days


async def _territory(
    db: Database, now: datetime
) -> tuple[User, User, list[User], list[uuid.UUID], list[uuid.UUID]]:
    passwords = Passwords(fast=True)
    hospital = await make_establishment(db.new_uow, now, EstablishmentKind.HOSPITAL, "Hôpital Bench")
    team = await identity.add_department(
        db.new_uow(), None, hospital.id, "Gériatrie", DepartmentKind.GERIATRIC_WARD, now
    )
    homes = [
        await make_establishment(db.new_uow, now, EstablishmentKind.EHPAD, f"EHPAD {n}")
        for n in range(CARE_HOMES)
    ]
    for home in homes:
        await identity.add_convention(db.new_uow(), None, home.id, team.id, now)
    admin = await make_user(db.new_uow, passwords, now, Role.ADMIN, hospital, username="admin.bench")
    nurse = await make_user(db.new_uow, passwords, now, Role.IDEC, homes[0], username="idec.bench")
    experts = [
        await make_user(
            db.new_uow, passwords, now, Role.EXPERT, hospital, username=f"expert.bench.{n}",
            department_id=team.id, specialties=frozenset({Specialty.GERIATRIE, Specialty.PSYCHOGERIATRIE}),
        )
        for n in range(EXPERTS)
    ]  # fmt: skip
    traits = IdentityTraits("BENCH", ("Louise",), Sex.FEMALE, date(1935, 3, 2), "75056")
    details = [
        ResidentDetails(traits, None, IdentityStatus.PROVISOIRE, room=str(n))
        for n in range(RESIDENTS_PER_HOME)
    ]
    residents: list[uuid.UUID] = []
    for home in homes:
        created = await import_residents(db.new_uow(), db.keys, None, home.id, details, now)
        residents += [resident.id for resident in created]
    return admin, nurse, experts, [home.id for home in homes], residents


async def seed(db: Database, years: int, now: datetime) -> Dataset:
    rng = random.Random(years)
    admin, nurse, experts, ehpad_ids, residents = await _territory(db, now)
    home_of = {resident: ehpad_ids[index // RESIDENTS_PER_HOME] for index, resident in enumerate(residents)}
    async with db.new_uow() as uow:
        keys: dict[uuid.UUID, DossierKey] = await dossier_keys_in(uow, db.keys, residents)
    today = now.astimezone(PARIS).date()
    days = working_days(today - timedelta(days=365 * years), today - timedelta(days=1))
    started = perf_counter()
    batch: list[tuple[Appointment, DossierKey]] = []
    report_rows: list[dict[str, Any]] = []
    incident_rows: list[dict[str, Any]] = []
    expertise_rows: list[dict[str, Any]] = []
    total = 0
    outcomes = list(Outcome)

    async def flush() -> None:
        nonlocal batch, report_rows, incident_rows, expertise_rows
        async with db.new_uow() as uow:
            await uow.store(SchedulingStore).add_many(batch, now)
            for table, rows in (
                (reports, report_rows),
                (call_events, incident_rows),
                (expertise_requests, expertise_rows),
            ):
                if rows:
                    await uow.session.execute(insert(table), rows)
            await uow.commit()
        batch, report_rows, incident_rows, expertise_rows = [], [], [], []

    counter = 0
    for day in days:
        for slot in SLOTS:
            start = datetime.combine(day, slot, tzinfo=PARIS).astimezone(UTC)
            for expert in experts:
                counter += 1
                if rng.random() >= SLOT_SHARE:
                    continue
                resident = residents[counter % len(residents)]
                draw = rng.random()
                status = (
                    AppointmentStatus.DONE if draw < 0.85
                    else AppointmentStatus.CANCELLED if draw < 0.94 else AppointmentStatus.NO_SHOW
                )  # fmt: skip
                specialty = Specialty.GERIATRIE if rng.random() < 0.7 else Specialty.PSYCHOGERIATRIE
                visit = Visit(
                    expert.id, home_of[resident], resident, specialty, start,
                    start - timedelta(days=rng.randint(2, 40)), status, nurse.id,
                )  # fmt: skip
                appointment = past_appointment(visit)
                batch.append((appointment, keys[resident]))
                if status is AppointmentStatus.DONE:
                    report_rows.append(_report(appointment, expert.id, rng.choice(outcomes)))
                    if rng.random() < INCIDENT_SHARE:
                        incident_rows.append(_incident(appointment))
        for _ in range(EXPERTISE_PER_DAY):
            resident = rng.choice(residents)
            expertise_rows.append(_expertise(resident, home_of[resident], nurse.id, day, rng))
        if len(batch) >= ROWS_PER_TRANSACTION:
            total += len(batch)
            await flush()
    total += len(batch)
    await flush()
    print(
        f"{db.backend} x{years}: {total} appointments over {years} year(s), sealed and inserted with their "
        f"reports, incidents and tele-expertise requests in {perf_counter() - started:.1f} s",
        flush=True,
    )
    async with db.new_uow() as uow:
        await uow.session.execute(select(func.count()).select_from(appointments))  # warm the connection
        await uow.commit()
    return Dataset(years, db, Principal(admin, True), ehpad_ids, total)


def _report(appointment: Appointment, author: uuid.UUID, outcome: Outcome) -> dict[str, Any]:
    return dict(
        id=uuid.uuid4(), kind="teleconsultation", appointment_id=appointment.id, expertise_id=None,
        resident_id=appointment.resident_id, ehpad_id=appointment.ehpad_id,
        specialty=appointment.specialty.value, author_id=author, status="final", outcome=outcome.value,
        created_at=appointment.ends_at, updated_at=appointment.ends_at, finalised_at=appointment.ends_at,
        version=1, body=b"x",
    )  # fmt: skip


def _incident(appointment: Appointment) -> dict[str, Any]:
    return dict(
        id=uuid.uuid4(), appointment_id=appointment.id, user_id=None, kind="incident", detail="media_lost",
        incident=True, at=appointment.starts_at + timedelta(minutes=10),
    )  # fmt: skip


def _expertise(
    resident: uuid.UUID, ehpad: uuid.UUID, nurse: uuid.UUID, day: date, rng: random.Random
) -> dict[str, Any]:
    at = datetime.combine(day, time(rng.randint(8, 17)), tzinfo=PARIS).astimezone(UTC)
    return dict(
        id=uuid.uuid4(), ehpad_id=ehpad, resident_id=resident, specialty="plaies_cicatrisation", level=1,
        urgency="non_urgente", reason="plaie", wished_deadline=at + timedelta(days=5),
        consent_given_by="resident", consent_given_on=day, consent_method="oral", physician_agreement=True,
        requested_by=nurse, requester_role="idec", requested_at=at, status="withdrawn", withdrawn_by=nurse,
        withdrawn_at=at + timedelta(days=1), updated_at=at, version=2, question=b"x", context=b"x",
        consent_person=b"x", physician_note=b"x", answer_text=b"x",
    )  # fmt: skip


@contextlib.asynccontextmanager
async def dataset(backend: str, years: int, now: datetime) -> AsyncIterator[Dataset]:
    async with database(backend) as db:
        yield await seed(db, years, now)


def dashboard(data: Dataset, now: datetime) -> Callable[[], Awaitable[None]]:
    period = default_period(now)
    rules = SavingsRules()

    async def run() -> None:
        figures = await activity_service.activity(data.db.new_uow(), data.admin, period, None, rules)
        if not figures.has_data:
            raise RuntimeError("the dashboard found no activity")

    return run


def raw_aggregate(data: Dataset, now: datetime) -> Callable[[], Awaitable[None]]:
    period = default_period(now)
    query = (
        select(appointments.c.ehpad_id, appointments.c.specialty, func.count())
        .where(
            appointments.c.ehpad_id.in_(data.ehpad_ids),
            appointments.c.starts_at >= period.start(),
            appointments.c.starts_at < period.end(),
        )
        .group_by(appointments.c.ehpad_id, appointments.c.specialty)
    )

    async def run() -> None:
        async with data.db.new_uow().reading() as uow:
            rows = (await uow.session.execute(query)).all()
        if not rows:
            raise RuntimeError("the raw aggregate found no rows")

    return run


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    times = []
    for _ in range(RUNS_PER_ROUND):
        started = perf_counter()
        await action()
        times.append(perf_counter() - started)
    return median(times)


async def measure(backend: str) -> dict[str, float]:
    now = datetime.now(UTC)
    async with contextlib.AsyncExitStack() as stack:
        sets = [await stack.enter_async_context(dataset(backend, years, now)) for years in SCALES]
        pairs = {data.years: (dashboard(data, now), raw_aggregate(data, now)) for data in sets}
        for years, (board, raw) in pairs.items():  # warm up (the first call refreshes the period's cells)
            started = perf_counter()
            await board()
            print(
                f"{backend} x{years}: first dashboard call after seeding (computes the period's cells) "
                f"{(perf_counter() - started) * 1000:.0f} ms",
                flush=True,
            )
            await raw()
        samples: dict[int, list[tuple[float, float]]] = {years: [] for years in SCALES}
        for round_index in range(ROUNDS):
            order = SCALES if round_index % 2 == 0 else tuple(reversed(SCALES))
            for years in order:
                board, raw = pairs[years]
                samples[years].append((await timed(board), await timed(raw)))
    figure: dict[str, float] = {}
    for years in SCALES:
        figure[f"board_x{years}"] = median([b for b, _ in samples[years]])
        figure[f"raw_x{years}"] = median([r for _, r in samples[years]])
        figure[f"ratio_x{years}"] = median([r / b for b, r in samples[years]])
    figure["scaling"] = figure[f"board_x{SCALES[-1]}"] / figure[f"board_x{SCALES[0]}"]
    print(
        f"{backend}: dashboard {figure['board_x1'] * 1000:.1f} ms at 1x, {figure['board_x10'] * 1000:.1f} ms "
        f"at 10x (x{figure['scaling']:.2f}); raw aggregate {figure['raw_x1'] * 1000:.2f} ms at 1x, "
        f"{figure['raw_x10'] * 1000:.2f} ms at 10x; raw/dashboard {figure['ratio_x1']:.3f} at 1x, "
        f"{figure['ratio_x10']:.3f} at 10x",
        flush=True,
    )
    return figure


async def main() -> None:
    print(
        f"activity bench: {CARE_HOMES} care homes, {EXPERTS} experts, {SCALES[0]} and {SCALES[-1]} years of "
        f"history; dashboard of the last 12 months; {ROUNDS} interleaved rounds of {RUNS_PER_ROUND} runs",
        flush=True,
    )
    lines: list[str] = []
    for backend in BACKENDS:
        figure: dict[str, float] = {}
        try:
            figure = await asyncio.wait_for(measure(backend), BACKEND_TIMEOUT)
        except BackendUnavailable as exc:
            print(f"{backend}: {exc}", flush=True)
        except Exception as exc:
            print(f"{backend}: benchmark failed: {exc.__class__.__name__}: {exc}", flush=True)
        lines.append(
            result_line(
                f"activity_scaling_{backend}",
                "time_ratio",
                figure.get("scaling", math.nan),
                "<=",
                SCALING_TARGET,
            )
        )
        for years in SCALES:
            lines.append(
                result_line(
                    f"activity_vs_raw_x{years}_{backend}",
                    "ratio",
                    figure.get(f"ratio_x{years}", math.nan),
                    ">=",
                    RAW_TARGET,
                )
            )
    for line in lines:
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())

"""Helpers shared by the scheduling benchmarks (booking_race, agenda, booking_throughput): a database of the
run's own on each backend, a territory (hospital, geriatric team, care home under convention, one user per
role), afternoon windows, residents, and a nurse's or expert's session over HTTP with its CSRF token.

Everything is created through the real service functions (real crypto, real audit), except where a
benchmark says it takes a bulk path.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from uuid import UUID

import aiohttp

from bench._common import (
    CSRF_INPUT,
    PG_ERRORS,
    create_pg_database,
    drop_pg_database,
    log_in,
    result_line,
    sqlite_url,
)
from records.crypto import LocalKeyring
from records.residents import service as residents_service
from records.residents.model import IdentityStatus, IdentityTraits, ResidentDetails, Sex
from scheduling import service as scheduling
from scheduling.model import PARIS
from teleconsult.app import load_keyring
from teleconsult.db import UnitOfWork, create_engine, create_session_factory
from teleconsult.identity.model import Specialty, User
from teleconsult.identity.passwords import Passwords
from teleconsult.identity.policy import Principal
from teleconsult.migrate import upgrade
from teleconsult.settings import Settings
from tests.factories import Territory, make_territory

BACKENDS = ("sqlite", "postgresql")


class BackendUnavailable(RuntimeError):
    """A backend the benchmark needs is not reachable (PostgreSQL down): said, not crashed."""


@dataclass
class Database:
    """A migrated database of this run, with the settings the served app will use (same key file)."""

    backend: str
    url: str  # plain URL (sqlite:/// or postgresql://), as Settings.database_url takes it
    data_dir: Path
    settings: Settings
    keys: LocalKeyring
    new_uow: Callable[[], UnitOfWork]


@contextlib.asynccontextmanager
async def database(backend: str) -> AsyncIterator[Database]:
    """A fresh database on ``backend``, migrated, dropped (or deleted) at the end. Raises
    BackendUnavailable when PostgreSQL cannot be reached."""
    with tempfile.TemporaryDirectory(prefix=f"tc_bench_{backend}_") as tmp:
        directory = Path(tmp)
        pg_name: str | None = None
        if backend == "sqlite":
            url = sqlite_url(directory)
        else:
            try:
                pg_name, url = await create_pg_database()
            except PG_ERRORS as exc:
                raise BackendUnavailable(f"PostgreSQL unreachable: {exc.__class__.__name__}: {exc}") from exc
        try:
            settings = Settings(mode="test", database_url=url, data_dir=directory / "data")
            engine = create_engine(settings.sqlalchemy_url)
            try:
                await upgrade(engine)
                factory = create_session_factory(engine)
                yield Database(
                    backend,
                    url,
                    directory / "data",
                    settings,
                    load_keyring(settings),
                    lambda: UnitOfWork(factory),
                )
            finally:
                await engine.dispose()
        finally:
            if pg_name is not None:
                await drop_pg_database(pg_name)


def next_working_day(after: date, is_holiday: Callable[[date], bool] = scheduling.is_french_holiday) -> date:
    """The first weekday (Monday to Friday) after ``after`` that is not a public holiday."""
    day = after + timedelta(days=1)
    while day.weekday() >= 5 or is_holiday(day):
        day += timedelta(days=1)
    return day


async def seed_territory(db: Database, passwords: Passwords, now: datetime) -> Territory:
    return await make_territory(db.new_uow, passwords, now)


async def publish_afternoons(
    db: Database, manager: User, expert: User, now: datetime, valid_from: date
) -> None:
    """Monday-to-Friday afternoons, 14:00-17:30, 30 + 15 minutes, published by ``manager``."""
    await scheduling.publish_window(
        db.new_uow(),
        Principal(manager, True),
        expert.id,
        Specialty.GERIATRIE,
        frozenset(range(5)),
        time(14),
        time(17, 30),
        valid_from,
        None,
        30,
        15,
        now,
    )


def resident_details(n: int) -> ResidentDetails:
    traits = IdentityTraits(f"Resident{n}", ("Louise",), Sex("F"), date(1935, 3, 2), "75056")
    return ResidentDetails(traits, None, IdentityStatus.PROVISOIRE, room=str(n))


async def make_residents(db: Database, nurse: User, count: int, now: datetime) -> list[UUID]:
    ids = []
    for n in range(count):
        created = await residents_service.create_resident(
            db.new_uow(), db.keys, Principal(nurse, True), resident_details(n), now
        )
        ids.append(created.id)
    return ids


@dataclass(frozen=True, slots=True)
class ApiSession:
    """A logged-in user's headers for the JSON API: the session cookie and the CSRF header."""

    headers: dict[str, str]


async def api_session(client: aiohttp.ClientSession, base_url: str, username: str) -> ApiSession:
    logged = await log_in(client, base_url, username)
    cookie = {"Cookie": f"tc_session={logged.session_token}"}
    async with client.get(f"{base_url}/account", headers=cookie) as page:
        html = await page.text()
    found = CSRF_INPUT.search(html)
    if page.status != 200 or found is None:
        raise RuntimeError(f"GET /account answered {page.status} without a CSRF token")
    return ApiSession({**cookie, "X-CSRF-Token": found.group(1)})


def booking_body(resident_id: UUID, expert_id: UUID, starts_at: datetime, today: date) -> dict[str, object]:
    return {
        "resident_id": str(resident_id),
        "expert_id": str(expert_id),
        "starts_at": starts_at.isoformat(),
        "specialty": "geriatrie",
        "reason": "troubles_comportement",
        "details": "Agitation vespérale depuis 10 jours",
        "urgency": "programmee",
        "attendees": ["idec", "famille"],
        "consent": {
            "given_by": "famille",
            "given_on": today.isoformat(),
            "method": "oral",
            "person_name": "Paul Martin",
        },
        "physician_agreement": {"obtained": True, "note": ""},
    }


def paris_afternoon(day: date, hour: int = 14, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS).astimezone(UTC)


def exact_line(name: str, metric: str, value: float, target: float) -> str:
    """A RESULT line for an exact count (``target==N``)."""
    return result_line(name, metric, value, "==", target, ok=not math.isnan(value) and value == target)

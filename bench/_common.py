"""Helpers shared by the benchmarks: statistics, RESULT lines, databases made for one run, seed data, and a
complete login over HTTP (GET /login for the CSRF token, POST /login).

Every script first runs the few lines that put the repository root (not bench/, where http.py would hide
the standard library's ``http``) at the head of ``sys.path``; this module then imports the project.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg  # type: ignore[import-untyped]

from teleconsult.db import UnitOfWork, create_engine, create_session_factory
from teleconsult.identity.model import EstablishmentKind, Role
from teleconsult.identity.passwords import Passwords
from teleconsult.migrate import upgrade
from teleconsult.settings import Settings
from tests.factories import PASSWORD, make_establishment, make_user

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("TELECONSULT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
LOOPBACK = "127.0.0.1"
NURSE_USERNAME = "ide.bench"
CARE_HOME_PATH = "/ehpad"  # where a nurse lands after a successful login
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# ----------------------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def result_line(name: str, metric: str, value: float, op: str, target: float, ok: bool | None = None) -> str:
    """``RESULT <name> <metric>=<value> target<op><target> PASS|FAIL``; nan always fails."""
    if ok is None:
        compare = {">=": value >= target, ">": value > target, "<": value < target, "<=": value <= target}
        ok = compare[op]
    ok = ok and not math.isnan(value)
    shown = "nan" if math.isnan(value) else f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return f"RESULT {name} {metric}={shown} target{op}{target:g} {'PASS' if ok else 'FAIL'}"


# ------------------------------------------------------------------------------------------- databases


#: What create_pg_database raises when PostgreSQL cannot be reached or refuses.
PG_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncpg.PostgresError, TimeoutError)


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def create_pg_database() -> tuple[str, str]:
    """A fresh PostgreSQL database for this run, as tests/conftest.py makes one: (name, plain URL).
    Raises OSError, asyncpg.PostgresError or TimeoutError when the server cannot be reached."""
    name = f"tc_bench_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return name, f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


async def drop_pg_database(name: str) -> None:
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'bench.sqlite3'}"


async def migrate_and_seed(database_url: str, passwords: Passwords, nurses: int = 1) -> list[str]:
    """Bring the database to head and add a care home with ``nurses`` nurses; returns their usernames (the
    password is tests.factories.PASSWORD). ``passwords`` must hash as the served app will verify."""
    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url)
    try:
        await upgrade(engine)
        factory = create_session_factory(engine)

        def new_uow() -> UnitOfWork:
            return UnitOfWork(factory)

        now = datetime.now(UTC)
        care_home = await make_establishment(new_uow, now, EstablishmentKind.EHPAD, "EHPAD Bench")
        usernames = [
            (
                await make_user(
                    new_uow, passwords, now, Role.IDE, care_home, username=f"{NURSE_USERNAME}.{n}"
                )
            ).username
            for n in range(nurses)
        ]
    finally:
        await engine.dispose()
    return usernames


# ---------------------------------------------------------------------------------------------- login


class LoginFailed(RuntimeError):
    """The benchmark could not log in as its demo user."""


@dataclass(frozen=True, slots=True)
class LoggedIn:
    session_token: str
    location: str


async def log_in(
    client: aiohttp.ClientSession, base_url: str, username: str, password: str = PASSWORD
) -> LoggedIn:
    """GET /login (csrf_token field + tc_pre cookie), then POST /login; the answer must be 303 to the care
    home's page with a session cookie. Cookies are passed by hand, so any client session will do."""
    async with client.get(f"{base_url}/login") as page:
        html = await page.text()
        if page.status != 200:
            raise LoginFailed(f"GET /login answered {page.status}")
        pre = page.cookies.get("tc_pre")
    found = CSRF_INPUT.search(html)
    if found is None or pre is None:
        raise LoginFailed("GET /login gave no csrf_token field or no tc_pre cookie")
    async with client.post(
        f"{base_url}/login",
        data={"username": username, "password": password, "csrf_token": found.group(1), "next": ""},
        headers={"Cookie": f"tc_pre={pre.value}"},
        allow_redirects=False,
    ) as answer:
        await answer.read()
        location = answer.headers.get("Location", "")
        session = answer.cookies.get("tc_session")
        if answer.status != 303 or location != CARE_HOME_PATH or session is None:
            raise LoginFailed(
                f"POST /login answered {answer.status} to {location!r}, session cookie: {bool(session)}"
            )
    return LoggedIn(session.value, location)

"""The access matrix: every principal against every route the router knows, checked against a table written
out by hand in tests/integration/access_rows/ (never computed from the policy, which would only test the
policy against itself).

A route added to the application without a row there fails ``test_every_route_of_the_router_has_a_row...``;
a route added without a RouteSpec (so without a policy decision) is refused by the middleware (fail closed)
and fails that test as well.

Each principal gets its own fresh application and database (the ``env`` fixture, on SQLite and PostgreSQL),
then every route is requested once (GET routes also with HEAD), redirects never followed. Routes that end or
change the session run last, each on a freshly opened session.
"""

from __future__ import annotations

import dataclasses
import uuid
from urllib.parse import urlsplit

import pyotp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from teleconsult.app import create_app
from teleconsult.clock import FixedClock
from teleconsult.db import UnitOfWork
from teleconsult.identity import service
from teleconsult.identity.model import Role
from teleconsult.identity.store import IdentityStore
from teleconsult.keys import LOGIN_SETTINGS, PASSWORDS, ROUTE_SPECS, SESSION_FACTORY, TOTP_BOX
from teleconsult.middleware import SESSION_COOKIE
from teleconsult.routing import RouteSpec
from teleconsult.settings import Settings
from tests.factories import PASSWORD, make_territory, make_user
from tests.integration.access_columns import (
    ANONYMOUS,
    HALF,
    LOGIN,
    OK,
    OTHER,
    PRINCIPALS,
    TOTP,
)
from tests.integration.access_rows import EXPECTED, PATH_VALUES
from tests.integration.conftest import ClientFactory, Env

#: Routes that end or change the session: run last, each on a session opened just before.
SESSION_CHANGING = ("login.second_factor.submit", "logout", "switch_user")

# -------------------------------------------------------------------------------------------- helpers


@dataclasses.dataclass
class Observed:
    status: int
    location: str

    @property
    def outcome(self) -> str:
        if self.status in (301, 302, 303, 307, 308):
            target = urlsplit(self.location)
            if target.path == "/login" and target.query.startswith("next="):
                return LOGIN
            if target.path == "/login/totp":
                return TOTP
            return OK
        if self.status in (401, 403, 404):
            return str(self.status)
        if self.status < 400 or self.status in (400, 409, 422):
            return OK
        return str(self.status)  # 405, 413, 429, 5xx...: never what the table expects

    def __str__(self) -> str:
        return f"{self.status} {self.location}".strip()


@dataclasses.dataclass
class Matrix:
    """One principal's session on one Env, and what it saw."""

    env: Env
    principal: str
    throwaway_user_id: uuid.UUID
    totp_secret: str
    csrf_token: str = ""
    mismatches: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)

    @property
    def client(self) -> TestClient[web.Request, web.Application]:
        return self.env.client

    def own_establishment_id(self) -> uuid.UUID:
        territory = self.env.territory
        if self.principal == ANONYMOUS:
            return territory.ehpad.id
        if self.principal == HALF:
            return territory.users[Role.EXPERT].establishment_id
        return territory.users[Role(self.principal)].establishment_id

    def other_establishment_id(self) -> uuid.UUID:
        # No user of the territory belongs to the other care home.
        return self.env.territory.other_ehpad.id

    async def open_session(self) -> None:
        """(Re)open this principal's session and read the CSRF token its forms carry."""
        self.client.session.cookie_jar.clear()
        if self.principal == ANONYMOUS:
            self.csrf_token = await self.env.csrf("/login")
        elif self.principal == HALF:
            # The real login service, asked to require a second factor from experts, as production does.
            settings = dataclasses.replace(
                self.env.app[LOGIN_SETTINGS], second_factor_roles=frozenset({Role.EXPERT.value})
            )
            result = await service.log_in(
                self.env.uow(),
                self.env.app[PASSWORDS],
                settings,
                Role.EXPERT.value + ".test",
                PASSWORD,
                "127.0.0.1",
                self.env.clock.now(),
            )
            assert result.needs_second_factor
            self.client.session.cookie_jar.update_cookies({SESSION_COOKIE: result.token})
            self.csrf_token = await self.env.csrf("/login/totp")
        else:
            await self.env.login(Role(self.principal))
            self.csrf_token = await self.env.csrf("/account")

    def form_for(self, spec: RouteSpec) -> dict[str, str]:
        form = {"csrf_token": self.csrf_token}
        if spec.name == "login.second_factor.submit" and self.principal == HALF:
            form["code"] = pyotp.TOTP(self.totp_secret).at(self.env.clock.now())
        return form

    def path_for(self, spec: RouteSpec, case: str) -> str:
        establishment_id = self.other_establishment_id() if case == OTHER else self.own_establishment_id()
        return spec.path.format_map(
            {
                **PATH_VALUES,
                "establishment_id": establishment_id,
                "user_id": self.throwaway_user_id,
                "filename": "app.css",
            }
        )

    async def check(self, spec: RouteSpec) -> None:
        for case, column in EXPECTED[spec.name].items():
            path = self.path_for(spec, case)
            methods = ["GET", "HEAD"] if spec.method == "GET" else [spec.method]
            for method in methods:
                if method in ("GET", "HEAD"):
                    response = await self.client.request(method, path, allow_redirects=False)
                else:
                    response = await self.client.request(
                        method, path, data=self.form_for(spec), allow_redirects=False
                    )
                observed = Observed(response.status, response.headers.get("Location", ""))
                response.release()
                expected = column[self.principal]
                if observed.outcome != expected:
                    label = spec.name + (f" ({case})" if case else "") + f" {method} {path}"
                    self.mismatches.append((label, self.principal, expected, str(observed)))


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    header = ("route", "principal", "expected", "got")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    rule = "-+-".join("-" * width for width in widths)
    head = " | ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))
    return "\n".join([head, rule, *lines])


def _router_route_names(app: web.Application) -> set[str]:
    names: set[str] = set()
    for route in app.router.routes():
        name = route.name or (route.resource.name if route.resource is not None else None)
        names.add(name or f"<unnamed {route.method} {route.resource.canonical if route.resource else '?'}>")
    return names


MISSING_ROW = (
    "Routes without a row in EXPECTED (tests/integration/access_rows/): {missing}. "
    "Add each new route to the table with the outcome you expect for every principal."
)

# ---------------------------------------------------------------------------------------------- tests


def test_every_route_of_the_router_has_a_route_spec_and_a_row_in_the_table(env: Env) -> None:
    specs = env.app[ROUTE_SPECS]
    router_names = _router_route_names(env.app)
    without_spec = sorted(router_names - set(specs))
    assert not without_spec, (
        f"Routes in the router without a RouteSpec (so without a policy decision): {without_spec}. "
        "Declare them through teleconsult.routing.Routes with an Action."
    )
    missing = sorted(set(specs) - set(EXPECTED))
    assert not missing, MISSING_ROW.format(missing=missing)
    stale = sorted(set(EXPECTED) - set(specs))
    assert not stale, f"EXPECTED has rows for routes the application no longer has: {stale}. Remove them."
    assert set(EXPECTED) == set(specs)
    for name, cases in EXPECTED.items():
        for case, column in cases.items():
            assert set(column) == set(PRINCIPALS), f"row {name!r} ({case}) must cover every principal"


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_every_principal_gets_exactly_the_expected_answer_from_every_route(
    env: Env, principal: str
) -> None:
    specs = env.app[ROUTE_SPECS]
    missing = sorted(set(specs) - set(EXPECTED))
    assert not missing, MISSING_ROW.format(missing=missing)

    throwaway = await make_user(
        env.uow, env.app[PASSWORDS], env.clock.now(), Role.IDE, env.territory.ehpad, "throwaway.matrix"
    )
    secret = pyotp.random_base32()
    expert = env.territory.users[Role.EXPERT]
    async with env.uow() as uow:
        # The expert has enrolled a TOTP app earlier (its last used code is an hour old).
        last_step = pyotp.TOTP(secret).timecode(env.clock.now()) - 120
        sealed = env.app[TOTP_BOX].seal(expert.id, secret)
        await uow.store(IdentityStore).set_totp(expert.id, sealed, last_step)
        await uow.commit()

    matrix = Matrix(env, principal, throwaway.id, secret)
    await matrix.open_session()
    for spec in sorted(specs.values(), key=lambda s: s.name):
        if spec.name not in SESSION_CHANGING:
            await matrix.check(spec)
    for name in SESSION_CHANGING:
        await matrix.open_session()
        await matrix.check(specs[name])

    if matrix.mismatches:
        table = _table(matrix.mismatches)
        pytest.fail(
            f"{len(matrix.mismatches)} answers differ from the access matrix:\n{table}", pytrace=False
        )


async def test_a_route_added_without_a_route_spec_is_refused_even_to_the_admin(
    aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock
) -> None:
    reached: list[str] = []

    async def bare(request: web.Request) -> web.Response:
        reached.append(request.method)
        return web.Response(text="secret")

    app = create_app(settings, clock=clock)
    app.router.add_get("/bare", bare)
    app.router.add_post("/bare", bare)
    client = await aiohttp_client(app)
    territory = await make_territory(lambda: UnitOfWork(app[SESSION_FACTORY]), app[PASSWORDS], clock.now())
    env = Env(client, app, clock, territory)

    anonymous = await client.get("/bare", allow_redirects=False)
    assert anonymous.status == 403

    await env.login(Role.ADMIN)
    token = await env.csrf("/admin")
    got = await client.get("/bare", allow_redirects=False)
    assert got.status == 403
    assert "secret" not in await got.text()
    posted = await client.post("/bare", data={"csrf_token": token}, allow_redirects=False)
    assert posted.status == 403
    assert reached == []
    assert {"/bare"} <= {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    specs = app[ROUTE_SPECS]
    unnamed = _router_route_names(app) - set(specs)
    assert unnamed == {"<unnamed GET /bare>", "<unnamed HEAD /bare>", "<unnamed POST /bare>"}, (
        "the route-table test would name the bare route too"
    )

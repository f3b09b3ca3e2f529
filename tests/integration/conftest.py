"""The real application on a real database, driven through aiohttp's test client."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from teleconsult.app import create_app
from teleconsult.clock import FixedClock
from teleconsult.db import UnitOfWork
from teleconsult.identity.model import Role
from teleconsult.keys import PASSWORDS, SESSION_FACTORY
from teleconsult.settings import Settings
from tests.factories import PASSWORD, Territory, make_territory

CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')

ClientFactory = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@dataclass
class Env:
    client: TestClient[web.Request, web.Application]
    app: web.Application
    clock: FixedClock
    territory: Territory

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.app[SESSION_FACTORY])

    async def csrf(self, path: str = "/login") -> str:
        response = await self.client.get(path)
        match = CSRF_RE.search(await response.text())
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    async def login(self, role: Role, password: str = PASSWORD) -> None:
        """Log in as the territory's user of ``role`` (completing no second factor)."""
        token = await self.csrf()
        response = await self.client.post(
            "/login",
            data={"csrf_token": token, "username": self.territory.users[role].username, "password": password},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()

    async def post_form(
        self, path: str, data: dict[str, str], page: str | None = None, allow_redirects: bool = False
    ) -> object:
        token = await self.csrf(page or "/login")
        return await self.client.post(
            path, data={"csrf_token": token, **data}, allow_redirects=allow_redirects
        )


async def build_env(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Env:
    app = create_app(settings, clock=clock)
    client = await aiohttp_client(app)
    territory = await make_territory(lambda: UnitOfWork(app[SESSION_FACTORY]), app[PASSWORDS], clock.now())
    return Env(client, app, clock, territory)


@pytest.fixture
async def env(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Env:
    return await build_env(aiohttp_client, settings, clock)

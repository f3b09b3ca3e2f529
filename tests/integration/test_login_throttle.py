"""Lockouts that stop guessing without letting anyone lock someone else out (review findings 2-4, 6)."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pyotp
import pytest

from teleconsult.clock import FixedClock
from teleconsult.identity import service
from teleconsult.identity.model import Role
from teleconsult.identity.store import IdentityStore
from teleconsult.identity.totp import TotpBox
from teleconsult.keys import TOTP_BOX
from teleconsult.settings import Settings
from tests.factories import PASSWORD
from tests.integration.conftest import ClientFactory, Env, build_env


@pytest.fixture
async def proxied(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Env:
    """The app behind a trusted proxy, so each test can speak from several client addresses."""
    return await build_env(
        aiohttp_client, settings.replace(trusted_proxies=("127.0.0.1",), totp_in_demo=True), clock
    )


async def attempt(env: Env, username: str, password: str, address: str) -> int:
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password},
        headers={"X-Forwarded-For": address},
        allow_redirects=False,
    )
    return response.status


async def test_parallel_guesses_are_all_counted_before_any_is_checked(proxied: Env) -> None:
    nurse = proxied.territory.users[Role.IDE].username
    statuses = await asyncio.gather(
        *(attempt(proxied, nurse, f"guess {i}", "198.51.100.7") for i in range(20))
    )
    assert statuses.count(401) <= 5, statuses  # the others were refused before their password was checked
    assert statuses.count(429) >= 15
    assert await attempt(proxied, nurse, PASSWORD, "198.51.100.7") == 429


async def test_an_attacker_cannot_lock_the_nurse_out_from_another_address(proxied: Env) -> None:
    nurse = proxied.territory.users[Role.IDE].username
    for i in range(10):
        await attempt(proxied, nurse, f"guess {i}", "203.0.113.66")
    assert await attempt(proxied, nurse, "guess again", "203.0.113.66") == 429
    assert await attempt(proxied, nurse, PASSWORD, "192.0.2.10") == 303  # the nurse, from her care home


async def test_guesses_from_many_addresses_lock_the_login_only_for_a_minute_at_a_time(proxied: Env) -> None:
    nurse = proxied.territory.users[Role.IDE].username
    for i in range(50):
        await attempt(proxied, nurse, "guess", f"203.0.113.{i}")
    assert await attempt(proxied, nurse, PASSWORD, "192.0.2.10") == 429
    proxied.clock.advance(timedelta(minutes=1, seconds=1))
    await attempt(proxied, nurse, "one more guess", "203.0.113.200")  # does not lock again at once
    assert await attempt(proxied, nurse, PASSWORD, "192.0.2.10") == 303


async def test_a_right_password_does_not_reset_the_count_of_wrong_codes(proxied: Env) -> None:
    expert = proxied.territory.users[Role.EXPERT]
    secret = TotpBox.new_secret()
    async with proxied.uow() as uow:
        await uow.store(IdentityStore).set_totp(
            expert.id, proxied.app[TOTP_BOX].seal(expert.id, secret), None
        )
        await uow.commit()
    statuses = []
    for round_ in range(3):
        proxied.client.session.cookie_jar.clear()
        assert await attempt(proxied, expert.username, PASSWORD, f"2001:db8:{round_}::1") == 303
        for _ in range(3):
            token = await proxied.csrf("/login/totp")
            response = await proxied.client.post("/login/totp", data={"csrf_token": token, "code": "000000"})
            statuses.append(response.status)
    assert 429 in statuses[:6], statuses
    assert statuses[-1] == 429


async def test_the_session_token_changes_when_the_second_factor_passes(proxied: Env) -> None:
    expert = proxied.territory.users[Role.EXPERT]
    assert await attempt(proxied, expert.username, PASSWORD, "192.0.2.20") == 303
    before = proxied.client.session.cookie_jar.filter_cookies(proxied.client.make_url("/"))[
        "tc_session"
    ].value
    page = await proxied.client.get("/login/totp/enrol")
    html = await page.text()
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html)
    sealed = re.search(r'name="sealed" value="([^"]+)"', html)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert secret and sealed and token
    code = pyotp.TOTP(secret.group(1).replace(" ", "")).at(proxied.clock.now())
    done = await proxied.client.post(
        "/login/totp/enrol",
        data={"csrf_token": token.group(1), "sealed": sealed.group(1), "code": code},
        allow_redirects=False,
    )
    assert done.status == 303
    after = proxied.client.session.cookie_jar.filter_cookies(proxied.client.make_url("/"))["tc_session"].value
    assert after != before
    assert (await proxied.client.get("/expert")).status == 200
    proxied.client.session.cookie_jar.clear()
    proxied.client.session.cookie_jar.update_cookies({"tc_session": before}, proxied.client.make_url("/"))
    assert (await proxied.client.get("/expert", allow_redirects=False)).status == 303


async def test_an_unreadable_second_factor_says_to_ask_an_admin_who_can_reset_it(proxied: Env) -> None:
    expert = proxied.territory.users[Role.EXPERT]
    sealed_with_old_key = TotpBox("an older secret key of the service, since replaced").seal(
        expert.id, TotpBox.new_secret()
    )
    async with proxied.uow() as uow:
        await uow.store(IdentityStore).set_totp(expert.id, sealed_with_old_key, None)
        await uow.commit()
    assert await attempt(proxied, expert.username, PASSWORD, "192.0.2.30") == 303
    token = await proxied.csrf("/login/totp")
    response = await proxied.client.post("/login/totp", data={"csrf_token": token, "code": "123456"})
    assert response.status == 409
    assert "administrateur" in await response.text()
    await service.reset_second_factor(proxied.uow(), None, expert.id, proxied.clock.now())
    proxied.client.session.cookie_jar.clear()
    await attempt(proxied, expert.username, PASSWORD, "192.0.2.30")
    assert (await proxied.client.get("/login/totp", allow_redirects=False)).headers[
        "Location"
    ] == "/login/totp/enrol"


async def test_replacing_the_authenticator_app_needs_the_current_password(proxied: Env) -> None:
    await proxied.login(Role.IDE)  # nurses need no second factor: she adds one of her own will
    for password, expected in (("", 303), ("wrong password", 422)):
        page = await proxied.client.get("/account/totp")
        html = await page.text()
        secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', html)
        sealed = re.search(r'name="sealed" value="([^"]+)"', html)
        token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
        assert secret and sealed and token
        proxied.clock.advance(timedelta(seconds=30))
        code = pyotp.TOTP(secret.group(1).replace(" ", "")).at(proxied.clock.now())
        response = await proxied.client.post(
            "/account/totp",
            data={
                "csrf_token": token.group(1),
                "sealed": sealed.group(1),
                "code": code,
                "password": password,
            },
            allow_redirects=False,
        )
        assert response.status == expected  # first enrolment: no password; replacing: the password

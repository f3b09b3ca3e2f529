"""The TOTP second factor through the real app: enrolment, login, replay, lockout."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from aiohttp import web

from teleconsult.clock import FixedClock
from teleconsult.identity.model import Role
from teleconsult.settings import Settings
from tests.factories import PASSWORD
from tests.integration.conftest import ClientFactory, Env, build_env

SECRET_RE = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')


@pytest.fixture
async def env2fa(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Env:
    return await build_env(aiohttp_client, settings.replace(totp_in_demo=True), clock)


async def password_step(env: Env, role: Role) -> web.Response:
    token = await env.csrf()
    return await env.client.post(
        "/login",
        data={  # type: ignore[return-value]
            "csrf_token": token,
            "username": env.territory.users[role].username,
            "password": PASSWORD,
        },
    )


async def enrol(env: Env) -> str:
    page = await env.client.get("/login/totp/enrol")
    html = await page.text()
    secret = SECRET_RE.search(html)
    sealed = re.search(r'name="sealed" value="([^"]+)"', html)
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert secret and sealed and token
    raw = secret.group(1).replace(" ", "")
    code = pyotp.TOTP(raw).at(env.clock.now())
    done = await env.client.post(
        "/login/totp/enrol",
        data={"csrf_token": token.group(1), "sealed": sealed.group(1), "code": code},
        allow_redirects=False,
    )
    assert done.status == 303
    return raw


async def test_expert_without_a_factor_is_sent_to_enrolment_and_nothing_else(env2fa: Env) -> None:
    response = await password_step(env2fa, Role.EXPERT)
    assert response.url.path == "/login/totp/enrol"
    assert "otpauth" not in await response.text()  # the secret is shown as text and QR, the URI is not leaked
    blocked = await env2fa.client.get("/expert", allow_redirects=False)
    assert blocked.status == 303 and blocked.headers["Location"] == "/login/totp"
    assert (await env2fa.client.get("/api/v1/me")).status == 403


async def test_nurses_need_no_second_factor_by_default(env2fa: Env) -> None:
    response = await password_step(env2fa, Role.IDE)
    assert response.url.path == "/ehpad"


async def test_enrolled_expert_logs_in_with_a_fresh_code_and_a_replay_is_refused(env2fa: Env) -> None:
    await password_step(env2fa, Role.EXPERT)
    secret = await enrol(env2fa)
    assert (await env2fa.client.get("/expert")).status == 200

    env2fa.client.session.cookie_jar.clear()
    env2fa.clock.advance(timedelta(seconds=30))
    response = await password_step(env2fa, Role.EXPERT)
    assert response.url.path == "/login/totp"
    token = await env2fa.csrf("/login/totp")
    code = pyotp.TOTP(secret).at(env2fa.clock.now())
    ok = await env2fa.client.post(
        "/login/totp", data={"csrf_token": token, "code": code}, allow_redirects=False
    )
    assert ok.status == 303 and ok.headers["Location"] == "/expert"

    env2fa.client.session.cookie_jar.clear()
    await password_step(env2fa, Role.EXPERT)
    token = await env2fa.csrf("/login/totp")
    replay = await env2fa.client.post("/login/totp", data={"csrf_token": token, "code": code})
    assert replay.status == 401
    assert (await env2fa.client.get("/expert", allow_redirects=False)).status == 303


async def test_wrong_codes_lock_like_wrong_passwords(env2fa: Env) -> None:
    await password_step(env2fa, Role.EXPERT)
    await enrol(env2fa)
    env2fa.client.session.cookie_jar.clear()
    await password_step(env2fa, Role.EXPERT)
    statuses = []
    for _ in range(6):
        token = await env2fa.csrf("/login/totp")
        response = await env2fa.client.post("/login/totp", data={"csrf_token": token, "code": "000000"})
        statuses.append(response.status)
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429


async def test_a_tampered_enrolment_form_is_refused_without_error_500(env2fa: Env) -> None:
    await password_step(env2fa, Role.ADMIN)
    token = await env2fa.csrf("/login/totp/enrol")
    response = await env2fa.client.post(
        "/login/totp/enrol", data={"csrf_token": token, "sealed": "AAAA", "code": "123456"}
    )
    assert response.status == 400

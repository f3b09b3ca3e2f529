"""What every answer carries: security headers, French error pages, sizes, request ids, clean logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from teleconsult.app import create_app
from teleconsult.clock import FixedClock
from teleconsult.identity.model import Role
from teleconsult.settings import Settings
from tests.factories import PASSWORD
from tests.integration.conftest import ClientFactory, Env


async def test_pages_carry_a_strict_csp_and_the_other_security_headers(env: Env) -> None:
    for path in ("/login", "/static/app.css", "/this/does/not/exist"):
        response = await env.client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "camera=(self)" in response.headers["Permissions-Policy"]
        assert "microphone=(self)" in response.headers["Permissions-Policy"]


async def test_unknown_page_is_a_french_404_with_a_way_out(env: Env) -> None:
    response = await env.client.get("/nulle/part")
    assert response.status == 404
    body = await response.text()
    assert "Page introuvable" in body
    assert 'href="/login"' in body
    assert "Traceback" not in body


async def test_api_errors_are_json_with_a_french_message(env: Env) -> None:
    response = await env.client.get("/api/v1/me")
    assert response.status == 401
    payload = await response.json()
    assert payload["error"] == "401"
    assert payload["message"]


async def test_a_body_over_the_limit_gets_413_not_500(env: Env) -> None:
    token = await env.csrf()
    response = await env.client.post(
        "/login", data={"csrf_token": token, "username": "x", "password": "y" * (2 * 1024 * 1024)}
    )
    assert response.status == 413


async def test_malformed_json_gets_400_with_a_message(env: Env) -> None:
    await env.login(Role.ADMIN)
    token = await env.csrf("/admin")
    response = await env.client.post(
        "/admin/users", data=b"{not json", headers={"Content-Type": "application/json", "X-CSRF-Token": token}
    )
    assert response.status in (400, 422)


async def test_every_answer_has_a_request_id_and_a_given_one_is_kept(env: Env) -> None:
    response = await env.client.get("/healthz", headers={"X-Request-ID": "abcdef123456"})
    assert response.headers["X-Request-ID"] == "abcdef123456"
    other = await env.client.get("/healthz", headers={"X-Request-ID": "<script>"})
    assert other.headers["X-Request-ID"] != "<script>"
    accented = await env.client.get("/healthz", headers={"X-Request-ID": "référence1"})
    assert accented.headers["X-Request-ID"] != "référence1"


async def test_logs_never_hold_passwords_session_tokens_or_query_strings(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await env.login(Role.IDE)
    token = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["tc_session"].value
    await env.client.get("/ehpad?search=Dupont")
    # aiohttp's own access log (which prints full URLs) is switched off by `teleconsult serve`
    # (run_app(access_log=None)); the test client has its own, so only the service's records are checked.
    ours = [r for r in caplog.records if r.name.startswith(("teleconsult", "sqlalchemy", "alembic"))]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
    assert "request" in text  # the access log did run
    for secret in (PASSWORD, token, "Dupont"):
        assert secret not in text


async def test_health_and_readiness(env: Env) -> None:
    assert (await env.client.get("/healthz")).status == 200
    ready = await env.client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["migrations"] == "current"


async def test_readiness_fails_on_a_database_without_migrations(
    aiohttp_client: ClientFactory, tmp_path: Path, clock: FixedClock
) -> None:
    settings = Settings(
        mode="test", database_url=f"sqlite:///{tmp_path / 'empty.sqlite3'}", data_dir=tmp_path
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["migrations"] == "behind"
    assert (await client.get("/healthz")).status == 200


async def test_a_tab_in_next_cannot_send_the_nurse_to_another_site(env: Env) -> None:
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={
            "csrf_token": token,
            "username": "ide.test",
            "password": PASSWORD,
            "next": "/\t/evil.example/x",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/ehpad"


async def test_a_logged_in_user_can_log_out_from_an_error_page(env: Env) -> None:
    await env.login(Role.IDE)
    page = await env.client.get("/nulle/part")
    assert page.status == 404
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', await page.text())
    assert token, "the error page's logout form has no CSRF token"
    out = await env.client.post("/logout", data={"csrf_token": token.group(1)}, allow_redirects=False)
    assert out.status == 303
    assert (await env.client.get("/ehpad", allow_redirects=False)).status == 303


async def test_unknown_urls_and_wrong_methods_say_404_and_405_even_without_csrf_token(env: Env) -> None:
    assert (await env.client.post("/nulle/part")).status == 404
    assert (await env.client.delete("/login")).status == 405

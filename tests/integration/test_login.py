"""Logging in, out and back: sessions, CSRF, expiry, lockout; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from teleconsult.identity.model import Role
from tests.integration.conftest import Env


async def test_nurse_logs_in_and_lands_on_care_home_home_in_french(env: Env) -> None:
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": "IDE.Test ", "password": "correct horse battery staple"},
    )
    assert response.status == 200
    assert str(response.url).endswith("/ehpad")
    body = await response.text()
    assert "EHPAD Test" in body
    assert '<html lang="fr">' in body


async def test_session_cookie_is_httponly_and_samesite_lax(env: Env) -> None:
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": "ide.test", "password": "correct horse battery staple"},
        allow_redirects=False,
    )
    cookie = response.cookies["tc_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # test mode; production sets Secure (see test_settings)


async def test_wrong_password_gets_401_with_a_message_and_no_session(env: Env) -> None:
    token = await env.csrf()
    response = await env.client.post(
        "/login", data={"csrf_token": token, "username": "ide.test", "password": "wrong password here"}
    )
    assert response.status == 401
    assert "tc_session" not in response.cookies
    assert "Identifiant ou mot de passe incorrect" in await response.text()


async def test_login_without_csrf_token_is_refused(env: Env) -> None:
    await env.client.get("/login")
    response = await env.client.post(
        "/login", data={"username": "ide.test", "password": "correct horse battery staple"}
    )
    assert response.status == 403
    assert "tc_session" not in response.cookies


async def test_logout_revokes_the_session_for_good(env: Env) -> None:
    await env.login(Role.IDE)
    stolen = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["tc_session"].value
    token = await env.csrf("/ehpad")
    response = await env.client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303
    env.client.session.cookie_jar.update_cookies({"tc_session": stolen})
    again = await env.client.get("/ehpad", allow_redirects=False)
    assert again.status == 303
    assert again.headers["Location"].startswith("/login")


async def test_idle_session_expires_after_30_minutes_and_login_says_so(env: Env) -> None:
    await env.login(Role.IDE)
    env.clock.advance(timedelta(minutes=29))
    assert (await env.client.get("/ehpad", allow_redirects=False)).status == 200
    env.clock.advance(timedelta(minutes=31))
    response = await env.client.get("/ehpad")
    assert str(response.url.path) == "/login"
    assert "expired=1" in str(response.url)
    assert "Votre session a expiré" in await response.text()


async def test_session_ends_after_12_hours_even_when_used(env: Env) -> None:
    await env.login(Role.IDE)
    end = env.clock.now() + timedelta(hours=12)
    while env.clock.now() + timedelta(minutes=29) < end:
        env.clock.advance(timedelta(minutes=29))
        assert (await env.client.get("/ehpad", allow_redirects=False)).status == 200
    env.clock.advance(timedelta(minutes=29))
    response = await env.client.get("/ehpad", allow_redirects=False)
    assert response.status == 303


async def test_five_wrong_passwords_lock_the_account_briefly_then_it_opens_again(env: Env) -> None:
    for _ in range(5):
        await env.post_form("/login", {"username": "ide.test", "password": "not the password"})
    token = await env.csrf()
    locked = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": "ide.test", "password": "correct horse battery staple"},
    )
    assert locked.status == 429
    assert "Retry-After" in locked.headers
    env.clock.advance(timedelta(minutes=15, seconds=1))
    await env.login(Role.IDE)


async def test_deactivated_user_is_logged_out_at_once(env: Env) -> None:
    from teleconsult.identity import service

    await env.login(Role.IDE)
    await service.deactivate_user(env.uow(), None, env.territory.users[Role.IDE].id, env.clock.now())
    response = await env.client.get("/ehpad", allow_redirects=False)
    assert response.status == 303


async def test_open_redirect_through_next_is_refused(env: Env) -> None:
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={
            "csrf_token": token,
            "username": "ide.test",
            "password": "correct horse battery staple",
            "next": "//evil.example/",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/ehpad"


def _session_cookie(env: Env) -> str:
    return env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["tc_session"].value


async def test_user_changes_password_and_other_sessions_are_closed(env: Env) -> None:
    await env.login(Role.IDE)
    first_device = _session_cookie(env)
    env.client.session.cookie_jar.clear()
    await env.login(Role.IDE)
    token = await env.csrf("/account")
    wrong = await env.client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": "not it",
            "new": "une nouvelle phrase",
            "confirmation": "une nouvelle phrase",
        },
    )
    assert wrong.status == 422
    assert "mot de passe actuel" in (await wrong.text()).lower()
    changed = await env.client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": "correct horse battery staple",
            "new": "une nouvelle phrase",
            "confirmation": "une nouvelle phrase",
        },
        allow_redirects=False,
    )
    assert changed.status == 303
    assert (await env.client.get("/ehpad", allow_redirects=False)).status == 200  # this session stays
    env.client.session.cookie_jar.clear()
    env.client.session.cookie_jar.update_cookies({"tc_session": first_device}, env.client.make_url("/"))
    assert (await env.client.get("/ehpad", allow_redirects=False)).status == 303  # the other one is closed
    env.client.session.cookie_jar.clear()
    await env.login(Role.IDE, password="une nouvelle phrase")


async def test_another_identity_provider_can_open_the_same_kind_of_session(env: Env) -> None:
    from teleconsult.identity import service

    expert = env.territory.users[Role.EXPERT]
    token = await service.open_session(env.uow(), expert, True, env.clock.now())
    env.client.session.cookie_jar.update_cookies({"tc_session": token}, env.client.make_url("/"))
    response = await env.client.get("/expert", allow_redirects=False)
    assert response.status == 200


async def test_logging_in_over_someone_elses_session_ends_theirs(env: Env) -> None:
    await env.login(Role.IDE)
    first = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))["tc_session"].value
    await env.login(Role.IDEC)
    env.client.session.cookie_jar.clear()
    env.client.session.cookie_jar.update_cookies({"tc_session": first}, env.client.make_url("/"))
    assert (await env.client.get("/ehpad", allow_redirects=False)).status == 303

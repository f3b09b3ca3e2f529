"""The principal cache (teleconsult/identity/principal_cache.py) answers authenticated requests without
the database, and every change to a session or its user is seen by the very next request; the idle
timeout keeps its meaning. On SQLite and PostgreSQL, with the injected clock only (no sleeps)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, select, update

from teleconsult.identity import service
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Principal
from teleconsult.identity.principal_cache import CHANNEL, Invalidation, PrincipalCache
from teleconsult.identity.service import TOUCH_INTERVAL, hash_token, load_principal
from teleconsult.identity.store import IdentityStore, sessions, users
from teleconsult.keys import ENGINE, LOGIN_SETTINGS
from teleconsult.middleware import PRINCIPAL_CACHE, SESSION_COOKIE
from tests.integration.conftest import Env


async def log_in(env: Env, role: Role) -> str:
    """Log in as the territory's user of ``role``; the session token, with the client's jar emptied (each
    request below names its cookie, as two devices would)."""
    await env.login(role)
    token = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/"))[SESSION_COOKIE].value
    env.client.session.cookie_jar.clear()
    return token


async def me(env: Env, token: str) -> tuple[int, dict[str, Any]]:
    response = await env.client.get("/api/v1/me", cookies={SESSION_COOKIE: token})
    return response.status, await response.json()


def cache(env: Env) -> PrincipalCache:
    return env.app[PRINCIPAL_CACHE]


@contextmanager
def statements(env: Env) -> Iterator[list[str]]:
    """The SQL statements the application runs inside the block."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = env.app[ENGINE].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def last_seen(env: Env, token: str) -> Any:
    async with env.uow().reading() as uow:
        return await uow.session.scalar(
            select(sessions.c.last_seen_at).where(sessions.c.id_hash == hash_token(token))
        )


async def test_a_cached_session_costs_no_database_statement(env: Env) -> None:
    token = await log_in(env, Role.IDE)
    assert (await me(env, token))[0] == 200
    assert hash_token(token) in cache(env)
    with statements(env) as seen:
        status, body = await me(env, token)
    assert status == 200 and body["username"] == "ide.test"
    assert seen == []


async def test_logout_refuses_the_very_next_request_with_the_same_cookie(env: Env) -> None:
    token = await log_in(env, Role.IDE)
    assert (await me(env, token))[0] == 200
    assert hash_token(token) in cache(env)
    page = await env.client.get("/ehpad", cookies={SESSION_COOKIE: token})
    csrf = await page.text()
    csrf_token = csrf.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    bye = await env.client.post(
        "/logout", data={"csrf_token": csrf_token}, cookies={SESSION_COOKIE: token}, allow_redirects=False
    )
    assert bye.status == 303
    assert hash_token(token) not in cache(env)
    assert (await me(env, token))[0] == 401


async def test_a_deactivated_users_sessions_are_refused_at_once(env: Env) -> None:
    nurse = env.territory.users[Role.IDE]
    token = await log_in(env, Role.IDE)
    other_device = await log_in(env, Role.IDE)
    colleague = await log_in(env, Role.IDEC)
    for t in (token, other_device, colleague):
        assert (await me(env, t))[0] == 200
    await service.deactivate_user(env.uow(), None, nurse.id, env.clock.now())
    assert (await me(env, token))[0] == 401
    assert (await me(env, other_device))[0] == 401
    assert (await me(env, colleague))[0] == 200  # someone else's session stays (and stays cached)
    assert hash_token(colleague) in cache(env)


async def test_a_role_change_made_by_any_code_is_effective_on_the_next_request(env: Env) -> None:
    # No service changes roles yet: whatever code does it later (here plain SQL through a unit of work)
    # is seen by the cache, which then forgets everything rather than guess.
    nurse = env.territory.users[Role.IDE]
    token = await log_in(env, Role.IDE)
    assert (await me(env, token))[1]["role"] == "ide"
    assert (await env.client.get("/admin/users", cookies={SESSION_COOKIE: token})).status == 403
    async with env.uow() as uow:
        await uow.session.execute(update(users).where(users.c.id == nurse.id).values(role="idec"))
        await uow.commit()
    assert (await me(env, token))[1]["role"] == "idec"


async def test_a_change_rolled_back_leaves_the_principal_as_it_was(env: Env) -> None:
    nurse = env.territory.users[Role.IDE]
    token = await log_in(env, Role.IDE)
    assert (await me(env, token))[0] == 200
    async with env.uow() as uow:
        await uow.session.execute(update(users).where(users.c.id == nurse.id).values(is_active=False))
        # no commit: rolled back
    assert (await me(env, token))[0] == 200


async def test_changing_ones_password_closes_the_other_cached_sessions_at_once(env: Env) -> None:
    first_device = await log_in(env, Role.IDE)
    second_device = await log_in(env, Role.IDE)
    for t in (first_device, second_device):
        assert (await me(env, t))[0] == 200
    page = await (await env.client.get("/account", cookies={SESSION_COOKIE: second_device})).text()
    csrf_token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    changed = await env.client.post(
        "/account/password",
        data={
            "csrf_token": csrf_token,
            "current": "correct horse battery staple",
            "new": "une nouvelle phrase",
            "confirmation": "une nouvelle phrase",
        },
        cookies={SESSION_COOKIE: second_device},
        allow_redirects=False,
    )
    assert changed.status == 303
    assert (await me(env, first_device))[0] == 401
    assert (await me(env, second_device))[0] == 200


async def test_a_second_factor_reset_is_effective_on_the_next_request(env: Env) -> None:
    expert = env.territory.users[Role.EXPERT]
    token = await service.open_session(env.uow(), expert, True, env.clock.now())
    assert (await me(env, token))[0] == 200
    await service.reset_second_factor(env.uow(), None, expert.id, env.clock.now())
    assert (await me(env, token))[0] == 401


async def test_idle_timeout_still_ends_an_unused_session(env: Env) -> None:
    token = await log_in(env, Role.IDE)
    assert (await me(env, token))[0] == 200
    env.clock.advance(timedelta(minutes=29))
    assert (await me(env, token))[0] == 200
    env.clock.advance(timedelta(minutes=30))
    assert (await me(env, token))[0] == 401


async def test_a_session_in_use_is_kept_alive_and_last_seen_is_written_at_most_once_a_minute(
    env: Env,
) -> None:
    token = await log_in(env, Role.IDE)
    logged_in_at = await last_seen(env, token)
    env.clock.advance(timedelta(seconds=2))
    assert (await me(env, token))[0] == 200
    env.clock.advance(timedelta(seconds=30))
    assert (await me(env, token))[0] == 200
    assert await last_seen(env, token) == logged_in_at  # less than a minute: not written
    # Used every 50 s for 40 minutes (longer than the 30-minute idle limit): never ends, and the writes of
    # last_seen_at follow the use.
    for _ in range(48):
        env.clock.advance(timedelta(seconds=50))
        assert (await me(env, token))[0] == 200
    seen = await last_seen(env, token)
    assert env.clock.now() - seen < TOUCH_INTERVAL + timedelta(seconds=50)
    env.clock.advance(timedelta(minutes=31))
    assert (await me(env, token))[0] == 401


async def test_absolute_limit_holds_for_a_cached_session(env: Env) -> None:
    token = await log_in(env, Role.IDE)
    env.clock.advance(timedelta(hours=12) - timedelta(seconds=3))
    # The idle limit would have ended it long ago: refresh its last use just before the end.
    async with env.uow() as uow:
        await uow.store(IdentityStore).touch_session(hash_token(token), env.clock.now())
        await uow.commit()
    assert (await me(env, token))[0] == 200
    assert hash_token(token) in cache(env)
    env.clock.advance(timedelta(seconds=3))
    assert (await me(env, token))[0] == 401


async def test_a_lookup_that_read_before_a_change_committed_does_not_fill_the_cache(env: Env) -> None:
    """The race the generation counter closes: a request reads the session, the user is deactivated and
    committed, then the request would store what it read."""
    nurse = env.territory.users[Role.IDE]
    token = await log_in(env, Role.IDE)
    principal_cache = cache(env)
    generation = principal_cache.generation
    async with env.uow().reading() as uow:
        found = await uow.store(IdentityStore).get_session_and_user(hash_token(token))
    assert found is not None
    await service.deactivate_user(env.uow(), None, nurse.id, env.clock.now())
    session, user = found
    assert not principal_cache.put(Principal(user, True), session, env.clock.now(), generation)
    assert hash_token(token) not in principal_cache
    policy = env.app[LOGIN_SETTINGS].sessions
    assert await load_principal(env.uow(), token, policy, env.clock.now(), principal_cache) is None


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def publish(self, channel: str, payload: str) -> None:
        self.sent.append((channel, payload))


async def test_committed_changes_are_published_for_other_processes(env: Env) -> None:
    bus = RecordingBus()
    cache(env).set_bus(bus)
    nurse = env.territory.users[Role.IDE]
    token = await log_in(env, Role.IDE)
    assert (await me(env, token))[0] == 200
    assert bus.sent == []  # touching last_seen_at or logging in changes no principal
    await service.deactivate_user(env.uow(), None, nurse.id, env.clock.now())
    assert [channel for channel, _ in bus.sent] == [CHANNEL]
    origin, change = Invalidation.from_payload(bus.sent[0][1])
    assert origin == cache(env).origin
    assert change.everything or nurse.id in change.user_ids
    # What another process does with it: its own entry for the session goes.
    elsewhere = PrincipalCache()
    policy = env.app[LOGIN_SETTINGS].sessions
    elsewhere.set_bus(None)
    generation = elsewhere.generation
    async with env.uow().reading() as uow:
        found = await uow.store(IdentityStore).get_session_and_user(hash_token(token))
    assert found is not None
    assert elsewhere.put(Principal(found[1], True), found[0], env.clock.now(), generation)
    elsewhere.receive(bus.sent[0][1])
    assert hash_token(token) not in elsewhere
    assert elsewhere.get(hash_token(token), env.clock.now(), policy, TOUCH_INTERVAL) is None

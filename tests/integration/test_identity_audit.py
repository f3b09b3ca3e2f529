"""Authentication and authorisation outcomes land in the hash-chained audit trail (ids only)."""

from __future__ import annotations

from sqlalchemy import select

from records.audit.service import verify
from records.audit.store import audit_events
from teleconsult.identity.model import Role
from tests.factories import PASSWORD
from tests.integration.conftest import Env


async def events(env: Env) -> list[tuple[str, str, str | None, str | None]]:
    async with env.uow() as uow:
        rows = (await uow.session.execute(select(audit_events).order_by(audit_events.c.seq))).all()
    return [(r.action, r.outcome, str(r.actor_id) if r.actor_id else None, r.object_id) for r in rows]


async def login(env: Env, username: str, password: str) -> int:
    token = await env.csrf()
    response = await env.client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password},
        allow_redirects=False,
    )
    return response.status


async def test_logins_good_and_bad_are_audited_without_what_was_typed(env: Env) -> None:
    nurse = env.territory.users[Role.IDE]
    assert await login(env, "nobody.here", "whatever password") == 401
    assert await login(env, nurse.username, "wrong password") == 401
    assert await login(env, nurse.username, PASSWORD) == 303
    trail = await events(env)
    assert ("login.failure", "failure", None, None) in trail  # unknown login: no actor, nothing typed
    assert ("login.failure", "failure", str(nurse.id), None) in trail
    assert ("login.password", "success", str(nurse.id), None) in trail
    async with env.uow() as uow:
        raw = (await uow.session.execute(select(audit_events))).all()
    assert "nobody.here" not in repr(raw) and "wrong password" not in repr(raw)


async def test_refused_accesses_are_audited_route_level_and_object_level(env: Env) -> None:
    await env.login(Role.IDE)
    assert (await env.client.get("/admin", allow_redirects=False)).status == 403
    other = env.territory.other_ehpad.id
    assert (await env.client.get(f"/establishments/{other}", allow_redirects=False)).status == 404
    nurse = str(env.territory.users[Role.IDE].id)
    trail = await events(env)
    assert ("access.denied", "denied", nurse, "admin.index") in trail
    assert ("access.denied", "denied", nurse, "establishment.view") in trail


async def test_admin_changes_are_audited_and_the_chain_verifies(env: Env) -> None:
    await env.login(Role.ADMIN)
    nurse = env.territory.users[Role.IDE]
    token = await env.csrf("/admin/users")
    response = await env.client.post(
        f"/admin/users/{nurse.id}/deactivate", data={"csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303
    admin = str(env.territory.users[Role.ADMIN].id)
    assert ("account.deactivate", "success", admin, str(nurse.id)) in await events(env)
    result = await verify(env.uow())
    assert result.ok and result.count >= 10  # the territory's creation is in the trail too

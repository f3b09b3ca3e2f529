"""Liveness and readiness for load balancers and the container healthcheck."""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from teleconsult.identity.policy import Action
from teleconsult.keys import ENGINE
from teleconsult.migrate import current_revision, head_revision
from teleconsult.routing import Routes

routes = Routes()


@routes.get("/healthz", name="healthz", action=Action.PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    """The process answers: nothing more is checked."""
    return web.json_response({"status": "alive"})


@routes.get("/readyz", name="readyz", action=Action.PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    """Ready to serve: the database answers and its schema is at the code's migration head."""
    engine = request.app[ENGINE]
    try:
        async with asyncio.timeout(3):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            current = await current_revision(engine)
    except (TimeoutError, SQLAlchemyError, OSError):
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    expected = head_revision()
    if current != expected:
        return web.json_response(
            {"status": "unavailable", "database": "reachable", "migrations": "behind"}, status=503
        )
    return web.json_response({"status": "ready", "database": "reachable", "migrations": "current"})

"""What both route modules of identity share: the route collection and small request helpers."""

from __future__ import annotations

import base64

from aiohttp import web

from teleconsult.db import UnitOfWork
from teleconsult.identity.policy import HOME_ROUTE, Principal
from teleconsult.keys import (
    SESSION_FACTORY,
    SETTINGS,
)
from teleconsult.middleware import SESSION_COOKIE
from teleconsult.routing import Routes

routes = Routes()

RECENT_COOKIE = "tc_recent"
MAX_RECENT = 4


def new_uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def stored_recent_logins(request: web.Request) -> list[str]:
    raw = request.cookies.get(RECENT_COOKIE, "")
    return [name for name in raw.split(".") if name and len(name) <= 64][:MAX_RECENT]


def remember_login(request: web.Request, response: web.StreamResponse, username: str) -> None:
    # Logins only (no names, nothing medical): lets a nurse on a shared tablet pick herself in one tap.
    encoded = base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")
    recent = [encoded] + [r for r in request.cookies.get(RECENT_COOKIE, "").split(".") if r and r != encoded]
    response.set_cookie(
        RECENT_COOKIE,
        ".".join(recent[:MAX_RECENT]),
        max_age=90 * 86400,
        httponly=True,
        samesite="Lax",
        secure=request.app[SETTINGS].secure_cookies,
        path="/login",
    )


def recent_logins(request: web.Request) -> list[str]:
    names: list[str] = []
    for encoded in stored_recent_logins(request):
        try:
            names.append(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input: a cookie we did not write
            continue
    return names


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.app[SETTINGS].secure_cookies,
        path="/",
    )


def home_url(request: web.Request, principal: Principal) -> str:
    return str(request.app.router[HOME_ROUTE[principal.role]].url_for())

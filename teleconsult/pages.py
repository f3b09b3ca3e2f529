"""Rendering a full page with what every layout needs: the principal, the CSRF token, the language."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from teleconsult.identity.policy import Principal
from teleconsult.keys import PRINCIPAL, RENDERER
from teleconsult.middleware import csrf_token, layout_context


def current_principal(request: web.Request) -> Principal:
    """The logged-in principal of a request the policy middleware let through for a non-public action."""
    principal = request[PRINCIPAL]
    if principal is None:  # the policy middleware lets no anonymous request reach these handlers
        raise web.HTTPUnauthorized()
    return principal


def render_page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("errors", {})
    context.setdefault("values", {})
    context.update(layout_context(request), csrf_token=csrf_token(request))
    html = request.app[RENDERER].render(template, context)
    return web.Response(text=html, status=status, content_type="text/html")


def redirect(request: web.Request, route_name: str, **parts: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(str(request.app.router[route_name].url_for(**parts)))

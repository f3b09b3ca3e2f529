"""HTTP of one's own calendar feed, on the account page: create (or replace) the secret address, shown once,
and revoke it. The feed itself is served by scheduling (route ``calendar.feed``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from teleconsult.identity import service
from teleconsult.identity.policy import Action, Decision, Principal, decide
from teleconsult.identity.routes._common import new_uow, routes
from teleconsult.identity.service.calendar_feeds import (
    calendar_feed_created_at,
    create_calendar_feed,
    revoke_calendar_feed,
)
from teleconsult.keys import CLOCK, SETTINGS
from teleconsult.middleware import client_address_of
from teleconsult.pages import current_principal, render_page


async def calendar_context(
    request: web.Request, principal: Principal, new_url: str | None = None
) -> dict[str, Any]:
    """What the account page's calendar section needs (None: the person has no calendar to subscribe to)."""
    if decide(principal, Action.MANAGE_CALENDAR_FEED) is not Decision.ALLOW:
        return {"calendar": None}
    return {
        "calendar": {
            "created_at": await calendar_feed_created_at(new_uow(request), principal),
            "url": new_url,
            "revoked": request.query.get("calendar") == "revoked",
        }
    }


def _origin(request: web.Request) -> str:
    """The public address: ``base_url`` in production; in the demo, the address the browser used (the
    demo may run on any port while base_url keeps its default)."""
    settings = request.app[SETTINGS]
    return str(request.url.origin()) if settings.is_demo else settings.base_url.rstrip("/")


@routes.post("/account/calendar", name="account.calendar.create", action=Action.MANAGE_CALENDAR_FEED)
async def create(request: web.Request) -> web.Response:
    """The new address is shown in this answer and never again (only its hash is kept)."""
    principal = current_principal(request)
    token = await create_calendar_feed(
        new_uow(request), principal, request.app[CLOCK].now(), client_address_of(request)
    )
    path = str(request.app.router["calendar.feed"].url_for(token=token))
    return render_page(
        request,
        "account.html",
        user=principal.user,
        establishment=await service.own_establishment(new_uow(request), principal),
        **await calendar_context(request, principal, _origin(request) + path),
    )


@routes.post("/account/calendar/revoke", name="account.calendar.revoke", action=Action.MANAGE_CALENDAR_FEED)
async def revoke(request: web.Request) -> web.StreamResponse:
    await revoke_calendar_feed(
        new_uow(request), current_principal(request), request.app[CLOCK].now(), client_address_of(request)
    )
    raise web.HTTPSeeOther(str(request.app.router["account"].url_for()) + "?calendar=revoked#calendar")

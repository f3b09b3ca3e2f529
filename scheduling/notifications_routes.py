"""HTTP of notifications: the "Notifications" page and its JSON API (one's own only), the unread count
beside the menu entry, and the public calendar feed whose secret token is its only credential."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from scheduling import notifications_service as service
from scheduling.notifications import DETAIL, headline
from teleconsult import i18n
from teleconsult.db import UnitOfWork
from teleconsult.forms import uuid_in_path
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action, Decision, Principal, decide
from teleconsult.identity.service.calendar_feeds import TOKEN_PATTERN
from teleconsult.keys import CLOCK, NAV_COUNTS, PRINCIPAL, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import SAFE_METHODS, wants_json
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec, Routes

routes = Routes()


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def _item(view: service.NotificationView) -> dict[str, Any]:
    """One notification as both the page and the API show it: words in the reader's language."""
    n, facts = view.notification, view.facts
    _ = i18n.gettext_
    return {
        "id": str(n.id),
        "kind": n.kind.value,
        "offset_minutes": n.offset_minutes or None,
        "appointment_id": str(n.appointment_id),
        "appointment_status": facts.status,
        "created_at": n.created_at.isoformat(),
        "read_at": n.read_at.isoformat() if n.read_at else None,
        "starts_at": facts.starts_at.isoformat(),
        "local_start": facts.starts_at.astimezone(i18n.PARIS).isoformat(),
        "ehpad_name": facts.ehpad_name,
        "expert_name": facts.expert_name,
        "title": _(headline(n.kind)),
        "text": _(DETAIL)
        % {
            "date": i18n.local_date(facts.starts_at, "full"),
            "time": i18n.local_time(facts.starts_at),
            "ehpad": facts.ehpad_name,
            "expert": facts.expert_name,
        },
    }


@web.middleware
async def unread_badge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pages (not the API) show the number of unread notifications beside the menu entry."""
    principal: Principal | None = request.get(PRINCIPAL)
    if (
        principal is not None
        and request.method in SAFE_METHODS
        and not wants_json(request)
        and decide(principal, Action.READ_OWN_NOTIFICATIONS) is Decision.ALLOW
    ):
        request[NAV_COUNTS] = {"notifications": await service.unread_count(_uow(request), principal)}
    return await handler(request)


# -------------------------------------------------------------------------------------------- pages


@routes.get(
    "/notifications",
    name="notifications",
    action=Action.READ_OWN_NOTIFICATIONS,
    page=PageSpec(role=Role.IDE, care_home=True),
)
async def notifications_page(request: web.Request) -> web.Response:
    found = await service.inbox(_uow(request), current_principal(request))
    return render_page(
        request,
        "notifications.html",
        items=[
            {
                **_item(view),
                "is_read": view.notification.is_read,
                "created_at_local": i18n.local_datetime(view.notification.created_at, "short"),
            }
            for view in found.items
        ],
        unread=found.unread,
    )


@routes.post(
    "/notifications/{notification_id}/read", name="notifications.read", action=Action.READ_OWN_NOTIFICATIONS
)
async def read_one(request: web.Request) -> web.StreamResponse:
    await service.mark_read(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "notification_id"),
        request.app[CLOCK].now(),
    )
    raise redirect(request, "notifications")


@routes.post("/notifications/read", name="notifications.read_all", action=Action.READ_OWN_NOTIFICATIONS)
async def read_all(request: web.Request) -> web.StreamResponse:
    await service.mark_read(_uow(request), current_principal(request), None, request.app[CLOCK].now())
    raise redirect(request, "notifications")


# ---------------------------------------------------------------------------------------------- API


@routes.get("/api/v1/notifications", name="api.notifications", action=Action.READ_OWN_NOTIFICATIONS)
async def api_notifications(request: web.Request) -> web.Response:
    found = await service.inbox(_uow(request), current_principal(request))
    return web.json_response({"unread": found.unread, "notifications": [_item(v) for v in found.items]})


@routes.post(
    "/api/v1/notifications/{notification_id}/read",
    name="api.notifications.read",
    action=Action.READ_OWN_NOTIFICATIONS,
)
async def api_read_one(request: web.Request) -> web.Response:
    await service.mark_read(
        _uow(request),
        current_principal(request),
        uuid_in_path(request, "notification_id"),
        request.app[CLOCK].now(),
    )
    return web.Response(status=204)


# ------------------------------------------------------------------------------------ calendar feed


@routes.get("/calendar/{token}.ics", name="calendar.feed", action=Action.PUBLIC)
async def calendar_feed(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    if not re.fullmatch(TOKEN_PATTERN, token):
        raise web.HTTPNotFound()  # not even looked up
    settings = request.app[SETTINGS]
    body = await service.calendar_feed(
        _uow(request),
        token,
        settings.reminder_minutes,
        request.app[CLOCK].now(),
        # The demo may run on any port while base_url keeps its default: there, the address used.
        (str(request.url.origin()) if settings.is_demo else settings.base_url.rstrip("/")) + "/",
    )
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="teleconsult.ics"',
        },
    )

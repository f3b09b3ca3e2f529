"""Role home pages and the language switch. Later issues fill the homes (agenda, appointments, activity);
until then each says plainly what is there and what is not yet."""

from __future__ import annotations

from aiohttp import web

from teleconsult.db import UnitOfWork
from teleconsult.forms import local_path, read_form
from teleconsult.i18n import LANGUAGES
from teleconsult.identity import service
from teleconsult.identity.model import Role
from teleconsult.identity.policy import HOME_ROUTE, Action, Principal
from teleconsult.keys import PRINCIPAL, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import LANGUAGE_COOKIE
from teleconsult.pages import current_principal, render_page
from teleconsult.routing import PageSpec, Routes

routes = Routes()


@routes.get("/", name="root", action=Action.PUBLIC)
async def root(request: web.Request) -> web.StreamResponse:
    principal: Principal | None = request[PRINCIPAL]
    if principal is None:
        raise web.HTTPSeeOther("/login")
    if not principal.second_factor_done:
        raise web.HTTPSeeOther(str(request.app.router["login.second_factor"].url_for()))
    raise web.HTTPSeeOther(str(request.app.router[HOME_ROUTE[principal.role]].url_for()))


async def _home(request: web.Request, template: str) -> web.Response:
    principal = current_principal(request)
    establishment = await service.own_establishment(UnitOfWork(request.app[SESSION_FACTORY]), principal)
    return render_page(request, template, user=principal.user, establishment=establishment)


@routes.get(
    "/ehpad",
    name="home.care_home",
    action=Action.VIEW_CARE_HOME_HOME,
    page=PageSpec(role=Role.IDE, care_home=True),
)
async def care_home_home(request: web.Request) -> web.Response:
    return await _home(request, "home_care_home.html")


@routes.get("/expert", name="home.expert", action=Action.VIEW_EXPERT_HOME, page=PageSpec(role=Role.EXPERT))
async def expert_home(request: web.Request) -> web.Response:
    return await _home(request, "home_expert.html")


@routes.get(
    "/coordination",
    name="home.coordination",
    action=Action.VIEW_COORDINATION_HOME,
    page=PageSpec(role=Role.COORDINATEUR),
)
async def coordination_home(request: web.Request) -> web.Response:
    return await _home(request, "home_coordination.html")


@routes.post("/language", name="language", action=Action.PUBLIC)
async def set_language(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    chosen = form.get("lang")
    response = web.HTTPSeeOther(local_path(form.get("back")) or "/")
    if chosen in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 86400,
            samesite="Lax",
            secure=request.app[SETTINGS].secure_cookies,
            path="/",
        )
    raise response

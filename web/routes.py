"""Role home pages and the language switch: the care home's day (today's and upcoming teleconsultations and
what is left to prepare), the expert's afternoon. The coordinator's activity arrives with the reports issue;
until then that page says plainly what is there and what is not yet."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from scheduling import service as scheduling
from scheduling.model import PARIS
from teleconsult.db import UnitOfWork
from teleconsult.forms import local_path, read_form
from teleconsult.i18n import LANGUAGES
from teleconsult.identity import service
from teleconsult.identity.model import Role
from teleconsult.identity.policy import HOME_ROUTE, Action, Principal
from teleconsult.keys import CLOCK, KEYRING, PRINCIPAL, SESSION_FACTORY, SETTINGS
from teleconsult.middleware import LANGUAGE_COOKIE, client_address_of
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


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


async def _home(request: web.Request, template: str, **context: Any) -> web.Response:
    principal = current_principal(request)
    establishment = await service.own_establishment(_uow(request), principal)
    return render_page(request, template, user=principal.user, establishment=establishment, **context)


@routes.get(
    "/ehpad",
    name="home.care_home",
    action=Action.VIEW_CARE_HOME_HOME,
    page=PageSpec(role=Role.IDE, care_home=True),
)
async def care_home_home(request: web.Request) -> web.Response:
    principal = current_principal(request)
    now = request.app[CLOCK].now()
    views = await scheduling.care_home_appointments(
        _uow(request), request.app[KEYRING], principal, now, days=8, client_address=client_address_of(request)
    )
    today = now.astimezone(PARIS).date()
    booked = [v for v in views if v.appointment.is_open]
    return await _home(
        request,
        "home_care_home.html",
        today=[v for v in views if v.appointment.local_start.date() == today],
        upcoming=[v for v in booked if v.appointment.local_start.date() > today],
        to_prepare=[v for v in booked if v.appointment.missing()],
    )


@routes.get("/expert", name="home.expert", action=Action.VIEW_EXPERT_HOME, page=PageSpec(role=Role.EXPERT))
async def expert_home(request: web.Request) -> web.Response:
    principal = current_principal(request)
    now = request.app[CLOCK].now()
    today: list[scheduling.AppointmentView] = []
    if principal.role is Role.EXPERT:
        today = await scheduling.expert_agenda(
            _uow(request),
            request.app[KEYRING],
            principal,
            principal.user.id,
            now.astimezone(PARIS).date(),
            1,
            now,
            client_address_of(request),
        )
    return await _home(request, "home_expert.html", today=today)


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

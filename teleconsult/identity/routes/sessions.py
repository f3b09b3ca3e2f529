"""HTTP for one's own access: login, second factor, logout, switch user, own account."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

from aiohttp import web

from teleconsult.errors import InvalidInput, MalformedRequest, TooManyRequests
from teleconsult.forms import local_path, read_form
from teleconsult.i18n import N_
from teleconsult.identity import service
from teleconsult.identity.model import Role
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.routes._common import (
    home_url,
    new_uow,
    recent_logins,
    remember_login,
    routes,
    set_session_cookie,
)
from teleconsult.identity.routes.calendar_feeds import calendar_context
from teleconsult.identity.totp import TotpBox, provisioning_uri, qr_svg
from teleconsult.keys import (
    CLOCK,
    LOGIN_SETTINGS,
    PASSWORDS,
    PRINCIPAL,
    SESSION_TOKEN,
    TOTP_BOX,
)
from teleconsult.middleware import SESSION_COOKIE, client_address_of
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec

# ---------------------------------------------------------------------------------------------- login


@routes.get("/login", name="login", action=Action.PUBLIC, page=PageSpec(role=None, care_home=True))
async def login_page(request: web.Request) -> web.Response:
    principal: Principal | None = request[PRINCIPAL]
    if principal is not None and principal.second_factor_done and "switch" not in request.query:
        raise web.HTTPSeeOther(home_url(request, principal))
    return render_page(
        request,
        "login.html",
        next=local_path(request.query.get("next")) or "",
        values={"username": request.query.get("u", "")[:64]},
        recent=recent_logins(request),
        notice=("expired" if "expired" in request.query else "bye" if "bye" in request.query else None),
    )


@routes.post("/login", name="login.submit", action=Action.PUBLIC)
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    username, next_url = form.get("username", "")[:200], local_path(form.get("next"))
    try:
        result = await service.log_in(
            new_uow(request),
            request.app[PASSWORDS],
            request.app[LOGIN_SETTINGS],
            username,
            form.get("password", "")[:1024],
            client_address_of(request),
            request.app[CLOCK].now(),
        )
    except (InvalidInput, service.BadCredentials, TooManyRequests) as exc:
        retry = exc.retry_after_seconds if isinstance(exc, TooManyRequests) else None
        headers = {"Retry-After": str(retry)} if retry else {}
        response = render_page(
            request,
            "login.html",
            status=exc.status,
            next=next_url or "",
            values={"username": username},
            recent=recent_logins(request),
            notice=None,
            error=exc.text,
            errors=exc.fields if isinstance(exc, InvalidInput) else {},
            retry_minutes=(retry + 59) // 60 if retry else None,
        )
        response.headers.update(headers)
        return response
    previous = request.get(SESSION_TOKEN)
    if previous:  # someone else was logged in on this device: their session ends here, not at its timeout
        someone_else = request.get(PRINCIPAL)
        await service.log_out(
            new_uow(request), previous, request.app[CLOCK].now(), someone_else.user if someone_else else None
        )
    principal = Principal(result.user, not result.needs_second_factor)
    if result.needs_second_factor:
        target = "login.second_factor" if result.user.has_totp else "login.enrol"
        location = str(request.app.router[target].url_for())
        if next_url:
            location += "?next=" + quote(next_url, safe="")
    else:
        location = next_url or home_url(request, principal)
    response = web.HTTPSeeOther(location)
    set_session_cookie(request, response, result.token)
    remember_login(request, response, result.user.username)
    raise response


@routes.get(
    "/login/totp",
    name="login.second_factor",
    action=Action.SECOND_FACTOR,
    page=PageSpec(role=Role.EXPERT, pending_second_factor=True),
)
async def second_factor_page(request: web.Request) -> web.Response:
    principal = current_principal(request)
    if not principal.user.has_totp:
        raise redirect(request, "login.enrol")
    return render_page(request, "second_factor.html", next=local_path(request.query.get("next")) or "")


@routes.post("/login/totp", name="login.second_factor.submit", action=Action.SECOND_FACTOR)
async def second_factor_submit(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    form = await read_form(request)
    next_url = local_path(form.get("next"))
    try:
        new_token = await service.check_second_factor(
            new_uow(request),
            request.app[TOTP_BOX],
            request.app[LOGIN_SETTINGS],
            principal,
            request[SESSION_TOKEN],
            form.get("code", "")[:20],
            client_address_of(request),
            request.app[CLOCK].now(),
        )
    except (service.BadSecondFactor, service.SecondFactorUnreadable, TooManyRequests) as exc:
        return render_page(
            request, "second_factor.html", status=exc.status, next=next_url or "", error=exc.text
        )
    response = web.HTTPSeeOther(next_url or home_url(request, Principal(principal.user, True)))
    set_session_cookie(request, response, new_token)
    raise response


def _enrolment_context(
    request: web.Request, principal: Principal, sealed: str | None = None
) -> dict[str, Any]:
    box: TotpBox = request.app[TOTP_BOX]
    if sealed is None:
        secret = TotpBox.new_secret()
        sealed = base64.urlsafe_b64encode(box.seal(principal.user.id, secret)).decode()
    else:
        secret = box.open(principal.user.id, base64.urlsafe_b64decode(sealed))
    uri = provisioning_uri(secret, principal.user.username)
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {"qr": qr_svg(uri), "secret": grouped, "sealed": sealed}


def _open_sealed(request: web.Request, principal: Principal, sealed: str) -> str:
    try:
        return request.app[TOTP_BOX].open(principal.user.id, base64.urlsafe_b64decode(sealed.encode()))
    except (ValueError, binascii.Error) as exc:
        raise MalformedRequest(N_("This form has expired. Reload the page and send it again.")) from exc


async def _enrol(request: web.Request, template: str) -> web.StreamResponse:
    principal = current_principal(request)
    form = await read_form(request)
    sealed = form.get("sealed", "")[:400]
    secret = _open_sealed(request, principal, sealed)
    try:
        new_token = await service.confirm_totp_enrolment(
            new_uow(request),
            request.app[TOTP_BOX],
            request.app[PASSWORDS],
            principal,
            request[SESSION_TOKEN],
            secret,
            form.get("code", "")[:20],
            form.get("password", "")[:1024],
            request.app[CLOCK].now(),
        )
    except (service.BadSecondFactor, InvalidInput) as exc:
        return render_page(
            request,
            template,
            status=exc.status,
            error=exc.text,
            errors=exc.fields if isinstance(exc, InvalidInput) else {},
            **_enrolment_context(request, principal, sealed),
        )
    response = web.HTTPSeeOther(
        local_path(form.get("next")) or home_url(request, Principal(principal.user, True))
    )
    set_session_cookie(request, response, new_token)
    raise response


@routes.get(
    "/login/totp/enrol",
    name="login.enrol",
    action=Action.SECOND_FACTOR,
    page=PageSpec(role=Role.ADMIN, pending_second_factor=True),
)
async def enrol_page(request: web.Request) -> web.Response:
    principal = current_principal(request)
    if principal.user.has_totp:
        raise redirect(request, "login.second_factor")
    return render_page(request, "enrol.html", **_enrolment_context(request, principal))


@routes.post("/login/totp/enrol", name="login.enrol.submit", action=Action.SECOND_FACTOR)
async def enrol_submit(request: web.Request) -> web.StreamResponse:
    return await _enrol(request, "enrol.html")


@routes.post("/logout", name="logout", action=Action.SIGN_OUT)
async def logout(request: web.Request) -> web.StreamResponse:
    await service.log_out(
        new_uow(request), request[SESSION_TOKEN], request.app[CLOCK].now(), current_principal(request).user
    )
    response = web.HTTPSeeOther("/login?bye=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.post("/switch-user", name="switch_user", action=Action.SIGN_OUT)
async def switch_user(request: web.Request) -> web.StreamResponse:
    """Shared tablets: close this person's session and show the login with the tablet's recent logins."""
    await service.log_out(
        new_uow(request), request[SESSION_TOKEN], request.app[CLOCK].now(), current_principal(request).user
    )
    response = web.HTTPSeeOther("/login?switch=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# -------------------------------------------------------------------------------------------- account


@routes.get(
    "/account", name="account", action=Action.VIEW_OWN_ACCOUNT, page=PageSpec(role=Role.IDE, care_home=True)
)
async def account_page(request: web.Request) -> web.Response:
    principal = current_principal(request)
    return render_page(
        request,
        "account.html",
        user=principal.user,
        establishment=await service.own_establishment(new_uow(request), principal),
        password_changed=request.query.get("password") == "changed",
        **await calendar_context(request, principal),
    )


@routes.post("/account/password", name="account.password", action=Action.MANAGE_OWN_CREDENTIALS)
async def account_password(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    form = await read_form(request)
    try:
        await service.change_password(
            new_uow(request),
            request.app[PASSWORDS],
            principal,
            request[SESSION_TOKEN],
            form.get("current", "")[:1024],
            form.get("new", "")[:1024],
            form.get("confirmation", "")[:1024],
            request.app[CLOCK].now(),
        )
    except InvalidInput as exc:
        return render_page(
            request,
            "account.html",
            status=exc.status,
            user=principal.user,
            establishment=await service.own_establishment(new_uow(request), principal),
            errors=exc.fields,
            **await calendar_context(request, principal),
        )
    raise web.HTTPSeeOther(str(request.app.router["account"].url_for()) + "?password=changed")


@routes.get(
    "/account/totp",
    name="account.totp",
    action=Action.MANAGE_OWN_CREDENTIALS,
    page=PageSpec(role=Role.EXPERT),
)
async def account_totp_page(request: web.Request) -> web.Response:
    return render_page(
        request, "account_totp.html", **_enrolment_context(request, current_principal(request))
    )


@routes.post("/account/totp", name="account.totp.submit", action=Action.MANAGE_OWN_CREDENTIALS)
async def account_totp_submit(request: web.Request) -> web.StreamResponse:
    return await _enrol(request, "account_totp.html")


@routes.get("/api/v1/me", name="api.me", action=Action.VIEW_OWN_ACCOUNT)
async def api_me(request: web.Request) -> web.Response:
    user = current_principal(request).user
    return web.json_response(
        {
            "id": str(user.id),
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role.value,
            "establishment_id": str(user.establishment_id),
            "specialties": sorted(s.value for s in user.specialties),
            "second_factor": user.has_totp,
        }
    )

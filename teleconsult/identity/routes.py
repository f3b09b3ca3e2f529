"""HTTP for identity: login, second factor, logout, switch user, own account, and the admin pages."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any
from urllib.parse import quote

from aiohttp import web

from teleconsult.clients import client_address
from teleconsult.db import UnitOfWork
from teleconsult.errors import DomainError, InvalidInput, MalformedRequest, TooManyRequests
from teleconsult.forms import Field, local_path, parse, read_form, read_form_lists, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity import service
from teleconsult.identity.model import DepartmentKind, EstablishmentKind, Role, Specialty, User, check_finess
from teleconsult.identity.policy import HOME_ROUTE, Action, Decision, Principal, decide
from teleconsult.identity.totp import TotpBox, provisioning_uri, qr_svg
from teleconsult.keys import (
    CLOCK,
    LOGIN_SETTINGS,
    PASSWORDS,
    PRINCIPAL,
    SESSION_FACTORY,
    SESSION_TOKEN,
    SETTINGS,
    TOTP_BOX,
)
from teleconsult.middleware import SESSION_COOKIE
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec, Routes

routes = Routes()

RECENT_COOKIE = "tc_recent"
MAX_RECENT = 4


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[SESSION_FACTORY])


def _client_address(request: web.Request) -> str:
    return client_address(
        request.remote, request.headers.get("X-Forwarded-For"), request.app[SETTINGS].trusted_proxies
    )


def _recent_logins(request: web.Request) -> list[str]:
    raw = request.cookies.get(RECENT_COOKIE, "")
    return [name for name in raw.split(".") if name and len(name) <= 64][:MAX_RECENT]


def _remember_login(request: web.Request, response: web.StreamResponse, username: str) -> None:
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


def _decode_recent(request: web.Request) -> list[str]:
    names: list[str] = []
    for encoded in _recent_logins(request):
        try:
            names.append(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input: a cookie we did not write
            continue
    return names


def _set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.app[SETTINGS].secure_cookies,
        path="/",
    )


def _home(request: web.Request, principal: Principal) -> str:
    return str(request.app.router[HOME_ROUTE[principal.role]].url_for())


# ---------------------------------------------------------------------------------------------- login


@routes.get("/login", name="login", action=Action.PUBLIC, page=PageSpec(role=None, care_home=True))
async def login_page(request: web.Request) -> web.Response:
    principal: Principal | None = request[PRINCIPAL]
    if principal is not None and principal.second_factor_done and "switch" not in request.query:
        raise web.HTTPSeeOther(_home(request, principal))
    return render_page(
        request,
        "login.html",
        next=local_path(request.query.get("next")) or "",
        values={"username": request.query.get("u", "")[:64]},
        recent=_decode_recent(request),
        notice=("expired" if "expired" in request.query else "bye" if "bye" in request.query else None),
    )


@routes.post("/login", name="login.submit", action=Action.PUBLIC)
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    username, next_url = form.get("username", "")[:200], local_path(form.get("next"))
    try:
        result = await service.log_in(
            _uow(request),
            request.app[PASSWORDS],
            request.app[LOGIN_SETTINGS],
            username,
            form.get("password", "")[:1024],
            _client_address(request),
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
            recent=_decode_recent(request),
            notice=None,
            error=exc.text,
            errors=exc.fields if isinstance(exc, InvalidInput) else {},
            retry_minutes=(retry + 59) // 60 if retry else None,
        )
        response.headers.update(headers)
        return response
    previous = request.get(SESSION_TOKEN)
    if previous:  # someone else was logged in on this device: their session ends here, not at its timeout
        await service.log_out(_uow(request), previous, request.app[CLOCK].now())
    principal = Principal(result.user, not result.needs_second_factor)
    if result.needs_second_factor:
        target = "login.second_factor" if result.user.has_totp else "login.enrol"
        location = str(request.app.router[target].url_for())
        if next_url:
            location += "?next=" + quote(next_url, safe="")
    else:
        location = next_url or _home(request, principal)
    response = web.HTTPSeeOther(location)
    _set_session_cookie(request, response, result.token)
    _remember_login(request, response, result.user.username)
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
            _uow(request),
            request.app[TOTP_BOX],
            request.app[LOGIN_SETTINGS],
            principal,
            request[SESSION_TOKEN],
            form.get("code", "")[:20],
            _client_address(request),
            request.app[CLOCK].now(),
        )
    except (service.BadSecondFactor, service.SecondFactorUnreadable, TooManyRequests) as exc:
        return render_page(
            request, "second_factor.html", status=exc.status, next=next_url or "", error=exc.text
        )
    response = web.HTTPSeeOther(next_url or _home(request, Principal(principal.user, True)))
    _set_session_cookie(request, response, new_token)
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
            _uow(request),
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
        local_path(form.get("next")) or _home(request, Principal(principal.user, True))
    )
    _set_session_cookie(request, response, new_token)
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
    await service.log_out(_uow(request), request[SESSION_TOKEN], request.app[CLOCK].now())
    response = web.HTTPSeeOther("/login?bye=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.post("/switch-user", name="switch_user", action=Action.SIGN_OUT)
async def switch_user(request: web.Request) -> web.StreamResponse:
    """Shared tablets: close this person's session and show the login with the tablet's recent logins."""
    await service.log_out(_uow(request), request[SESSION_TOKEN], request.app[CLOCK].now())
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
        establishment=await service.own_establishment(_uow(request), principal),
        password_changed=request.query.get("password") == "changed",
    )


@routes.post("/account/password", name="account.password", action=Action.MANAGE_OWN_CREDENTIALS)
async def account_password(request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    form = await read_form(request)
    try:
        await service.change_password(
            _uow(request),
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
            establishment=await service.own_establishment(_uow(request), principal),
            errors=exc.fields,
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


# ---------------------------------------------------------------------------------------------- admin


@routes.get("/admin", name="admin.index", action=Action.ADMIN_USERS, page=PageSpec(role=Role.ADMIN))
async def admin_index(request: web.Request) -> web.Response:
    principal = current_principal(request)
    establishments = await service.list_establishments(_uow(request), principal)
    users = await service.list_users(_uow(request), principal)
    counts = {kind: sum(1 for e in establishments if e.kind is kind) for kind in EstablishmentKind}
    return render_page(
        request,
        "admin/index.html",
        counts=counts,
        user_count=len(users),
        active_count=sum(1 for u in users if u.is_active),
    )


ESTABLISHMENT_FIELDS = [
    Field("kind", convert=EstablishmentKind),
    Field("name"),
    Field("finess", required=False, max_length=20, convert=check_finess),
    Field("address", required=False, max_length=400),
    Field("bed_count", required=False, max_length=5, convert=int, invalid=N_("Give a whole number.")),
]


async def _establishments_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    principal = current_principal(request)
    establishments = await service.list_establishments(_uow(request), principal)
    extra.setdefault("values", {})
    return render_page(
        request,
        "admin/establishments.html",
        status=status,
        establishments=establishments,
        kinds=list(EstablishmentKind),
        **extra,
    )


@routes.get(
    "/admin/establishments",
    name="admin.establishments",
    action=Action.ADMIN_ESTABLISHMENTS,
    page=PageSpec(role=Role.ADMIN),
)
async def admin_establishments(request: web.Request) -> web.Response:
    return await _establishments_page(request)


@routes.post("/admin/establishments", name="admin.establishments.create", action=Action.ADMIN_ESTABLISHMENTS)
async def admin_establishments_create(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    try:
        values = parse(form, ESTABLISHMENT_FIELDS)
        establishment = await service.create_establishment(
            _uow(request),
            current_principal(request),
            values["kind"],
            values["name"],
            values["finess"],
            values["address"] or "",
            values["bed_count"],
            request.app[CLOCK].now(),
        )
    except DomainError as exc:
        return await _establishments_page(
            request, exc.status, values=form, error=exc.text, errors=getattr(exc, "fields", {})
        )
    raise redirect(request, "establishment.view", establishment_id=str(establishment.id))


@routes.get("/establishments/{establishment_id}", name="establishment.view", action=Action.VIEW_ESTABLISHMENT)
async def establishment_view(request: web.Request) -> web.Response:
    principal = current_principal(request)
    establishment_id = uuid_in_path(request, "establishment_id")
    view = await service.view_establishment(_uow(request), principal, establishment_id)
    administers = decide(principal, Action.ADMIN_ESTABLISHMENTS) is Decision.ALLOW
    return render_page(
        request,
        "establishment.html",
        view=view,
        establishment=view.establishment,
        all_teams=await service.list_teams(_uow(request), principal) if administers else {},
        department_kinds=list(DepartmentKind),
    )


@routes.post(
    "/admin/establishments/{establishment_id}/departments",
    name="admin.departments.create",
    action=Action.ADMIN_ESTABLISHMENTS,
)
async def admin_departments_create(request: web.Request) -> web.StreamResponse:
    hospital_id = uuid_in_path(request, "establishment_id")
    values = parse(await read_form(request), [Field("name"), Field("kind", convert=DepartmentKind)])
    await service.add_department(
        _uow(request), current_principal(request), hospital_id, values["name"], values["kind"]
    )
    raise redirect(request, "establishment.view", establishment_id=str(hospital_id))


@routes.post(
    "/admin/establishments/{establishment_id}/conventions",
    name="admin.conventions.create",
    action=Action.ADMIN_ESTABLISHMENTS,
)
async def admin_conventions_create(request: web.Request) -> web.StreamResponse:
    ehpad_id = uuid_in_path(request, "establishment_id")
    values = parse(await read_form(request), [Field("department_id", convert=uuid.UUID)])
    await service.add_convention(
        _uow(request), current_principal(request), ehpad_id, values["department_id"], request.app[CLOCK].now()
    )
    raise redirect(request, "establishment.view", establishment_id=str(ehpad_id))


USER_FIELDS = [
    Field("username", max_length=64),
    Field("display_name"),
    Field("role", convert=Role),
    Field("establishment_id", convert=uuid.UUID),
    Field("password", max_length=200),
    Field("email", required=False, max_length=254),
    Field("rpps", required=False, max_length=11),
    Field("department_id", required=False, convert=uuid.UUID),
]


async def _users_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    principal = current_principal(request)
    users = await service.list_users(_uow(request), principal)
    establishments = await service.list_establishments(_uow(request), principal)
    extra.setdefault("values", {})
    extra.setdefault("chosen_specialties", [])
    extra.setdefault("teams", await service.list_teams(_uow(request), principal))
    return render_page(
        request,
        "admin/users.html",
        status=status,
        users=users,
        establishments={e.id: e for e in establishments},
        roles=list(Role),
        specialties=list(Specialty),
        **extra,
    )


@routes.get("/admin/users", name="admin.users", action=Action.ADMIN_USERS, page=PageSpec(role=Role.ADMIN))
async def admin_users(request: web.Request) -> web.Response:
    return await _users_page(request)


@routes.post("/admin/users", name="admin.users.create", action=Action.ADMIN_USERS)
async def admin_users_create(request: web.Request) -> web.StreamResponse:
    lists = await read_form_lists(request)
    form = {key: values[-1] for key, values in lists.items()}
    try:
        values = parse(form, USER_FIELDS)
        known = {s.value for s in Specialty}
        specialties = frozenset(Specialty(s) for s in lists.get("specialties", []) if s in known)
        user = User(
            id=uuid.uuid4(),
            username=values["username"],
            display_name=values["display_name"],
            role=values["role"],
            establishment_id=values["establishment_id"],
            department_id=values["department_id"],
            specialties=specialties,
            rpps=values["rpps"],
            email=values["email"],
        )
        await service.create_user(
            _uow(request),
            request.app[PASSWORDS],
            current_principal(request),
            user,
            values["password"],
            request.app[CLOCK].now(),
        )
    except DomainError as exc:
        form.pop("password", None)
        return await _users_page(
            request,
            exc.status,
            values=form,
            error=exc.text,
            errors=getattr(exc, "fields", {}),
            chosen_specialties=lists.get("specialties", []),
        )
    raise redirect(request, "admin.users")


@routes.post(
    "/admin/users/{user_id}/reset-2fa", name="admin.users.reset_second_factor", action=Action.ADMIN_USERS
)
async def admin_users_reset_second_factor(request: web.Request) -> web.StreamResponse:
    await service.reset_second_factor(
        _uow(request), current_principal(request), uuid_in_path(request, "user_id"), request.app[CLOCK].now()
    )
    raise redirect(request, "admin.users")


@routes.post("/admin/users/{user_id}/deactivate", name="admin.users.deactivate", action=Action.ADMIN_USERS)
async def admin_users_deactivate(request: web.Request) -> web.StreamResponse:
    await service.deactivate_user(
        _uow(request), current_principal(request), uuid_in_path(request, "user_id"), request.app[CLOCK].now()
    )
    raise redirect(request, "admin.users")

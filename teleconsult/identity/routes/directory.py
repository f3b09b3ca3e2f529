"""HTTP for the directory: the admin's pages on establishments, teams, conventions and accounts, and the
establishment page everyone sees of their own."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from teleconsult.errors import DomainError
from teleconsult.forms import Field, parse, read_form, read_form_lists, uuid_in_path
from teleconsult.i18n import N_
from teleconsult.identity import service
from teleconsult.identity.model import DepartmentKind, EstablishmentKind, Role, Specialty, User, check_finess
from teleconsult.identity.policy import Action, Decision, decide
from teleconsult.identity.routes._common import new_uow, routes
from teleconsult.keys import (
    CLOCK,
    PASSWORDS,
)
from teleconsult.pages import current_principal, redirect, render_page
from teleconsult.routing import PageSpec


@routes.get("/admin", name="admin.index", action=Action.ADMIN_USERS, page=PageSpec(role=Role.ADMIN))
async def admin_index(request: web.Request) -> web.Response:
    principal = current_principal(request)
    establishments = await service.list_establishments(new_uow(request), principal)
    users = await service.list_users(new_uow(request), principal)
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
    establishments = await service.list_establishments(new_uow(request), principal)
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
            new_uow(request),
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
    view = await service.view_establishment(new_uow(request), principal, establishment_id)
    administers = decide(principal, Action.ADMIN_ESTABLISHMENTS) is Decision.ALLOW
    return render_page(
        request,
        "establishment.html",
        view=view,
        establishment=view.establishment,
        all_teams=await service.list_teams(new_uow(request), principal) if administers else {},
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
        new_uow(request),
        current_principal(request),
        hospital_id,
        values["name"],
        values["kind"],
        request.app[CLOCK].now(),
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
        new_uow(request),
        current_principal(request),
        ehpad_id,
        values["department_id"],
        request.app[CLOCK].now(),
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
    users = await service.list_users(new_uow(request), principal)
    establishments = await service.list_establishments(new_uow(request), principal)
    extra.setdefault("values", {})
    extra.setdefault("chosen_specialties", [])
    extra.setdefault("teams", await service.list_teams(new_uow(request), principal))
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
            new_uow(request),
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
        new_uow(request),
        current_principal(request),
        uuid_in_path(request, "user_id"),
        request.app[CLOCK].now(),
    )
    raise redirect(request, "admin.users")


@routes.post("/admin/users/{user_id}/deactivate", name="admin.users.deactivate", action=Action.ADMIN_USERS)
async def admin_users_deactivate(request: web.Request) -> web.StreamResponse:
    await service.deactivate_user(
        new_uow(request),
        current_principal(request),
        uuid_in_path(request, "user_id"),
        request.app[CLOCK].now(),
    )
    raise redirect(request, "admin.users")

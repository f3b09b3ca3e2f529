"""Identity use cases of the directory: establishments, hospital teams, conventions and accounts, as
the admin (or the host's operator at the command line) manages them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.model import (
    Convention,
    Department,
    DepartmentKind,
    Establishment,
    EstablishmentKind,
    User,
    check_deactivation,
    check_new_user,
    check_password_strength,
    check_username,
    normalise_username,
)
from teleconsult.identity.passwords import Passwords
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit
from teleconsult.identity.store import IdentityStore


async def list_establishments(uow: UnitOfWork, actor: Principal) -> list[Establishment]:
    policy.require(actor, Action.ADMIN_ESTABLISHMENTS)
    async with uow.reading():
        return await uow.store(IdentityStore).list_establishments()


def _who(actor: Principal | None) -> User | None:
    return actor.user if actor is not None else None  # None: the host's operator at the command line


@dataclass(frozen=True, slots=True)
class EstablishmentView:
    establishment: Establishment
    departments: list[Department]  # a hospital's teams
    conventions: list[Convention]  # a care home's agreements with hospital teams
    team_names: dict[UUID, str]  # "Hospital - team" for each department named above
    staff: list[User]


async def view_establishment(uow: UnitOfWork, actor: Principal, establishment_id: UUID) -> EstablishmentView:
    """Admins see any establishment; everyone else only their own (others are hidden: 404)."""
    policy.require(actor, Action.VIEW_ESTABLISHMENT, establishment_id)
    async with uow.reading():
        store = uow.store(IdentityStore)
        establishment = await store.get_establishment(establishment_id)
        if establishment is None:
            raise NotFound()
        is_hospital = establishment.kind is EstablishmentKind.HOSPITAL
        is_ehpad = establishment.kind is EstablishmentKind.EHPAD
        departments = await store.list_departments(establishment.id) if is_hospital else []
        conventions = await store.list_conventions(establishment.id) if is_ehpad else []
        named = {d.id for d in departments} | {c.department_id for c in conventions}
        names = {k: v for k, v in (await store.team_names()).items() if k in named}
        return EstablishmentView(
            establishment, departments, conventions, names, await store.list_users(establishment.id)
        )


async def own_establishment(uow: UnitOfWork, actor: Principal) -> Establishment:
    """The establishment the logged-in user works for (their home page names it)."""
    async with uow.reading():
        establishment = await uow.store(IdentityStore).get_establishment(actor.user.establishment_id)
    if establishment is None:
        raise NotFound()
    return establishment


async def list_teams(uow: UnitOfWork, actor: Principal) -> dict[UUID, str]:
    """Every hospital team, for the admin's convention picker."""
    policy.require(actor, Action.ADMIN_ESTABLISHMENTS)
    async with uow.reading():
        return await uow.store(IdentityStore).team_names()


async def create_establishment(
    uow: UnitOfWork,
    actor: Principal | None,
    kind: EstablishmentKind,
    name: str,
    finess: str | None,
    address: str,
    bed_count: int | None,
    now: datetime,
) -> Establishment:
    """Admins only (``actor`` None is the command line, run by the host's operator)."""
    policy.require_unless_operator(actor, Action.ADMIN_ESTABLISHMENTS)
    establishment = Establishment(uuid.uuid4(), kind, name.strip(), finess, address.strip(), bed_count)
    async with uow:
        await uow.store(IdentityStore).add_establishment(establishment, now)
        await audit(
            uow,
            now,
            "establishment.create",
            Outcome.SUCCESS,
            _who(actor),
            None,
            "establishment",
            establishment.id,
        )
        await uow.commit()
    return establishment


async def add_department(
    uow: UnitOfWork,
    actor: Principal | None,
    hospital_id: UUID,
    name: str,
    kind: DepartmentKind,
    now: datetime,
) -> Department:
    policy.require_unless_operator(actor, Action.ADMIN_ESTABLISHMENTS)
    if not name.strip():
        raise InvalidInput({"name": N_("Give the team's name.")})
    async with uow:
        store = uow.store(IdentityStore)
        hospital = await store.get_establishment(hospital_id)
        if hospital is None or hospital.kind is not EstablishmentKind.HOSPITAL:
            raise InvalidInput({"hospital_id": N_("Choose a hospital.")})
        department = Department(uuid.uuid4(), hospital_id, name.strip(), kind)
        await store.add_department(department)
        await audit(
            uow, now, "department.create", Outcome.SUCCESS, _who(actor), None, "department", department.id
        )
        await uow.commit()
    return department


async def add_convention(
    uow: UnitOfWork, actor: Principal | None, ehpad_id: UUID, department_id: UUID, now: datetime
) -> Convention:
    policy.require_unless_operator(actor, Action.ADMIN_ESTABLISHMENTS)
    async with uow:
        store = uow.store(IdentityStore)
        ehpad = await store.get_establishment(ehpad_id)
        if ehpad is None or ehpad.kind is not EstablishmentKind.EHPAD:
            raise InvalidInput({"ehpad_id": N_("Choose a care home.")})
        if await store.get_department(department_id) is None:
            raise InvalidInput({"department_id": N_("Choose a hospital team.")})
        if any(c.department_id == department_id for c in await store.list_conventions(ehpad_id)):
            raise InvalidInput(
                {"department_id": N_("This care home already has a convention with this team.")}
            )
        convention = Convention(uuid.uuid4(), ehpad_id, department_id, now)
        await store.add_convention(convention)
        await audit(
            uow, now, "convention.create", Outcome.SUCCESS, _who(actor), None, "convention", convention.id
        )
        await uow.commit()
    return convention


async def list_users(uow: UnitOfWork, actor: Principal) -> list[User]:
    policy.require(actor, Action.ADMIN_USERS)
    async with uow.reading():
        return await uow.store(IdentityStore).list_users()


async def create_user(
    uow: UnitOfWork, passwords: Passwords, actor: Principal | None, user: User, password: str, now: datetime
) -> User:
    """Admins only (``actor`` None is the command line). Raises UsernameTaken, InvalidInput."""
    policy.require_unless_operator(actor, Action.ADMIN_USERS)
    username = check_username(user.username)
    check_password_strength(password, username)
    password_hash = await passwords.hash(password)
    async with uow:
        store = uow.store(IdentityStore)
        establishment = await store.get_establishment(user.establishment_id)
        if establishment is None:
            raise InvalidInput({"establishment_id": N_("Choose an establishment.")})
        user = User(
            id=user.id,
            username=username,
            display_name=user.display_name.strip(),
            role=user.role,
            establishment_id=user.establishment_id,
            department_id=user.department_id,
            specialties=user.specialties,
            rpps=user.rpps,
            email=user.email,
        )
        check_new_user(user, establishment)
        if user.department_id is not None:
            department = await store.get_department(user.department_id)
            if department is None or department.hospital_id != establishment.id:
                raise InvalidInput({"department_id": N_("Choose a team of this person's hospital.")})
        await store.add_user(user, password_hash, now)
        await audit(uow, now, "account.create", Outcome.SUCCESS, _who(actor), None, "user", user.id)
        await uow.commit()
    return user


async def deactivate_user(uow: UnitOfWork, actor: Principal | None, user_id: UUID, now: datetime) -> User:
    """Admins only. The account can no longer log in and its open sessions are revoked at once."""
    policy.require_unless_operator(actor, Action.ADMIN_USERS)
    async with uow:
        store = uow.store(IdentityStore)
        target = await store.get_user(user_id)
        if target is None:
            raise NotFound()
        if actor is not None:
            check_deactivation(actor.user, target)
        await store.deactivate_user(user_id, now)
        await audit(uow, now, "account.deactivate", Outcome.SUCCESS, _who(actor), None, "user", user_id)
        await uow.commit()
    return target.deactivated()


@dataclass(frozen=True, slots=True)
class Names:
    """Who is who, for lists that show other people's actions (an audit trail): users by id, with their
    role, and establishments' names by id. No access check: the caller's use case has made it."""

    users: dict[UUID, User]
    establishments: dict[UUID, str]


async def names_of(uow: UnitOfWork, user_ids: set[UUID], establishment_ids: set[UUID]) -> Names:
    """The users and establishments named by ids, inside ``uow``'s open transaction (absent ids are
    left out: an account or establishment may since have been removed)."""
    store = uow.store(IdentityStore)
    found = await store.get_users(sorted(user_ids))
    return Names(
        users={user.id: user for user in found},
        establishments=await store.establishment_names(sorted(establishment_ids)),
    )


async def find_user(uow: UnitOfWork, username: str) -> User | None:
    """For the command line only (the operator of the host)."""
    async with uow.reading():
        return await uow.store(IdentityStore).get_user_by_username(normalise_username(username))

"""Small factories for test data: build what a test needs, through the real service functions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from teleconsult.db import UnitOfWork
from teleconsult.identity import service
from teleconsult.identity.model import (
    DepartmentKind,
    Establishment,
    EstablishmentKind,
    Role,
    Specialty,
    User,
)
from teleconsult.identity.passwords import Passwords

PASSWORD = "correct horse battery staple"

_counter = iter(range(1, 10**9))


def finess() -> str:
    return f"7899{next(_counter) % 100000:05d}"


async def make_establishment(
    new_uow: Callable[[], UnitOfWork],
    now: datetime,
    kind: EstablishmentKind = EstablishmentKind.EHPAD,
    name: str | None = None,
) -> Establishment:
    is_ehpad = kind is EstablishmentKind.EHPAD
    return await service.create_establishment(
        new_uow(),
        None,
        kind,
        name or f"{kind.value} {next(_counter)}",
        finess() if kind is not EstablishmentKind.AUTHORITY else None,
        "1 rue du Test, 78000 Versailles",
        80 if is_ehpad else None,
        now,
    )


async def make_user(
    new_uow: Callable[[], UnitOfWork],
    passwords: Passwords,
    now: datetime,
    role: Role,
    establishment: Establishment,
    username: str | None = None,
    password: str = PASSWORD,
    department_id: uuid.UUID | None = None,
    specialties: frozenset[Specialty] | None = None,
) -> User:
    if specialties is None:
        specialties = frozenset({Specialty.GERIATRIE}) if role is Role.EXPERT else frozenset()
    user = User(
        id=uuid.uuid4(),
        username=username or f"{role.value}.{next(_counter)}",
        display_name=f"Test {role.value.title()}",
        role=role,
        establishment_id=establishment.id,
        specialties=specialties,
        department_id=department_id,
    )
    return await service.create_user(new_uow(), passwords, None, user, password, now)


@dataclass
class Territory:
    """A hospital with a geriatric team, a care home under convention, an authority, one user per role."""

    hospital: Establishment
    ehpad: Establishment
    other_ehpad: Establishment
    authority: Establishment
    users: dict[Role, User]
    team_id: uuid.UUID


async def make_territory(new_uow: Callable[[], UnitOfWork], passwords: Passwords, now: datetime) -> Territory:
    hospital = await make_establishment(new_uow, now, EstablishmentKind.HOSPITAL, "Hôpital Test")
    ehpad = await make_establishment(new_uow, now, EstablishmentKind.EHPAD, "EHPAD Test")
    other = await make_establishment(new_uow, now, EstablishmentKind.EHPAD, "EHPAD Autre")
    authority = await make_establishment(new_uow, now, EstablishmentKind.AUTHORITY, "Coordination Test")
    team = await service.add_department(
        new_uow(), None, hospital.id, "Gériatrie", DepartmentKind.GERIATRIC_WARD, now
    )
    await service.add_convention(new_uow(), None, ehpad.id, team.id, now)
    homes = {
        Role.IDE: ehpad,
        Role.IDEC: ehpad,
        Role.MEDECIN_CO: ehpad,
        Role.EXPERT: hospital,
        Role.SECRETARIAT: hospital,
        Role.COORDINATEUR: authority,
        Role.ADMIN: hospital,
    }
    users = {
        role: await make_user(
            new_uow,
            passwords,
            now,
            role,
            home,
            username=f"{role.value}.test",
            department_id=team.id if role is Role.EXPERT else None,
        )
        for role, home in homes.items()
    }
    return Territory(hospital, ehpad, other, authority, users, team.id)

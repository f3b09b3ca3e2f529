"""The demo territory: 2 hospitals, 25 care homes and their staff, all clearly fictitious.

Modelled on DOMAIN.md's reference deployment (one hospital with a geriatric department and a mobile
geriatric team, 25 EHPAD around it). Names are invented; FINESS numbers use the 78 (Yvelines) prefix
with a '9' in third position so that they do not follow a real establishment's pattern.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from teleconsult.db import UnitOfWork
from teleconsult.identity import service
from teleconsult.identity.model import DepartmentKind, EstablishmentKind, Role, Specialty, User
from teleconsult.identity.passwords import Passwords
from teleconsult.identity.store import IdentityStore


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    display_name: str
    establishment: str


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("ide.demo", "demo-ide-2026", Role.IDE, "Camille Fictive", "EHPAD Les Tilleuls (démo)"),
    DemoAccount("idec.demo", "demo-idec-2026", Role.IDEC, "Sophie Exemple", "EHPAD Les Tilleuls (démo)"),
    DemoAccount(
        "medco.demo", "demo-medco-2026", Role.MEDECIN_CO, "Dr Paul Modèle", "EHPAD Les Tilleuls (démo)"
    ),
    DemoAccount(
        "geriatre.demo", "demo-expert-2026", Role.EXPERT, "Dr Anne Démo", "Hôpital de la Porte Fictive"
    ),
    DemoAccount(
        "secretariat.demo",
        "demo-secretariat-2026",
        Role.SECRETARIAT,
        "Julie Essai",
        "Hôpital de la Porte Fictive",
    ),
    DemoAccount(
        "coordination.demo",
        "demo-coordination-2026",
        Role.COORDINATEUR,
        "Marc Témoin",
        "Coordination territoriale (démo)",
    ),
    DemoAccount("admin.demo", "demo-admin-2026", Role.ADMIN, "Admin Démo", "Hôpital de la Porte Fictive"),
)

_EHPAD_NAMES = (
    "Les Tilleuls",
    "Les Glycines",
    "Le Clos Fleuri",
    "La Roseraie",
    "Les Marronniers",
    "Le Parc aux Cèdres",
    "Les Hortensias",
    "La Source",
    "Les Lilas",
    "Le Verger",
    "Les Charmilles",
    "La Closerie",
    "Les Peupliers",
    "Le Moulin Neuf",
    "Les Acacias",
    "La Colline",
    "Les Jardins d'Automne",
    "Le Val Doré",
    "Les Bruyères",
    "La Pommeraie",
    "Les Platanes",
    "Le Grand Chêne",
    "Les Myosotis",
    "La Prairie",
    "Les Saules",
)
#: The names the demo's care homes are created with (and found by, to give them residents).
DEMO_EHPAD_NAMES = tuple(f"EHPAD {name} (démo)" for name in _EHPAD_NAMES)
_TOWNS = (
    "Versailles",
    "Le Chesnay",
    "Viroflay",
    "Buc",
    "Jouy-en-Josas",
    "Vélizy",
    "Guyancourt",
    "Saint-Cyr-l'École",
    "Bois-d'Arcy",
    "Plaisir",
)
_FIRST = (
    "Claire",
    "Nadia",
    "Thomas",
    "Inès",
    "Hugo",
    "Léa",
    "Karim",
    "Emma",
    "Louis",
    "Sarah",
    "Yanis",
    "Chloé",
)
_LAST = ("Fictif", "Démo", "Exemple", "Essai", "Modèle", "Témoin", "Factice", "Specimen")


async def seed_demo(new_uow: Callable[[], UnitOfWork], passwords: Passwords, now: datetime) -> None:
    """Fill an empty, migrated database with the demo territory. Raises if it already holds accounts."""
    async with new_uow() as uow:
        if await uow.store(IdentityStore).count_users():
            raise RuntimeError("the database already holds accounts: use 'teleconsult demo --reset'")
    rng = random.Random(2026)  # noqa: S311 - fictitious names, not secrets
    mk = EstablishmentKind

    async def establishment(
        kind: EstablishmentKind, name: str, finess: str | None, address: str, beds: int | None
    ) -> uuid.UUID:
        created = await service.create_establishment(new_uow(), None, kind, name, finess, address, beds, now)
        return created.id

    porte = await establishment(
        mk.HOSPITAL, "Hôpital de la Porte Fictive", "789000017", "1 rue de l'Exemple, 78000 Versailles", None
    )
    mignon = await establishment(
        mk.HOSPITAL, "Hôpital Mignon-Démo", "789000025", "10 avenue du Modèle, 78150 Le Chesnay", None
    )
    territory = await establishment(
        mk.AUTHORITY,
        "Coordination territoriale (démo)",
        None,
        "Délégation départementale fictive, 78000 Versailles",
        None,
    )
    geriatrics = await service.add_department(
        new_uow(), None, porte, "Court séjour gériatrique", DepartmentKind.GERIATRIC_WARD, now
    )
    mobile = await service.add_department(
        new_uow(), None, porte, "Équipe mobile de gériatrie", DepartmentKind.MOBILE_GERIATRIC_TEAM, now
    )
    psycho = await service.add_department(
        new_uow(), None, mignon, "Unité de gérontopsychiatrie", DepartmentKind.PSYCHOGERIATRIC_UNIT, now
    )
    ehpads: list[uuid.UUID] = []
    for index, name in enumerate(DEMO_EHPAD_NAMES):
        town = _TOWNS[index % len(_TOWNS)]
        ehpad = await establishment(
            mk.EHPAD,
            name,
            f"7890{index + 1:04d}0",
            f"{index + 3} rue des Essais, {town}",
            rng.choice((64, 72, 80, 84, 96, 110)),
        )
        ehpads.append(ehpad)
        await service.add_convention(new_uow(), None, ehpad, geriatrics.id, now)
        await service.add_convention(new_uow(), None, ehpad, mobile.id, now)
        if index % 2 == 0:
            await service.add_convention(new_uow(), None, ehpad, psycho.id, now)

    homes = {
        "EHPAD Les Tilleuls (démo)": ehpads[0],
        "Hôpital de la Porte Fictive": porte,
        "Coordination territoriale (démo)": territory,
    }
    for account in DEMO_ACCOUNTS:
        expert = account.role is Role.EXPERT
        user = User(
            id=uuid.uuid4(),
            username=account.username,
            display_name=account.display_name,
            role=account.role,
            establishment_id=homes[account.establishment],
            department_id=geriatrics.id if expert else None,
            specialties=frozenset({Specialty.GERIATRIE, Specialty.PLAIES}) if expert else frozenset(),
            rpps="10000000001" if expert else None,
        )
        await service.create_user(new_uow(), passwords, None, user, account.password, now)

    # Everyone else gets an unusable password (nobody knows it): they populate lists, they do not log in.
    unusable = await passwords.hash(secrets.token_urlsafe(32))
    staff: list[tuple[User, str]] = []
    for index, ehpad in enumerate(ehpads):
        for role, suffix in ((Role.IDEC, ""), (Role.IDE, "a"), (Role.IDE, "b"), (Role.MEDECIN_CO, "")):
            username = f"{role.value}.{index + 1:02d}{suffix}"
            staff.append((_person(rng, role, ehpad, None, frozenset(), username), unusable))
    for department, specialties in (
        (geriatrics, {Specialty.GERIATRIE}),
        (mobile, {Specialty.GERIATRIE, Specialty.SOINS_PALLIATIFS}),
        (psycho, {Specialty.PSYCHOGERIATRIE}),
    ):
        for n in range(3):
            staff.append(
                (
                    _person(
                        rng,
                        Role.EXPERT,
                        department.hospital_id,
                        department.id,
                        frozenset(specialties),
                        f"expert.{department.kind.value[:6]}.{n + 1}",
                    ),
                    unusable,
                )
            )
    staff.append(
        (_person(rng, Role.SECRETARIAT, mignon, psycho.id, frozenset(), "secretariat.mignon"), unusable)
    )
    async with new_uow() as uow:
        store = uow.store(IdentityStore)
        for user, password_hash in staff:
            await store.add_user(user, password_hash, now)
        await uow.commit()


def _person(
    rng: random.Random,
    role: Role,
    establishment_id: uuid.UUID,
    department_id: uuid.UUID | None,
    specialties: frozenset[Specialty],
    username: str,
) -> User:
    prefix = "Dr " if role in (Role.EXPERT, Role.MEDECIN_CO) else ""
    return User(
        id=uuid.uuid4(),
        username=username.replace("_", "-"),
        display_name=f"{prefix}{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        role=role,
        establishment_id=establishment_id,
        department_id=department_id,
        specialties=specialties,
    )

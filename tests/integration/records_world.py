"""A small world for the records jobs (key rotation, retention): a real database, a real key file, a care
home with a nurse, and residents created through records.residents.service."""

from __future__ import annotations

import string
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from records.crypto import LocalKeyring, generate_key_file
from records.residents.fields import SealingKeys
from records.residents.model import IdentityStatus, IdentityTraits, Resident, ResidentDetails, Sex
from records.residents.service import create_resident
from teleconsult.clock import FixedClock
from teleconsult.db import UnitOfWork, create_engine, create_session_factory
from teleconsult.identity.model import EstablishmentKind, Role
from teleconsult.identity.passwords import Passwords
from teleconsult.identity.policy import Principal
from tests.factories import make_establishment, make_user


def letters(n: int) -> str:
    """A name part made of letters only (names refuse digits): 0 -> "A", 27 -> "BB"..."""
    out = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        out = string.ascii_uppercase[rest] + out
    return out


def details(birth_name: str) -> ResidentDetails:
    traits = IdentityTraits(
        birth_name=birth_name,
        first_names=("Jeanne",),
        sex=Sex.FEMALE,
        birth_date=date(1938, 4, 12),
        birth_place_code="78646",
    )
    return ResidentDetails(traits=traits, ins=None, identity_status=IdentityStatus.PROVISOIRE, room="12B")


@dataclass
class World:
    key_file: Path
    clock: FixedClock
    nurse: Principal
    new_uow: Callable[[], UnitOfWork]
    engine: AsyncEngine

    def keyring(self) -> LocalKeyring:
        """The key file as it is now."""
        return LocalKeyring.from_file(self.key_file)

    async def add_residents(self, keys: SealingKeys, count: int, prefix: str = "Resident") -> list[Resident]:
        return [
            await create_resident(
                self.new_uow(), keys, self.nurse, details(f"{prefix}{letters(i)}"), self.clock.now()
            )
            for i in range(count)
        ]


@asynccontextmanager
async def records_world(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[World]:
    engine = create_engine(db_url)
    sessions = create_session_factory(engine)
    passwords = Passwords(fast=True)
    try:
        key_file = tmp_path / "keys.json"
        generate_key_file(key_file)

        def new_uow() -> UnitOfWork:
            return UnitOfWork(sessions)

        ehpad = await make_establishment(new_uow, clock.now(), EstablishmentKind.EHPAD)
        nurse = await make_user(new_uow, passwords, clock.now(), Role.IDE, ehpad)
        yield World(key_file, clock, Principal(nurse, True), new_uow, engine)
    finally:
        passwords.close()
        await engine.dispose()

"""The demo's residents: about 60 fictitious residents per demo EHPAD, the same ones at every build.

Everything comes from one seeded random generator, so two builds on the same day give the same people
(ages are counted from the build day, so the birth dates follow it). Names are common French names drawn
at random, never a real person's combination on purpose; every INS is a test identity (OID
1.2.250.1.213.1.4.10, which can never designate a real person) whose NIR repeats the sex, the year and month
and the place of birth, with a valid key. Telephone numbers are in the ranges ARCEP keeps for fiction.

They are written through the residents service (sealed under one data key each, audited), in one batch per
care home so that ``teleconsult demo`` starts in a few seconds.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from records.residents.fields import SealingKeys
from records.residents.model import (
    OID_TEST_NIR,
    IdentityStatus,
    IdentityTraits,
    Ins,
    ResidentDetails,
    Sex,
    nir_key,
)
from records.residents.service import count_residents, import_residents
from teleconsult.db import UnitOfWork
from teleconsult.identity.model import EstablishmentKind
from teleconsult.identity.store import IdentityStore

RESIDENTS_PER_EHPAD = 60
SEED = 2026
MIN_AGE, MAX_AGE, USUAL_AGE = 70, 102, 88

_BIRTH_NAMES = (
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
    "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER", "MOREL",
    "GIRARD", "ANDRÉ", "LEFÈVRE", "MERCIER", "DUPONT", "LAMBERT", "BONNET", "FRANÇOIS", "LEGRAND", "GARNIER",
    "FAURE", "ROUSSEAU", "BLANC", "GUÉRIN", "HENRY", "ROUSSEL", "NICOLAS", "PERRIN", "MORIN", "MATHIEU",
    "CLÉMENT", "GAUTHIER", "DUMONT", "FONTAINE", "CHEVALIER", "ROBIN", "LE GALL", "LE GOFF", "DUPONT-MARTIN",
    "DE LA FONTAINE", "D'ALMEIDA", "SAINT-MARTIN", "LE BŒUF", "N'DIAYE", "KERGUÉLEN", "ÉTIENNE", "BRUNET",
    "BOYER", "PICARD", "RENAUD", "LEMAIRE", "COLIN", "VIDAL", "CARON", "MASSON", "DESCHAMPS", "AUBERT",
)  # fmt: skip
_WOMEN_FIRST = (
    "Jeanne", "Marie", "Simone", "Yvonne", "Germaine", "Suzanne", "Madeleine", "Marcelle", "Odette",
    "Paulette", "Denise", "Jacqueline", "Monique", "Colette", "Lucienne", "Renée", "Ginette", "Micheline",
    "Andrée", "Raymonde", "Josette", "Huguette", "Christiane", "Françoise", "Geneviève", "Nicole", "Éliane",
    "Thérèse", "Hélène", "Marie-Thérèse", "Anne-Marie", "Louise", "Lucie", "Yvette", "Bernadette",
)  # fmt: skip
_MEN_FIRST = (
    "Jean", "Pierre", "André", "Louis", "René", "Marcel", "Roger", "Georges", "Henri", "Robert", "Maurice",
    "Raymond", "Jacques", "Bernard", "Michel", "Claude", "Gérard", "Lucien", "Paul", "Roland", "Guy", "Yves",
    "Joseph", "Albert", "Fernand", "Gilbert", "Émile", "Gaston", "Jean-Pierre", "Jean-Claude", "François",
)  # fmt: skip
#: INSEE codes of birth communes (Corsica's 2A/2B and births abroad, 99 + country, included).
_BIRTH_PLACES = (
    "78646", "78158", "78686", "78117", "78322", "78640", "78297", "78545", "78073", "78490", "92073",
    "92012", "75115", "75114", "75118", "75111", "69123", "13055", "59350", "33063", "35238", "29019",
    "44109", "67482", "14118", "76540", "45234", "37261", "21231", "2A004", "2B033", "99127", "99134",
    "99139", "99350", "99352",
)  # fmt: skip
_RELATIONS = ("fille", "fils", "nièce", "neveu", "épouse", "époux", "petite-fille", "petit-fils")
_FICTION_PHONES = ("06 39 98", "01 99 00")  # ARCEP's numbers for works of fiction


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def _birth_date(rng: random.Random, today: date) -> date:
    age = min(MAX_AGE, int(rng.triangular(MIN_AGE, MAX_AGE + 1, USUAL_AGE)))
    # Born up to 364 days before the age-th birthday that is today or before: exactly ``age`` today.
    return _years_before(today, age) - timedelta(days=rng.randrange(365))


def _nir(sex: Sex, birth: date, place: str, order: int) -> str:
    first_13 = f"{1 if sex is Sex.MALE else 2}{birth.year % 100:02d}{birth.month:02d}{place}{order:03d}"
    return f"{first_13}{nir_key(first_13):02d}"


def _status(rng: random.Random) -> IdentityStatus:
    draw = rng.random()
    if draw < 0.8:
        return IdentityStatus.QUALIFIEE
    return IdentityStatus.PROVISOIRE if draw < 0.92 else IdentityStatus.VALIDEE


def demo_resident_details(
    rng: random.Random, count: int, today: date, taken_nirs: set[str]
) -> list[ResidentDetails]:
    """``count`` fictitious residents of one care home; ``taken_nirs`` (updated) keeps INS distinct."""
    physicians = [
        f"Dr {rng.choice(_WOMEN_FIRST + _MEN_FIRST)} {rng.choice(_BIRTH_NAMES).title()}" for _ in range(5)
    ]
    all_rooms = [f"{floor}{number:02d}" for floor in range(1, 2 + count // 30) for number in range(1, 31)]
    rooms = rng.sample(all_rooms, count)
    residents: list[ResidentDetails] = []
    for room in rooms:
        sex = Sex.FEMALE if rng.random() < 0.74 else Sex.MALE
        firsts = _WOMEN_FIRST if sex is Sex.FEMALE else _MEN_FIRST
        first_names = tuple(rng.sample(firsts, rng.choice((1, 2, 2, 3))))
        birth_name = rng.choice(_BIRTH_NAMES)
        used_name = None
        if sex is Sex.FEMALE and rng.random() < 0.6:
            used_name = rng.choice([name for name in _BIRTH_NAMES if name != birth_name])
        used_first_name = first_names[1] if len(first_names) > 1 and rng.random() < 0.1 else None
        birth = _birth_date(rng, today)
        place = rng.choice(_BIRTH_PLACES)
        status = _status(rng)
        ins = None
        if status is IdentityStatus.QUALIFIEE:
            nir = _nir(sex, birth, place, rng.randrange(1, 1000))
            while nir in taken_nirs:
                nir = _nir(sex, birth, place, rng.randrange(1, 1000))
            taken_nirs.add(nir)
            ins = Ins(nir, OID_TEST_NIR)
        relation = rng.choice(_RELATIONS)
        relative_first = rng.choice(_WOMEN_FIRST if relation in ("fille", "nièce", "épouse") else _MEN_FIRST)
        phone = f"{rng.choice(_FICTION_PHONES)} {rng.randrange(100):02d} {rng.randrange(100):02d}"
        residents.append(
            ResidentDetails(
                traits=IdentityTraits(
                    birth_name=birth_name,
                    first_names=first_names,
                    sex=sex,
                    birth_date=birth,
                    birth_place_code=place,
                    used_name=used_name,
                    used_first_name=used_first_name,
                ),
                ins=ins,
                identity_status=status,
                room=room,
                treating_physician=rng.choice(physicians),
                contact_person=f"{relative_first} {(used_name or birth_name).title()} ({relation}), {phone}",
            )
        )
    return residents


async def demo_ehpad_ids(new_uow: Callable[[], UnitOfWork], names: Sequence[str]) -> list[uuid.UUID]:
    """The ids of the demo care homes called ``names``, in that order (those that exist)."""
    async with new_uow().reading() as uow:
        found = await uow.store(IdentityStore).list_establishments(EstablishmentKind.EHPAD)
    by_name = {establishment.name: establishment.id for establishment in found}
    return [by_name[name] for name in names if name in by_name]


async def seed_demo_residents(
    new_uow: Callable[[], UnitOfWork],
    keys: SealingKeys,
    ehpad_ids: Sequence[uuid.UUID],
    now: datetime,
    per_ehpad: int = RESIDENTS_PER_EHPAD,
) -> int:
    """Add ``per_ehpad`` demo residents to each care home of ``ehpad_ids``, unless the database already
    holds residents (then nothing: the demo keeps what its users typed). Returns how many were added."""
    if await count_residents(new_uow()):
        return 0
    rng = random.Random(SEED)  # noqa: S311 - fictitious people, not secrets
    taken: set[str] = set()
    added = 0
    for ehpad_id in ehpad_ids:
        details = demo_resident_details(rng, per_ehpad, now.date(), taken)
        added += len(await import_residents(new_uow(), keys, None, ehpad_id, details, now))
    return added

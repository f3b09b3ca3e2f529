"""The demo's residents: valid identities by the model's own rules, test INS only, plausible ages."""

from __future__ import annotations

import random
from datetime import date

from records.residents.model import (
    OID_TEST_NIR,
    IdentityStatus,
    Sex,
    check_details,
    check_nir,
)
from teleconsult.demo_residents import demo_resident_details

TODAY = date(2026, 11, 23)


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def build(seed: int = 2026, count: int = 60, care_homes: int = 25) -> list[list[object]]:
    rng = random.Random(seed)
    taken: set[str] = set()
    return [list(demo_resident_details(rng, count, TODAY, taken)) for _ in range(care_homes)]


def test_every_demo_resident_passes_the_models_checks_and_its_ins_repeats_its_traits() -> None:
    rng = random.Random(2026)
    taken: set[str] = set()
    everyone = [d for _ in range(25) for d in demo_resident_details(rng, 60, TODAY, taken)]
    assert len(everyone) == 25 * 60
    for details in everyone:
        check_details(details, TODAY)  # raises InvalidInput on a wrong trait, key, sex, year or month
        traits = details.traits
        assert 70 <= age_on(traits.birth_date, TODAY) <= 102
        if details.ins is not None:
            nir = details.ins.matricule
            assert check_nir(nir) == nir
            assert nir[0] == ("1" if traits.sex is Sex.MALE else "2")
            assert nir[1:5] == traits.birth_date.strftime("%y%m")
            assert nir[5:10] == traits.birth_place_code


def test_demo_ins_are_distinct_and_all_in_the_test_oid() -> None:
    rng = random.Random(2026)
    taken: set[str] = set()
    everyone = [d for _ in range(25) for d in demo_resident_details(rng, 60, TODAY, taken)]
    ins = [d.ins for d in everyone if d.ins is not None]
    assert {i.oid for i in ins} == {OID_TEST_NIR}
    assert len({i.matricule for i in ins}) == len(ins) == len(taken)


def test_demo_statuses_are_mostly_qualified_with_some_provisional_and_validated() -> None:
    statuses = [d.identity_status for d in demo_resident_details(random.Random(2026), 600, TODAY, set())]
    qualified = statuses.count(IdentityStatus.QUALIFIEE)
    assert qualified > len(statuses) * 0.7
    assert IdentityStatus.PROVISOIRE in statuses and IdentityStatus.VALIDEE in statuses
    assert IdentityStatus.RECUPEREE not in statuses


def test_demo_residents_have_distinct_rooms_a_physician_and_a_contact_in_each_care_home() -> None:
    residents = demo_resident_details(random.Random(7), 60, TODAY, set())
    rooms = [d.room for d in residents]
    assert None not in rooms and len(set(rooms)) == 60
    assert all(d.treating_physician and d.treating_physician.startswith("Dr ") for d in residents)
    assert all(
        d.contact_person and ("06 39 98" in d.contact_person or "01 99 00" in d.contact_person)
        for d in residents
    )


def test_the_same_seed_gives_the_same_residents() -> None:
    first = demo_resident_details(random.Random(2026), 60, TODAY, set())
    again = demo_resident_details(random.Random(2026), 60, TODAY, set())
    assert first == again
    assert first != demo_resident_details(random.Random(2027), 60, TODAY, set())

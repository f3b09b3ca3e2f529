"""INS and identity rules of the residents registry."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records.residents.model import (
    OID_TEST_NIR,
    IdentityStatus,
    IdentityTraits,
    Ins,
    Sex,
    check_ins_matches_traits,
    check_nir,
    check_traits,
    nir_key,
)
from teleconsult.errors import InvalidInput

TODAY = date(2026, 11, 23)


def test_the_published_example_nir_has_a_valid_key() -> None:
    # The example of the French Wikipedia article on the NIR: 2 55 08 14 168 025, key 38.
    assert check_nir("2 55 08 14 168 025 38") == "255081416802538"


def test_a_wrong_key_is_refused_with_a_message_about_the_key() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_nir("255081416802539")
    assert "key" in caught.value.fields["ins"]


@pytest.mark.parametrize("raw", ["", "12345", "955081416802538", "2550814168025381", "25508AB16802538"])
def test_malformed_nirs_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        check_nir(raw)


def test_corsican_departments_use_19_and_18_for_the_key() -> None:
    assert nir_key("185052A123456") == 97 - 1850519123456 % 97
    assert nir_key("185052B123456") == 97 - 1850518123456 % 97
    body = "185052B123456"
    assert check_nir(f"{body}{nir_key(body):02d}").startswith("18505")


@given(st.integers(min_value=10**12, max_value=2 * 10**12 - 1))
def test_any_single_digit_typo_changes_the_key(number: int) -> None:
    body = str(number)
    key = nir_key(body)
    for position in range(13):
        for digit in "0123456789":
            if digit != body[position]:
                typo = body[:position] + digit + body[position + 1 :]
                assert nir_key(typo) != key


def test_test_identities_are_marked_by_their_oid() -> None:
    assert Ins.parse("255081416802538", OID_TEST_NIR).is_test
    with pytest.raises(InvalidInput):
        Ins.parse("255081416802538", "1.2.3")


def test_only_a_qualified_identity_may_use_its_ins() -> None:
    assert [s for s in IdentityStatus if s.may_use_ins] == [IdentityStatus.QUALIFIEE]


def traits(**changes: object) -> IdentityTraits:
    fields: dict[str, object] = {
        "birth_name": "EXEMPLE",
        "first_names": ("Jeanne", "Marie"),
        "sex": Sex.FEMALE,
        "birth_date": date(1955, 8, 3),
        "birth_place_code": "14168",
    }
    fields.update(changes)
    return IdentityTraits(**fields)  # type: ignore[arg-type]


def test_traits_of_a_plausible_resident_pass() -> None:
    check_traits(traits(), TODAY)
    check_ins_matches_traits(Ins.parse("255081416802538", OID_TEST_NIR), traits())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"birth_name": " "}, "birth_name"),
        ({"first_names": ()}, "first_names"),
        ({"birth_date": date(2027, 1, 1)}, "birth_date"),
        ({"birth_date": date(1890, 1, 1)}, "birth_date"),
        ({"birth_place_code": "1416"}, "birth_place_code"),
    ],
)
def test_implausible_traits_are_refused_field_by_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_traits(traits(**changes), TODAY)
    assert field in caught.value.fields


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sex": Sex.MALE}, "sex"),
        ({"birth_date": date(1956, 8, 3)}, "birth_date"),
        ({"birth_date": date(1955, 9, 3)}, "birth_date"),
    ],
)
def test_an_ins_that_contradicts_the_traits_is_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_ins_matches_traits(Ins.parse("255081416802538", OID_TEST_NIR), traits(**changes))
    assert field in caught.value.fields

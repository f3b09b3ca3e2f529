"""records.residents.fields: the batched blind indexes of name tokens are the token-by-token ones."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from records.crypto import DataKey, IntegrityError, aead
from records.residents.fields import (
    SEALED_COLUMNS,
    name_token_indexes,
    open_details,
    record_ref,
    seal_details,
    token_index,
)
from records.residents.model import IdentityStatus, IdentityTraits, Ins, ResidentDetails, Sex, name_tokens

INDEX_KEY = bytes(range(7, 39))
EHPAD = uuid.UUID("0a0b0c0d-0000-4000-8000-000000000001")
TRAITS = IdentityTraits(
    birth_name="Le Bœuf-Martin",
    first_names=("Jeanne", "Marie"),
    sex=Sex.FEMALE,
    birth_date=date(1938, 4, 12),
    birth_place_code="78646",
    used_name="Dupont",
)


def test_name_token_indexes_are_the_index_of_each_name_token_scoped_to_the_ehpad() -> None:
    expected = {token_index(INDEX_KEY, EHPAD, token) for token in name_tokens(TRAITS)}
    assert name_token_indexes(INDEX_KEY, EHPAD, TRAITS) == expected
    assert len(expected) == len(name_tokens(TRAITS))
    assert name_token_indexes(INDEX_KEY, uuid.uuid4(), TRAITS).isdisjoint(expected)


def test_details_sealed_with_a_record_ref_open_with_it_and_only_with_it() -> None:
    dek = DataKey(aead.new_key())
    resident_id = uuid.uuid4()
    details = ResidentDetails(
        traits=TRAITS,
        ins=Ins("238047864612345", "1.2.250.1.213.1.4.10"),
        identity_status=IdentityStatus.QUALIFIEE,
    )
    ref = record_ref(resident_id, EHPAD)
    sealed = seal_details(dek, ref, details)
    assert set(sealed) == set(SEALED_COLUMNS)
    assert open_details(dek, ref, sealed, IdentityStatus.QUALIFIEE) == details
    with pytest.raises(IntegrityError):
        open_details(dek, record_ref(uuid.uuid4(), EHPAD), sealed, IdentityStatus.QUALIFIEE)

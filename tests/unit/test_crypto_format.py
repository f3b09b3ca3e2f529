"""The stored formats of records.crypto do not change when its code is made faster: ciphertexts, wrapped
keys and blind indexes written by the first version (the hex below, made before the per-record batching
of seal_fields/open_fields and the cached cipher set-ups) still open, and the same inputs give the same
bytes. The batch functions are exactly the per-field ones, place binding included."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest

from records.crypto import (
    DataKey,
    IntegrityError,
    Kek,
    LocalKeyring,
    Place,
    RecordRef,
    WrappedKey,
    aead,
    blind_index,
    open_data_key,
    open_fields,
    open_sealed,
    seal,
    seal_fields,
)

KEY = bytes(range(32))
NONCE = bytes(range(100, 112))
RECORD = RecordRef(
    "residents", "6f1c2e0a-3b1d-4c5e-9f00-1234567890ab", "0a0b0c0d-0000-4000-8000-000000000001"
)
KEYRING = LocalKeyring(
    [Kek("kek1", 1, bytes(range(50, 82)), datetime(2026, 1, 1, tzinfo=UTC))], "kek1", bytes(range(7, 39))
)
# Written by records.crypto before this change (commit eee6442), with the nonce above.
SEALED_V1 = bytes.fromhex(
    "e5016465666768696a6b6c6d6e6f0c4e8e2937bd76d35f10368d350d8d1d33924ece2507606a5f4f0623"
)
WRAPPED_V1 = bytes.fromhex(
    "eb01046b656b316465666768696a6b6c6d6e6fe13b14b33aa5012c1a8184c9a90067238849febc485c61168f1882a1a9811e"
    "dbf3581ea74c049d193933f28c8a68dbb3"
)
INDEX_V1 = "6a03496ec50d8c486742f40a900d6699f80cc127bfc1c6acdf00607c5ed3458c"


def test_a_field_sealed_by_the_first_version_opens_and_is_sealed_to_the_same_bytes() -> None:
    dek = DataKey(KEY)
    place = RECORD.place("birth_name")
    assert open_sealed(dek, SEALED_V1, place) == b"DUPONT Marie"
    assert open_fields(dek, RECORD, {"birth_name": SEALED_V1}) == {"birth_name": b"DUPONT Marie"}
    with mock.patch.object(aead, "new_nonce", return_value=NONCE):
        assert seal(dek, b"DUPONT Marie", place) == SEALED_V1
    with mock.patch.object(aead, "new_nonces", return_value=[NONCE]):
        assert seal_fields(dek, RECORD, {"birth_name": b"DUPONT Marie"}) == {"birth_name": SEALED_V1}


def test_a_key_wrapped_by_the_first_version_unwraps_and_is_wrapped_to_the_same_bytes() -> None:
    wrapped = WrappedKey.from_bytes(WRAPPED_V1)
    assert open_data_key(KEYRING, wrapped, RECORD).key == KEY
    with mock.patch.object(aead, "new_nonce", return_value=NONCE):
        assert KEYRING.wrap(KEY, RECORD.context()).to_bytes() == WRAPPED_V1


def test_blind_indexes_are_unchanged() -> None:
    assert blind_index(bytes(range(7, 39)), "name-token", "0a0b|W:DUPONT") == INDEX_V1


def test_place_encoding_is_the_framed_tuple() -> None:
    place = Place("residents", "room", "r", "e")
    expected = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (b"teleconsult.place.v1", b"residents", b"room", b"r", b"e")
    )
    assert place.encode() == expected


def test_batch_sealing_matches_field_by_field_and_binds_each_value_to_its_column() -> None:
    dek = DataKey(KEY)
    values = {"birth_name": b"DUPONT", "room": b"12", "used_name": b""}
    sealed = seal_fields(dek, RECORD, values)
    assert len({blob[2:14] for blob in sealed.values()}) == 3  # a nonce of its own for each field
    for column, blob in sealed.items():
        assert open_sealed(dek, blob, RECORD.place(column)) == values[column]
    assert open_fields(dek, RECORD, sealed) == values
    swapped = {**sealed, "birth_name": sealed["room"]}
    with pytest.raises(IntegrityError):
        open_fields(dek, RECORD, swapped)
    elsewhere = RecordRef(RECORD.table, RECORD.record_id, "another-ehpad")
    with pytest.raises(IntegrityError):
        open_fields(dek, elsewhere, sealed)
    with pytest.raises(IntegrityError):
        open_fields(DataKey(bytes(32)), RECORD, sealed)

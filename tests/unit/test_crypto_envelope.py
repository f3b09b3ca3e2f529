"""records.crypto.envelope: sealed fields bound to their place, per-record data keys, rewrap, blind index."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records.crypto import aead
from records.crypto.envelope import (
    OVERHEAD,
    DataKey,
    Place,
    RecordRef,
    blind_index,
    new_data_key,
    open_data_key,
    open_sealed,
    rewrap,
    seal,
)
from records.crypto.errors import IntegrityError, MalformedCiphertext, UnknownKey
from records.crypto.keyring import LocalKeyring

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
KEYRING = LocalKeyring.generate(now=NOW)
RESIDENT = RecordRef("residents", "8d0b7c1e-0000-4000-8000-000000000001", "ehpad-les-tilleuls")
PLACE = RESIDENT.place("birth_name")
DEK = DataKey(aead.new_key())

texts = st.text(max_size=20)
places = st.builds(Place, texts, texts, texts, texts)


@given(plaintext=st.binary(max_size=1024), place=places)
def test_open_returns_what_was_sealed(plaintext: bytes, place: Place) -> None:
    blob = seal(DEK, plaintext, place)
    assert len(blob) == len(plaintext) + OVERHEAD
    assert open_sealed(DEK, blob, place) == plaintext


def test_sealing_twice_gives_two_different_ciphertexts() -> None:
    assert seal(DEK, b"DUPONT", PLACE) != seal(DEK, b"DUPONT", PLACE)


@given(plaintext=st.binary(min_size=0, max_size=64), data=st.data())
def test_any_single_bit_flip_anywhere_raises_and_never_returns_data(
    plaintext: bytes, data: st.DataObject
) -> None:
    blob = bytearray(seal(DEK, plaintext, PLACE))
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1))
    blob[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((IntegrityError, MalformedCiphertext)):
        open_sealed(DEK, bytes(blob), PLACE)


@given(field_name=st.sampled_from(["table", "column", "record_id", "establishment_id"]), other=texts)
def test_a_ciphertext_read_at_another_place_raises_integrity_error(field_name: str, other: str) -> None:
    moved = dataclasses.replace(PLACE, **{field_name: other})
    if moved == PLACE:
        return
    with pytest.raises(IntegrityError):
        open_sealed(DEK, seal(DEK, b"1 23 45 67 890 123", PLACE), moved)


def test_place_encoding_is_unambiguous_where_plain_concatenation_would_not_be() -> None:
    assert Place("ab", "c", "1", "e").encode() != Place("a", "bc", "1", "e").encode()
    assert Place("a", "", "1", "e").encode() != Place("", "a", "1", "e").encode()


def test_another_records_data_key_cannot_open_the_field() -> None:
    with pytest.raises(IntegrityError):
        open_sealed(DataKey(aead.new_key()), seal(DEK, b"x", PLACE), PLACE)


@pytest.mark.parametrize(
    "blob", [b"", b"\xe5\x01" + b"\x00" * 27, b"\x00\x01" + b"\x00" * 40, b"\xe5\x02" + b"\x00" * 40]
)
def test_truncated_or_unknown_format_blobs_are_malformed(blob: bytes) -> None:
    with pytest.raises(MalformedCiphertext):
        open_sealed(DEK, blob, PLACE)


def test_each_record_gets_its_own_data_key_wrapped_by_the_current_kek() -> None:
    dek, wrapped = new_data_key(KEYRING, RESIDENT)
    other, _ = new_data_key(KEYRING, RESIDENT)
    assert dek != other
    assert wrapped.kek_id == KEYRING.current_kek_id()
    assert open_data_key(KEYRING, wrapped, RESIDENT) == dek


def test_a_wrapped_key_copied_to_another_record_raises_integrity_error() -> None:
    _, wrapped = new_data_key(KEYRING, RESIDENT)
    with pytest.raises(IntegrityError):
        open_data_key(KEYRING, wrapped, dataclasses.replace(RESIDENT, record_id="another"))


def test_rewrap_moves_a_data_key_to_the_new_kek_and_the_field_still_opens() -> None:
    dek, wrapped = new_data_key(KEYRING, RESIDENT)
    blob = seal(dek, b"MARTIN", PLACE)
    rotated = KEYRING.rotated(now=NOW)
    moved = rewrap(rotated, wrapped, RESIDENT)
    assert moved.kek_id == rotated.current_kek_id() != wrapped.kek_id
    assert open_sealed(open_data_key(rotated, moved, RESIDENT), blob, PLACE) == b"MARTIN"
    assert rewrap(rotated, moved, RESIDENT) is moved  # already current: nothing to do, resumable


def test_an_unknown_kek_id_raises_unknown_key() -> None:
    _, wrapped = new_data_key(LocalKeyring.generate(now=NOW), RESIDENT)
    with pytest.raises(UnknownKey):
        open_data_key(KEYRING, wrapped, RESIDENT)
    with pytest.raises(UnknownKey):
        rewrap(KEYRING, wrapped, RESIDENT)


@given(purpose=st.text(min_size=1, max_size=20), value=st.text(max_size=40))
def test_blind_index_is_deterministic_hex(purpose: str, value: str) -> None:
    index = blind_index(KEYRING.index_key, purpose, value)
    assert index == blind_index(KEYRING.index_key, purpose, value)
    assert len(index) == 64
    assert int(index, 16) >= 0


@given(value=st.text(max_size=40))
def test_blind_index_differs_between_purposes_and_index_keys(value: str) -> None:
    other_key = LocalKeyring.generate(now=NOW).index_key
    assert blind_index(KEYRING.index_key, "ins", value) != blind_index(KEYRING.index_key, "name-token", value)
    assert blind_index(KEYRING.index_key, "ins", value) != blind_index(other_key, "ins", value)


def test_blind_index_frames_purpose_and_value_so_they_cannot_trade_characters() -> None:
    key = KEYRING.index_key
    assert blind_index(key, "name-token", "x") != blind_index(key, "name-tokenx", "")


def test_blind_index_needs_a_32_byte_key_and_a_purpose() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        blind_index(b"short", "ins", "1")
    with pytest.raises(ValueError, match="purpose"):
        blind_index(KEYRING.index_key, "", "1")


def test_data_keys_are_256_bits_and_never_shown() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey(b"k" * 16)
    assert DEK.key.hex() not in repr(DEK) and repr(DEK.key) not in repr(DEK)

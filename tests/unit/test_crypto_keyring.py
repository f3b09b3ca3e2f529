"""records.crypto.keyring and keyfile: wrapping, rotation, unknown keys, key files on disk."""

from __future__ import annotations

import base64
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records.crypto import aead
from records.crypto.errors import IntegrityError, KeyFileError, MalformedCiphertext, UnknownKey
from records.crypto.keyfile import generate_key_file, rotate_key_file, status
from records.crypto.keyring import Kek, LocalKeyring, WrappedKey

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
KEYRING = LocalKeyring.generate(now=NOW)


@given(dek=st.binary(min_size=32, max_size=32), context=st.binary(max_size=64))
def test_unwrap_returns_the_wrapped_data_key(dek: bytes, context: bytes) -> None:
    wrapped = KEYRING.wrap(dek, context)
    assert wrapped.kek_id == KEYRING.current_kek_id()
    assert KEYRING.unwrap(wrapped, context) == dek
    assert WrappedKey.from_bytes(wrapped.to_bytes()) == wrapped


def test_unwrap_with_another_context_raises_integrity_error() -> None:
    wrapped = KEYRING.wrap(aead.new_key(), b"resident 1")
    with pytest.raises(IntegrityError):
        KEYRING.unwrap(wrapped, b"resident 2")


def test_two_wraps_of_one_key_differ_because_each_draws_a_fresh_nonce() -> None:
    dek = aead.new_key()
    assert KEYRING.wrap(dek, b"c").blob != KEYRING.wrap(dek, b"c").blob


def test_a_kek_id_the_keyring_does_not_hold_raises_unknown_key() -> None:
    wrapped = LocalKeyring.generate(now=NOW).wrap(aead.new_key(), b"c")
    with pytest.raises(UnknownKey):
        KEYRING.unwrap(wrapped, b"c")


@pytest.mark.parametrize("data", [b"", b"\xeb", b"\x00\x01\x02abc", b"\xeb\x01\x05ab"])
def test_stored_wrapped_keys_that_are_not_well_formed_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedCiphertext):
        WrappedKey.from_bytes(data)


def test_rotation_makes_a_new_current_kek_and_keeps_unwrapping_with_the_old_one() -> None:
    dek = aead.new_key()
    wrapped = KEYRING.wrap(dek, b"c")
    rotated = KEYRING.rotated(now=NOW)
    assert rotated.current_kek_id() != KEYRING.current_kek_id()
    assert [k.version for k in rotated.status().keks] == [1, 2]
    assert rotated.unwrap(wrapped, b"c") == dek
    assert rotated.index_key == KEYRING.index_key


def test_keyring_round_trips_through_its_json_form_as_from_the_environment() -> None:
    again = LocalKeyring.from_json(KEYRING.to_bytes().decode())
    assert again.status() == KEYRING.status()
    assert again.index_key == KEYRING.index_key
    assert again.unwrap(KEYRING.wrap(b"k" * 32, b"c"), b"c") == b"k" * 32


def test_repr_and_status_never_show_key_material() -> None:
    document = json.loads(KEYRING.to_bytes())
    keys = [base64.b64decode(document["index_key"]), *(base64.b64decode(k["key"]) for k in document["keks"])]
    kek = Kek("a1", 1, keys[1], NOW)
    shown = repr(KEYRING) + repr(KEYRING.status()) + repr(kek)
    assert not any(
        form in shown for key in keys for form in (key.hex(), repr(key), base64.b64encode(key).decode())
    )


def test_generated_key_file_has_mode_0600_and_the_documented_fields(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    generated = generate_key_file(path, now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["format"] == 1
    assert document["current"] == generated.current_id == document["keks"][0]["id"]
    assert document["keks"][0]["version"] == 1
    assert document["keks"][0]["created"] == "2025-06-01T09:00:00+00:00"
    assert len(LocalKeyring.from_file(path).index_key) == 32
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_generate_refuses_to_overwrite_an_existing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    generate_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="existe déjà"):
        generate_key_file(path)
    assert path.read_bytes() == before


def test_unwrap_after_rotate_key_file_still_works_for_keys_wrapped_by_the_old_kek(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = generate_key_file(path, now=NOW)
    dek = aead.new_key()
    wrapped = LocalKeyring.from_file(path).wrap(dek, b"resident 7")
    after = rotate_key_file(path, now=NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert after.current_id != first.current_id
    assert (after.count, [k.is_current for k in after.keks]) == (2, [False, True])
    assert status(path) == after
    assert LocalKeyring.from_file(path).unwrap(wrapped, b"resident 7") == dek


def test_demo_key_files_say_so_and_keep_saying_so_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert generate_key_file(path, demo=True).is_demo
    assert rotate_key_file(path).is_demo
    assert not KEYRING.is_demo


def test_a_missing_key_file_is_a_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        status(tmp_path / "absent.json")
    with pytest.raises(KeyFileError):
        generate_key_file(tmp_path / "no-such-dir" / "keys.json")


def _document() -> dict[str, object]:
    return json.loads(KEYRING.rotated(now=NOW).to_bytes())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(format=2),
        lambda d: d.update(current="nope"),
        lambda d: d.update(index_key="c2hvcnQ="),
        lambda d: d.update(index_key=d["keks"][0]["key"]),
        lambda d: d["keks"][1].update(version=1),
        lambda d: d["keks"][1].update(version="2"),
        lambda d: d["keks"][1].update(id=d["keks"][0]["id"]),
        lambda d: d["keks"][1].update(id="spaces not allowed"),
        lambda d: d["keks"][0].update(key="not base64!"),
        lambda d: d["keks"][0].update(created="2025-06-01T09:00:00"),
        lambda d: d.pop("keks"),
    ],
)
def test_key_files_with_a_wrong_field_are_refused(change: object) -> None:
    document = _document()
    change(document)  # type: ignore[operator]
    with pytest.raises(KeyFileError):
        LocalKeyring.from_json(json.dumps(document))


def test_a_key_file_that_is_not_json_is_refused() -> None:
    with pytest.raises(KeyFileError):
        LocalKeyring.from_bytes(b"\xff{not json")

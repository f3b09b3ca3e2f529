"""records.blobs.store.LocalBlobStore on real files: atomic writes, sharding, ids, ranges, tampering."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from records.blobs.errors import BlobExists, BlobNotFound, InvalidBlobId
from records.blobs.store import BlobStore, LocalBlobStore
from records.blobs.stream import HEADER_SIZE, ciphertext_length
from records.crypto import aead
from records.crypto.envelope import DataKey, RecordRef
from records.crypto.errors import IntegrityError, MalformedCiphertext

DEK = DataKey(aead.new_key())
PLACE = RecordRef("documents", "0b1f5c2e-0000-4000-8000-000000000002", "ehpad-les-tilleuls").place("content")
SEGMENT = 1024


class SourceFailed(RuntimeError):
    """Raised by a test's chunk source half-way through a write."""


def content(size: int) -> bytes:
    return bytes(i * 13 % 256 for i in range(size))


def chunks(data: bytes, step: int = 700) -> Iterator[bytes]:
    for offset in range(0, len(data), step):
        yield data[offset : offset + step]


def every_file(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", segment_size=SEGMENT)


def test_a_stored_blob_reads_back_with_its_length_and_hash(store: LocalBlobStore) -> None:
    blob_id, data = uuid.uuid4(), content(5 * SEGMENT + 17)
    protocol: BlobStore = store
    info = protocol.put(blob_id, DEK, PLACE, chunks(data))
    assert info.length == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert (
        info.ciphertext_length
        == ciphertext_length(len(data), SEGMENT)
        == store.path_of(blob_id).stat().st_size
    )
    assert protocol.exists(blob_id)
    assert b"".join(protocol.open(blob_id, DEK, PLACE)) == data


def test_files_are_sharded_by_the_ids_first_hex_digits_and_private(store: LocalBlobStore) -> None:
    blob_id = uuid.UUID("abcdef01-2345-4678-89ab-cdef01234567")
    store.put(blob_id, DEK, PLACE, [b"photo"])
    path = store.root / "ab" / "cd" / str(blob_id)
    assert every_file(store.root) == [path]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_disk_holds_no_plaintext(store: LocalBlobStore) -> None:
    canary = b"DUPONT Jeanne 2 45 03 75 123 456 78 " * 100
    store.put(uuid.uuid4(), DEK, PLACE, [canary])
    for path in every_file(store.root):
        assert b"DUPONT" not in path.read_bytes()


def test_a_source_failing_midway_leaves_nothing_on_disk(store: LocalBlobStore) -> None:
    blob_id = uuid.uuid4()

    def failing() -> Iterator[bytes]:
        yield content(3 * SEGMENT)
        raise SourceFailed

    with pytest.raises(SourceFailed):
        store.put(blob_id, DEK, PLACE, failing())
    assert not store.exists(blob_id)
    assert every_file(store.root) == []


def test_a_failed_write_leaves_an_existing_blob_of_the_store_untouched(store: LocalBlobStore) -> None:
    kept, data = uuid.uuid4(), content(2 * SEGMENT)
    store.put(kept, DEK, PLACE, [data])

    def failing() -> Iterator[bytes]:
        yield b"x"
        raise SourceFailed

    with pytest.raises(SourceFailed):
        store.put(uuid.uuid4(), DEK, PLACE, failing())
    assert every_file(store.root) == [store.path_of(kept)]
    assert b"".join(store.open(kept, DEK, PLACE)) == data


def test_blobs_are_written_once(store: LocalBlobStore) -> None:
    blob_id = uuid.uuid4()
    store.put(blob_id, DEK, PLACE, [b"first"])
    with pytest.raises(BlobExists):
        store.put(blob_id, DEK, PLACE, [b"second"])
    assert b"".join(store.open(blob_id, DEK, PLACE)) == b"first"


@pytest.mark.parametrize(
    "bad_id",
    [
        "../../etc/passwd",
        "ab/../../x",
        "/etc/passwd",
        "",
        "ABCDEF01-2345-4678-89AB-CDEF01234567",
        "{abcdef01-2345-4678-89ab-cdef01234567}",
        "abcdef0123454678 89abcdef01234567",
        "urn:uuid:abcdef01-2345-4678-89ab-cdef01234567",
    ],
)
def test_ids_that_are_not_canonical_uuids_are_refused(store: LocalBlobStore, bad_id: str) -> None:
    with pytest.raises(InvalidBlobId):
        store.put(bad_id, DEK, PLACE, [b"x"])
    with pytest.raises(InvalidBlobId):
        store.open(bad_id, DEK, PLACE)
    with pytest.raises(InvalidBlobId):
        store.delete(bad_id)
    with pytest.raises(InvalidBlobId):
        store.exists(bad_id)
    assert not store.root.exists() or every_file(store.root) == []


def test_a_canonical_string_id_names_the_same_blob_as_its_uuid(store: LocalBlobStore) -> None:
    blob_id = uuid.uuid4()
    store.put(str(blob_id), DEK, PLACE, [b"x"])
    assert store.exists(blob_id)


def test_delete_removes_the_file_and_says_whether_it_existed(store: LocalBlobStore) -> None:
    blob_id = uuid.uuid4()
    store.put(blob_id, DEK, PLACE, [b"x"])
    assert store.delete(blob_id) is True
    assert not store.exists(blob_id)
    assert store.delete(blob_id) is False
    with pytest.raises(BlobNotFound):
        store.open(blob_id, DEK, PLACE)
    with pytest.raises(BlobNotFound):
        store.read_range(blob_id, DEK, PLACE, 0, 1)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (0, 1),
        (SEGMENT - 1, SEGMENT + 1),
        (2 * SEGMENT, 3 * SEGMENT),
        (100, 10_000),
        (4 * SEGMENT, 4 * SEGMENT),
    ],
)
def test_range_reads_equal_slices_of_the_plaintext(store: LocalBlobStore, start: int, end: int) -> None:
    blob_id, data = uuid.uuid4(), content(4 * SEGMENT + 100)
    store.put(blob_id, DEK, PLACE, chunks(data))
    assert b"".join(store.read_range(blob_id, DEK, PLACE, start, end)) == data[start:end]


def test_a_tampered_file_is_an_integrity_error(store: LocalBlobStore) -> None:
    blob_id = uuid.uuid4()
    store.put(blob_id, DEK, PLACE, [content(3 * SEGMENT)])
    path = store.path_of(blob_id)
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + SEGMENT + 50] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        b"".join(store.open(blob_id, DEK, PLACE))
    with pytest.raises(IntegrityError):
        b"".join(store.read_range(blob_id, DEK, PLACE, SEGMENT, SEGMENT + 1))


def test_a_truncated_file_is_detected(store: LocalBlobStore) -> None:
    blob_id = uuid.uuid4()
    store.put(blob_id, DEK, PLACE, [content(3 * SEGMENT)])
    path = store.path_of(blob_id)
    with path.open("r+b") as file:
        file.truncate(HEADER_SIZE + 2 * (SEGMENT + aead.TAG_SIZE))
    with pytest.raises(IntegrityError):
        b"".join(store.open(blob_id, DEK, PLACE))
    os.truncate(path, 5)
    with pytest.raises(MalformedCiphertext):
        b"".join(store.open(blob_id, DEK, PLACE))


def test_a_blob_copied_to_another_place_does_not_open(store: LocalBlobStore) -> None:
    blob_id = uuid.uuid4()
    store.put(blob_id, DEK, PLACE, [b"compte-rendu"])
    elsewhere = RecordRef("documents", str(uuid.uuid4()), "ehpad-les-tilleuls").place("content")
    with pytest.raises(IntegrityError):
        b"".join(store.open(blob_id, DEK, elsewhere))

"""records.blobs.stream: segmented blob encryption; round trips, tampering of every kind, ranges, memory."""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from records.blobs.stream import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    Decryptor,
    Encryptor,
    ciphertext_length,
    decrypt,
    decrypt_async,
    decrypt_range,
    encrypt,
    encrypt_async,
    read_at_bytes,
)
from records.crypto import aead
from records.crypto.envelope import DataKey, RecordRef
from records.crypto.errors import CryptoError, IntegrityError, MalformedCiphertext

DEK = DataKey(aead.new_key())
OTHER_DEK = DataKey(aead.new_key())
DOCUMENT = RecordRef("documents", "0b1f5c2e-0000-4000-8000-000000000001", "ehpad-les-tilleuls")
PLACE = DOCUMENT.place("content")
SMALL = 32  # a small segment size makes many segments out of small examples
STRIDE = SMALL + aead.TAG_SIZE
BOUNDARY_SIZES = [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 3 * SEGMENT_SIZE]


def pattern(size: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(size))


def sealed(plaintext: bytes, segment_size: int = SMALL, dek: DataKey = DEK) -> bytes:
    return b"".join(encrypt(dek, PLACE, [plaintext], segment_size=segment_size))


def opened(ciphertext: bytes, dek: DataKey = DEK) -> bytes:
    return b"".join(decrypt(dek, PLACE, [ciphertext]))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def segments_of(ciphertext: bytes) -> list[bytes]:
    body = ciphertext[HEADER_SIZE:]
    return [body[i : i + STRIDE] for i in range(0, len(body), STRIDE)]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_at_segment_boundaries_with_the_default_segment_size(size: int) -> None:
    plaintext = pattern(size)
    ciphertext = sealed(plaintext, SEGMENT_SIZE)
    assert len(ciphertext) == ciphertext_length(size)
    assert opened(ciphertext) == plaintext


@given(
    plaintext=st.binary(max_size=8 * SMALL),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
    cipher_cuts=st.lists(st.integers(min_value=0), max_size=6),
)
def test_decrypt_returns_what_was_encrypted_whatever_the_chunking(
    plaintext: bytes, cuts: list[int], cipher_cuts: list[int]
) -> None:
    ciphertext = b"".join(encrypt(DEK, PLACE, split(plaintext, cuts), segment_size=SMALL))
    assert len(ciphertext) == ciphertext_length(len(plaintext), SMALL)
    assert b"".join(decrypt(DEK, PLACE, split(ciphertext, cipher_cuts))) == plaintext


@given(plaintext=st.binary(max_size=4 * SMALL), data=st.data())
def test_any_bit_flip_fails(plaintext: bytes, data: st.DataObject) -> None:
    ciphertext = bytearray(sealed(plaintext))
    bit = data.draw(st.integers(min_value=0, max_value=len(ciphertext) * 8 - 1))
    ciphertext[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((IntegrityError, MalformedCiphertext)):
        opened(bytes(ciphertext))


@given(plaintext=st.binary(min_size=2 * SMALL + 1, max_size=6 * SMALL), data=st.data())
def test_swapping_two_segments_fails(plaintext: bytes, data: st.DataObject) -> None:
    ciphertext = sealed(plaintext)
    segments = segments_of(ciphertext)
    i, j = data.draw(st.lists(st.integers(0, len(segments) - 1), min_size=2, max_size=2, unique=True))
    segments[i], segments[j] = segments[j], segments[i]
    with pytest.raises((IntegrityError, MalformedCiphertext)):
        opened(ciphertext[:HEADER_SIZE] + b"".join(segments))


@given(plaintext=st.binary(min_size=SMALL + 1, max_size=6 * SMALL), data=st.data())
def test_dropping_last_segments_at_a_segment_boundary_fails(plaintext: bytes, data: st.DataObject) -> None:
    ciphertext = sealed(plaintext)
    segments = segments_of(ciphertext)
    keep = data.draw(st.integers(min_value=1, max_value=len(segments) - 1))
    with pytest.raises(IntegrityError):
        opened(ciphertext[:HEADER_SIZE] + b"".join(segments[:keep]))


@given(plaintext=st.binary(max_size=4 * SMALL), data=st.data())
def test_truncating_anywhere_fails(plaintext: bytes, data: st.DataObject) -> None:
    ciphertext = sealed(plaintext)
    cut = data.draw(st.integers(min_value=0, max_value=len(ciphertext) - 1))
    with pytest.raises((IntegrityError, MalformedCiphertext)):
        opened(ciphertext[:cut])


@given(plaintext=st.binary(min_size=SMALL, max_size=4 * SMALL), data=st.data())
def test_splicing_a_segment_from_another_blob_under_the_same_key_fails(
    plaintext: bytes, data: st.DataObject
) -> None:
    first, second = sealed(plaintext), sealed(plaintext)
    assert first != second  # a fresh salt per blob, hence a fresh segment key
    segments = segments_of(first)
    index = data.draw(st.integers(min_value=0, max_value=len(segments) - 1))
    segments[index] = segments_of(second)[index]
    with pytest.raises(IntegrityError):
        opened(first[:HEADER_SIZE] + b"".join(segments))


def test_another_blobs_header_fails() -> None:
    first, second = sealed(pattern(3 * SMALL)), sealed(pattern(3 * SMALL))
    with pytest.raises(IntegrityError):
        opened(second[:HEADER_SIZE] + first[HEADER_SIZE:])


@given(plaintext=st.binary(max_size=2 * SMALL), column=st.sampled_from(["content", "thumbnail"]))
def test_another_place_or_key_fails(plaintext: bytes, column: str) -> None:
    ciphertext = sealed(plaintext)
    for record in (RecordRef("documents", DOCUMENT.record_id, "ehpad-autre"), DOCUMENT):
        if record.place(column) == PLACE:
            continue
        with pytest.raises(IntegrityError):
            b"".join(decrypt(DEK, record.place(column), [ciphertext]))
    with pytest.raises(IntegrityError):
        opened(ciphertext, OTHER_DEK)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"TCB", b"XXXX" + bytes(HEADER_SIZE + aead.TAG_SIZE), b"TCB\x02" + bytes(HEADER_SIZE)],
    ids=["empty", "short header", "bad magic", "unknown version"],
)
def test_what_is_not_a_blob_is_malformed(garbage: bytes) -> None:
    with pytest.raises(MalformedCiphertext):
        opened(garbage)


def test_a_header_claiming_a_huge_segment_size_is_refused_before_buffering() -> None:
    header = bytearray(sealed(b"x")[:HEADER_SIZE])
    header[4:8] = (2**31).to_bytes(4, "big")
    with pytest.raises(MalformedCiphertext):
        opened(bytes(header) + bytes(64))


def test_a_failure_after_verified_segments_comes_before_any_unverified_byte() -> None:
    plaintext = pattern(4 * SMALL)
    ciphertext = bytearray(sealed(plaintext))
    ciphertext[-1] ^= 1  # last segment's tag
    received: list[bytes] = []
    with pytest.raises(IntegrityError):
        received.extend(decrypt(DEK, PLACE, [bytes(ciphertext)]))
    assert b"".join(received) == plaintext[: 3 * SMALL]


@given(
    plaintext=st.binary(max_size=8 * SMALL), start=st.integers(0, 9 * SMALL), span=st.integers(0, 9 * SMALL)
)
def test_range_decryption_equals_slicing_the_plaintext(plaintext: bytes, start: int, span: int) -> None:
    ciphertext = sealed(plaintext)
    pieces = decrypt_range(DEK, PLACE, read_at_bytes(ciphertext), len(ciphertext), start, start + span)
    assert b"".join(pieces) == plaintext[start : start + span]


def test_range_reads_only_the_segments_it_needs() -> None:
    ciphertext = sealed(pattern(10 * SMALL))
    reads: list[tuple[int, int]] = []

    def read_at(offset: int, size: int) -> bytes:
        reads.append((offset, size))
        return ciphertext[offset : offset + size]

    assert (
        b"".join(decrypt_range(DEK, PLACE, read_at, len(ciphertext), 3 * SMALL + 5, 4 * SMALL + 1))
        == (pattern(10 * SMALL)[3 * SMALL + 5 : 4 * SMALL + 1])
    )
    assert reads == [(0, HEADER_SIZE), (HEADER_SIZE + 3 * STRIDE, STRIDE), (HEADER_SIZE + 4 * STRIDE, STRIDE)]


def test_range_over_a_truncated_blob_fails_at_the_new_last_segment() -> None:
    ciphertext = sealed(pattern(4 * SMALL))[: HEADER_SIZE + 3 * STRIDE]
    with pytest.raises(IntegrityError):
        b"".join(decrypt_range(DEK, PLACE, read_at_bytes(ciphertext), len(ciphertext), 0, 4 * SMALL))


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 4)])
def test_an_inverted_or_negative_range_is_refused(start: int, end: int) -> None:
    ciphertext = sealed(b"abc")
    with pytest.raises(ValueError, match="range"):
        list(decrypt_range(DEK, PLACE, read_at_bytes(ciphertext), len(ciphertext), start, end))


async def test_async_forms_round_trip_across_segment_boundaries() -> None:
    plaintext = pattern(5 * SMALL + 3)

    async def source(data: bytes, step: int) -> AsyncIterator[bytes]:
        for offset in range(0, len(data), step):
            yield data[offset : offset + step]

    ciphertext = b"".join(
        [c async for c in encrypt_async(DEK, PLACE, source(plaintext, 7), segment_size=SMALL)]
    )
    assert b"".join([p async for p in decrypt_async(DEK, PLACE, source(ciphertext, 13))]) == plaintext


def test_an_encryptor_cannot_be_fed_after_finishing() -> None:
    encryptor = Encryptor(DEK, PLACE, segment_size=SMALL)
    list(encryptor.finish())
    with pytest.raises(RuntimeError):
        list(encryptor.feed(b"late"))


def test_a_decryptor_given_nothing_is_malformed() -> None:
    with pytest.raises(MalformedCiphertext):
        Decryptor(DEK, PLACE).finish()


def test_segment_sizes_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="segment size"):
        Encryptor(DEK, PLACE, segment_size=8)


def generated_stream(total: int, chunk: int) -> Iterator[bytes]:
    piece = pattern(chunk)
    for _ in range(total // chunk):
        yield piece


@pytest.mark.parametrize("chunk", [1000, 4 * 1024 * 1024], ids=["small chunks", "chunks of 4 MiB"])
def test_encrypting_64_mib_holds_only_a_few_segments(chunk: int) -> None:
    total = 64 * 1024 * 1024
    source: Iterable[bytes] = generated_stream(total - total % chunk, chunk)
    tracemalloc.start()
    try:
        written = sum(len(piece) for piece in encrypt(DEK, PLACE, source))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == ciphertext_length(total - total % chunk)
    assert peak < 4 * 1024 * 1024 + chunk  # the caller's own chunk, plus a few segments


@settings(max_examples=25)
@given(plaintext=st.binary(max_size=3 * SMALL))
def test_every_failure_is_a_typed_crypto_error(plaintext: bytes) -> None:
    ciphertext = sealed(plaintext)
    for broken in (ciphertext[:-1], ciphertext + b"\x00", b"\x00" + ciphertext[1:]):
        with pytest.raises(CryptoError):
            opened(broken)

"""Streaming encryption of a blob in fixed-size segments, under a data key, bound to the blob's place.

Format (see docs/adr/0008-encrypted-blobs.md)::

    header  = magic "TCB" (3) | version (1) | segment size (4, big-endian) | salt (16, random)
    segment = AES-256-GCM(ciphertext || tag) of ``segment size`` plaintext bytes (the last one: 0 to
              ``segment size`` bytes; an empty blob is one empty last segment)

Each blob gets its own segment key, HKDF-SHA256(data key, salt, label), and segment ``i`` uses the
96-bit big-endian counter ``i`` as nonce: nonces never repeat under a key by construction, however many
blobs share one data key. The associated data of segment ``i`` is the header, the blob's :class:`Place`,
``i`` and a last-segment flag, so a flipped bit, a reordered, dropped, duplicated or spliced segment (even
from another blob under the same key), a truncation at a segment boundary, another place or an edited
header all fail with :class:`IntegrityError` or :class:`MalformedCiphertext`.

Readers yield a segment only once its tag has verified, so no unauthenticated byte ever leaves this
module; but a reader can yield verified segments and then find a later one bad. The consumer must then
treat the whole blob as failed: discard what it wrote, or, when streaming an HTTP answer, abort the
connection so the client never sees a complete-looking file (the ADR says which answers verify first).

Pure computation, no I/O: the sync and async forms share the :class:`Encryptor` / :class:`Decryptor`
state machines, which hold at most about one segment.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from records.crypto import aead
from records.crypto.envelope import DataKey, Place
from records.crypto.errors import MalformedCiphertext
from records.crypto.framing import frame

MAGIC = b"TCB"
VERSION = 1
SALT_SIZE = 16
HEADER_SIZE = len(MAGIC) + 1 + 4 + SALT_SIZE
#: Plaintext bytes per segment unless told otherwise.
SEGMENT_SIZE = 64 * 1024
MIN_SEGMENT_SIZE = 16
#: A header read from disk may claim any size: refuse those that would make a reader buffer too much.
MAX_SEGMENT_SIZE = 8 * 1024 * 1024
#: Counter nonces are 96 bits, but a blob of more segments than this is surely a bug (256 TiB at 64 KiB).
MAX_SEGMENTS = 2**32

_KEY_LABEL = b"teleconsult.blob-segment-key.v1"
_AAD_LABEL = b"teleconsult.blob-segment.v1"

Chunk = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Header:
    segment_size: int
    salt: bytes

    def to_bytes(self) -> bytes:
        return MAGIC + struct.pack(">BI", VERSION, self.segment_size) + self.salt

    @classmethod
    def parse(cls, data: bytes) -> Header:
        if len(data) < HEADER_SIZE or data[: len(MAGIC)] != MAGIC:
            raise MalformedCiphertext
        version, segment_size = struct.unpack_from(">BI", data, len(MAGIC))
        if version != VERSION or not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise MalformedCiphertext
        return cls(segment_size, bytes(data[len(MAGIC) + 5 : HEADER_SIZE]))


@dataclass(frozen=True, slots=True)
class Layout:
    """Where things are in a blob whose ciphertext is ``ciphertext_length`` bytes long."""

    segment_size: int
    segments: int
    plaintext_length: int

    @property
    def stride(self) -> int:
        return self.segment_size + aead.TAG_SIZE

    @classmethod
    def of(cls, segment_size: int, ciphertext_length: int) -> Layout:
        body = ciphertext_length - HEADER_SIZE
        if body < aead.TAG_SIZE:
            raise MalformedCiphertext
        stride = segment_size + aead.TAG_SIZE
        segments = -(-body // stride)
        last = body - (segments - 1) * stride
        # Only an empty blob has an empty last segment; a writer never produces one elsewhere.
        if last < aead.TAG_SIZE or (last == aead.TAG_SIZE and segments > 1) or segments > MAX_SEGMENTS:
            raise MalformedCiphertext
        return cls(segment_size, segments, body - segments * aead.TAG_SIZE)


def ciphertext_length(plaintext_length: int, segment_size: int = SEGMENT_SIZE) -> int:
    """The exact size of the encrypted form of ``plaintext_length`` bytes."""
    segments = max(1, -(-plaintext_length // segment_size))
    return HEADER_SIZE + plaintext_length + segments * aead.TAG_SIZE


class _Cipher:
    """One blob's segment key and associated-data prefix."""

    __slots__ = ("_aad_prefix", "_key")

    def __init__(self, dek: DataKey, header: bytes, salt: bytes, place: Place) -> None:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=aead.KEY_SIZE, salt=salt, info=_KEY_LABEL)
        self._key = hkdf.derive(dek.key)
        # frame() is unambiguous and the suffix has a fixed size, so the whole AAD is too.
        self._aad_prefix = frame(_AAD_LABEL, header, place.encode())

    def _nonce_aad(self, index: int, is_last: bool) -> tuple[bytes, bytes]:
        if index >= MAX_SEGMENTS:
            raise ValueError("too many segments in one blob")
        return index.to_bytes(aead.NONCE_SIZE, "big"), self._aad_prefix + struct.pack(">Q?", index, is_last)

    def seal(self, index: int, plaintext: bytes, is_last: bool) -> bytes:
        nonce, aad = self._nonce_aad(index, is_last)
        return aead.encrypt(self._key, nonce, plaintext, aad)

    def open(self, index: int, sealed: bytes, is_last: bool) -> bytes:
        nonce, aad = self._nonce_aad(index, is_last)
        return aead.decrypt(self._key, nonce, sealed, aad)


class _Splitter:
    """Cuts a stream of chunks of any size into units of ``unit`` bytes, keeping the last one back (full
    or short) until :meth:`finish`, since only the end of the stream tells which unit is last."""

    __slots__ = ("_pending", "_unit")

    def __init__(self, unit: int) -> None:
        self._unit = unit
        self._pending = bytearray()

    def feed(self, data: Chunk) -> Iterator[bytes]:
        """The units known not to be last; consume it entirely before feeding more."""
        view = memoryview(data).cast("B")
        position, size, unit = 0, len(view), self._unit
        while position < size:
            if len(self._pending) == unit:
                yield bytes(self._pending)
                self._pending.clear()
            if not self._pending and size - position > unit:
                yield bytes(view[position : position + unit])
                position += unit
                continue
            take = min(unit - len(self._pending), size - position)
            self._pending += view[position : position + take]
            position += take

    def finish(self) -> bytes:
        last = bytes(self._pending)
        self._pending.clear()
        return last


class Encryptor:
    """Push plaintext chunks with :meth:`feed`, then call :meth:`finish`; emits the header first."""

    __slots__ = ("_cipher", "_finished", "_header", "_index", "_splitter")

    def __init__(self, dek: DataKey, place: Place, *, segment_size: int = SEGMENT_SIZE) -> None:
        if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
            raise ValueError("segment size out of range")
        header = Header(segment_size, secrets.token_bytes(SALT_SIZE))
        self._header: bytes | None = header.to_bytes()
        self._cipher = _Cipher(dek, self._header, header.salt, place)
        self._splitter = _Splitter(segment_size)
        self._index = 0
        self._finished = False

    def _start(self) -> Iterator[bytes]:
        if self._finished:
            raise RuntimeError("encryptor already finished")
        if self._header is not None:
            yield self._header
            self._header = None

    def feed(self, data: Chunk) -> Iterator[bytes]:
        yield from self._start()
        for segment in self._splitter.feed(data):
            yield self._cipher.seal(self._index, segment, is_last=False)
            self._index += 1

    def finish(self) -> Iterator[bytes]:
        yield from self._start()
        self._finished = True
        yield self._cipher.seal(self._index, self._splitter.finish(), is_last=True)


class Decryptor:
    """Push ciphertext chunks with :meth:`feed`, then call :meth:`finish`; yields verified plaintext only.

    A stream that ends before its header or first segment is :class:`MalformedCiphertext`; one that was
    cut at a segment boundary fails the last segment's flag with :class:`IntegrityError`."""

    __slots__ = ("_cipher", "_dek", "_head", "_index", "_place", "_splitter")

    def __init__(self, dek: DataKey, place: Place) -> None:
        self._dek = dek
        self._place = place
        self._head = bytearray()
        self._cipher: _Cipher | None = None
        self._splitter: _Splitter | None = None
        self._index = 0

    def feed(self, data: Chunk) -> Iterator[bytes]:
        view = memoryview(data).cast("B")
        if self._splitter is None:
            take = HEADER_SIZE - len(self._head)
            self._head += view[:take]
            view = view[take:]
            if len(self._head) < HEADER_SIZE:
                return
            header = Header.parse(bytes(self._head))
            self._cipher = _Cipher(self._dek, bytes(self._head), header.salt, self._place)
            self._splitter = _Splitter(header.segment_size + aead.TAG_SIZE)
        assert self._cipher is not None  # noqa: S101 - set together with the splitter
        for sealed in self._splitter.feed(view):
            yield self._cipher.open(self._index, sealed, is_last=False)
            self._index += 1

    def finish(self) -> bytes:
        if self._splitter is None or self._cipher is None:
            raise MalformedCiphertext
        sealed = self._splitter.finish()
        if len(sealed) < aead.TAG_SIZE or (len(sealed) == aead.TAG_SIZE and self._index > 0):
            raise MalformedCiphertext
        return self._cipher.open(self._index, sealed, is_last=True)


def encrypt(
    dek: DataKey, place: Place, chunks: Iterable[Chunk], *, segment_size: int = SEGMENT_SIZE
) -> Iterator[bytes]:
    """The ciphertext of the concatenated ``chunks`` (of any sizes), with memory bounded by a segment."""
    encryptor = Encryptor(dek, place, segment_size=segment_size)
    for chunk in chunks:
        yield from encryptor.feed(chunk)
    yield from encryptor.finish()


async def encrypt_async(
    dek: DataKey, place: Place, chunks: AsyncIterable[Chunk], *, segment_size: int = SEGMENT_SIZE
) -> AsyncIterator[bytes]:
    """:func:`encrypt` for an async source. Each segment costs well under a millisecond of CPU."""
    encryptor = Encryptor(dek, place, segment_size=segment_size)
    async for chunk in chunks:
        for sealed in encryptor.feed(chunk):
            yield sealed
    for sealed in encryptor.finish():
        yield sealed


def decrypt(dek: DataKey, place: Place, chunks: Iterable[Chunk]) -> Iterator[bytes]:
    """The plaintext, one verified segment at a time; raises IntegrityError / MalformedCiphertext."""
    decryptor = Decryptor(dek, place)
    for chunk in chunks:
        yield from decryptor.feed(chunk)
    yield decryptor.finish()


async def decrypt_async(dek: DataKey, place: Place, chunks: AsyncIterable[Chunk]) -> AsyncIterator[bytes]:
    """:func:`decrypt` for an async source."""
    decryptor = Decryptor(dek, place)
    async for chunk in chunks:
        for plain in decryptor.feed(chunk):
            yield plain
    yield decryptor.finish()


#: Random access to a stored ciphertext, ``read_at(offset, size) -> bytes`` (a file's pread, an S3 ranged
#: GET...); fewer bytes than asked means the object ends there.
ReadAt = Callable[[int, int], bytes]


def plaintext_length(read_at: ReadAt, ciphertext_length: int) -> int:
    """The plaintext length of a stored blob, from its header and size (not authenticated by itself)."""
    header = Header.parse(read_at(0, HEADER_SIZE))
    return Layout.of(header.segment_size, ciphertext_length).plaintext_length


def decrypt_range(
    dek: DataKey, place: Place, read_at: ReadAt, ciphertext_length: int, start: int, end: int
) -> Iterator[bytes]:
    """Plaintext bytes ``[start, end)`` (clamped to the blob), reading and verifying only the segments that
    cover them; ``end`` is exclusive (HTTP's inclusive ``bytes=a-b`` is ``start=a, end=b + 1``).

    Each segment is checked at its index, with the last-segment flag the blob's size implies, so bytes
    are never served from the wrong place, and a range that covers the end detects truncation."""
    if start < 0 or end < start:
        raise ValueError("invalid range")
    head = read_at(0, HEADER_SIZE)
    header = Header.parse(head)
    layout = Layout.of(header.segment_size, ciphertext_length)
    end = min(end, layout.plaintext_length)
    if start >= end:
        return
    cipher = _Cipher(dek, head, header.salt, place)
    size = header.segment_size
    for index in range(start // size, (end - 1) // size + 1):
        is_last = index == layout.segments - 1
        length = (layout.plaintext_length - index * size if is_last else size) + aead.TAG_SIZE
        sealed = read_at(HEADER_SIZE + index * layout.stride, length)
        if len(sealed) != length:
            raise MalformedCiphertext
        plain = cipher.open(index, sealed, is_last)
        offset = index * size
        yield plain[max(start - offset, 0) : end - offset]


def read_at_bytes(data: bytes) -> ReadAt:
    """A :class:`ReadAt` over ciphertext held in memory (tests, small blobs)."""

    def read_at(offset: int, size: int) -> bytes:
        return data[offset : offset + size]

    return read_at

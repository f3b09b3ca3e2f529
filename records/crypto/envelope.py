"""Envelope encryption of records: one data key per record, fields sealed under it, bound to their place.

A record (a resident, a report, a blob...) gets ONE random 256-bit data key (DEK), stored beside it wrapped
by the current key-encryption key with the record's identity as associated data. Destroying that wrapped
key crypto-shreds the record; re-wrapping it under a newer KEK (:func:`rewrap`) is all a rotation does.

A sealed field is ``magic (1) | version (1) | nonce (12) | ciphertext | tag (16)``. The associated data is
the header followed by the canonical encoding of its :class:`Place` (table, column, record id,
establishment), so a ciphertext copied into another row, column, table or establishment, or given another
header, fails with :class:`IntegrityError` and never yields data.

No nonce reuse, by design: every seal draws a fresh random 96-bit nonce, and a data key belongs to one
record, so it encrypts only that record's handful of fields and their edits (tens to thousands of
messages over the record's life). NIST SP 800-38D (section 8.3) allows random 96-bit nonces for up to
2^32 messages per key; the chance of any collision among n messages is about n^2 / 2^97 (below 2^-57 even
for a million edits of one record). KEKs wrap one data key per record (plus re-wraps), also far below 2^32.

Blind indexes (:func:`blind_index`) are HMAC-SHA256 under a separate index key, for equality search only.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from records.crypto import aead
from records.crypto.errors import MalformedCiphertext
from records.crypto.framing import frame, part
from records.crypto.keyring import KeyProvider, WrappedKey

SEAL_MAGIC = 0xE5
SEAL_VERSION = 1
HEADER_SIZE = 2 + aead.NONCE_SIZE
#: Bytes a sealed field takes beyond its plaintext.
OVERHEAD = HEADER_SIZE + aead.TAG_SIZE
_HEADER_START = bytes([SEAL_MAGIC, SEAL_VERSION])

_RECORD_LABEL = b"teleconsult.record.v1"
_PLACE_LABEL = b"teleconsult.place.v1"
_INDEX_LABEL = b"teleconsult.blind-index.v1"


@dataclass(frozen=True, slots=True)
class RecordRef:
    """The identity of a record that owns a data key: the context its wrapped key is bound to."""

    table: str
    record_id: str
    establishment_id: str

    def place(self, column: str) -> Place:
        return Place(self.table, column, self.record_id, self.establishment_id)

    def context(self) -> bytes:
        """``frame(label, table, record id, establishment)``: the cached head (label, table), then the
        same tail as the record's places."""
        return _context_head(self.table) + self.place_tail()

    def place_tail(self) -> bytes:
        """The end of the encoding of each of this record's places (record id, establishment), the same
        for all its columns: encoded once per record by :func:`seal_fields` and :func:`open_fields`."""
        return part(self.record_id.encode("utf-8")) + part(self.establishment_id.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Place:
    """Where a sealed value lives; its encoding is the associated data of the value."""

    table: str
    column: str
    record_id: str
    establishment_id: str

    @property
    def record(self) -> RecordRef:
        return RecordRef(self.table, self.record_id, self.establishment_id)

    def encode(self) -> bytes:
        """``frame(label, table, column, record id, establishment)``, built from the cached encoding of
        its constant head (label, table, column) and the record's tail: the same bytes."""
        return _place_head(self.table, self.column) + self.record.place_tail()


@lru_cache(maxsize=512)
def _place_head(table: str, column: str) -> bytes:
    """The encoded label, table and column of a place: a few dozen distinct values in the whole service."""
    return frame(_PLACE_LABEL, table.encode("utf-8"), column.encode("utf-8"))


@lru_cache(maxsize=64)
def _context_head(table: str) -> bytes:
    """The encoded label and table of a record's context: one per table that owns data keys."""
    return frame(_RECORD_LABEL, table.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class DataKey:
    """A record's 256-bit data key in clear: keep it in memory only, for the time of one use case."""

    key: bytes = field(repr=False)
    #: AES-256-GCM under this key, set up once for all the record's fields; lives as long as the key.
    cipher: aead.Aead = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.key) != aead.KEY_SIZE:
            raise ValueError("a data key is 32 bytes")
        object.__setattr__(self, "cipher", aead.Aead(self.key))


def new_data_key(provider: KeyProvider, record: RecordRef) -> tuple[DataKey, WrappedKey]:
    """A fresh random data key for ``record``, and its form wrapped by the current KEK (to store)."""
    dek = DataKey(aead.new_key())
    return dek, provider.wrap(dek.key, record.context())


def open_data_key(provider: KeyProvider, wrapped: WrappedKey, record: RecordRef) -> DataKey:
    """Unwrap a record's data key; raises UnknownKey, MalformedCiphertext or IntegrityError."""
    key = provider.unwrap(wrapped, record.context())
    if len(key) != aead.KEY_SIZE:
        raise MalformedCiphertext
    return DataKey(key)


def rewrap(provider: KeyProvider, wrapped: WrappedKey, record: RecordRef) -> WrappedKey:
    """The same data key wrapped by the current KEK. Already current: returned unchanged, so a rotation
    job interrupted half-way can simply run again."""
    if wrapped.kek_id == provider.current_kek_id():
        return wrapped
    return provider.wrap(open_data_key(provider, wrapped, record).key, record.context())


def seal(dek: DataKey, plaintext: bytes, place: Place) -> bytes:
    """Encrypt one value for ``place`` under the record's data key, with a fresh random nonce."""
    return _seal(dek.cipher, aead.new_nonce(), plaintext, place.encode())


def open_sealed(dek: DataKey, blob: bytes, place: Place) -> bytes:
    """The plaintext sealed at ``place``, or MalformedCiphertext / IntegrityError, never partial data."""
    return _open(dek.cipher, blob, place.encode())


def seal_fields(dek: DataKey, record: RecordRef, values: Mapping[str, bytes]) -> dict[str, bytes]:
    """Column -> sealed value for several fields of one record: exactly what :func:`seal` gives for each
    ``record.place(column)`` (same format, a fresh random nonce each), with the shared work done once."""
    table, tail, encrypt = record.table, record.place_tail(), dek.cipher.encrypt
    sealed: dict[str, bytes] = {}
    for (column, plaintext), nonce in zip(values.items(), aead.new_nonces(len(values)), strict=True):
        header = _HEADER_START + nonce
        sealed[column] = header + encrypt(nonce, plaintext, header + _place_head(table, column) + tail)
    return sealed


def open_fields(dek: DataKey, record: RecordRef, blobs: Mapping[str, bytes]) -> dict[str, bytes]:
    """Column -> plaintext for several fields of one record, each checked against its own place as
    :func:`open_sealed` does; the first that fails raises (MalformedCiphertext / IntegrityError)."""
    table, tail, cipher = record.table, record.place_tail(), dek.cipher
    return {column: _open(cipher, blob, _place_head(table, column) + tail) for column, blob in blobs.items()}


def _seal(cipher: aead.Aead, nonce: bytes, plaintext: bytes, place: bytes) -> bytes:
    header = _HEADER_START + nonce
    return header + cipher.encrypt(nonce, plaintext, header + place)


def _open(cipher: aead.Aead, blob: bytes, place: bytes) -> bytes:
    if len(blob) < OVERHEAD or blob[0] != SEAL_MAGIC or blob[1] != SEAL_VERSION:
        raise MalformedCiphertext
    header = blob[:HEADER_SIZE]
    return cipher.decrypt(header[2:], blob[HEADER_SIZE:], header + place)


def blind_index(index_key: bytes, purpose: str, value: str) -> str:
    """Hex HMAC-SHA256 of ``value`` for ``purpose`` (e.g. "ins", "name-token") under the index key.

    Deterministic, so equal values give equal indexes (equality search); the purpose is part of the
    message, so indexes of two purposes never match. Normalising ``value`` is the caller's job."""
    return blind_indexes(index_key, purpose, (value,))[0]


def blind_indexes(index_key: bytes, purpose: str, values: Iterable[str]) -> list[str]:
    """:func:`blind_index` of each of ``values`` for one purpose, in order: the same hex strings, with the
    checks and the encoding of the label and purpose done once (a resident's name tokens, an import)."""
    if len(index_key) != aead.KEY_SIZE:
        raise ValueError("the index key is 32 bytes")
    if not purpose:
        raise ValueError("a blind index needs a purpose")
    head = _index_head(purpose)
    return [hmac.digest(index_key, head + part(value.encode("utf-8")), "sha256").hex() for value in values]


@lru_cache(maxsize=16)
def _index_head(purpose: str) -> bytes:
    return frame(_INDEX_LABEL, purpose.encode("utf-8"))

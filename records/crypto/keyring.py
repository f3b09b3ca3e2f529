"""Key-encryption keys (KEK): the provider interface, a local keyring read from a key file, and key files.

A KEK never encrypts data; it only wraps (encrypts) per-record data keys, with AES-256-GCM under a fresh
random nonce and the record's context as associated data. :class:`KeyProvider` is all the rest of the
service sees, so an external KMS or HSM can hold the KEKs later. :class:`LocalKeyring` holds them in
memory, read from a JSON key file (``teleconsult keys generate | rotate | status``) or from a JSON string
given through the environment::

    {"format": 1, "demo": false, "current": "3f9c0a1b2d",
     "index_key": "<base64, 32 bytes>",
     "keks": [{"id": "3f9c0a1b2d", "version": 1, "key": "<base64, 32 bytes>",
               "created": "2025-06-01T09:00:00+00:00"}]}

``index_key`` is a separate 256-bit key for blind indexes (HMAC-SHA256); it is never rotated with the KEKs,
since changing it would mean recomputing every index. Key files are read and written by ``keyfile.py``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from records.crypto import aead
from records.crypto.errors import KeyFileError, MalformedCiphertext, UnknownKey
from records.crypto.framing import frame, part

FORMAT = 1
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WRAP_LABEL = b"teleconsult.wrap.v1"
_WRAPPED_MAGIC = 0xEB
_WRAPPED_VERSION = 1
_WRAPPED_BLOB_SIZE = aead.NONCE_SIZE + aead.KEY_SIZE + aead.TAG_SIZE


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under the KEK ``kek_id``; ``blob`` is nonce || ciphertext || tag."""

    kek_id: str
    blob: bytes

    def to_bytes(self) -> bytes:
        """Storable form: magic, version, KEK id (length-prefixed ASCII), blob."""
        kek_id = self.kek_id.encode("ascii")
        return bytes([_WRAPPED_MAGIC, _WRAPPED_VERSION, len(kek_id)]) + kek_id + self.blob

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedKey:
        if len(data) < 3 or data[0] != _WRAPPED_MAGIC or data[1] != _WRAPPED_VERSION:
            raise MalformedCiphertext
        end = 3 + data[2]
        kek_id, blob = data[3:end], data[end:]
        if len(blob) != _WRAPPED_BLOB_SIZE or not _ID.fullmatch(kek_id.decode("ascii", "replace")):
            raise MalformedCiphertext
        return cls(kek_id.decode("ascii"), blob)


class KeyProvider(Protocol):
    """What the service needs from whoever holds the KEKs (this keyring, or later a KMS/HSM)."""

    def current_kek_id(self) -> str: ...

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Kek:
    """One key-encryption key. ``version`` grows by one at each rotation."""

    id: str
    version: int
    key: bytes = field(repr=False)
    created: datetime


@dataclass(frozen=True, slots=True)
class KekInfo:
    id: str
    version: int
    created: datetime
    is_current: bool


@dataclass(frozen=True, slots=True)
class KeyringStatus:
    """What ``teleconsult keys status`` shows: never key material."""

    current_id: str
    keks: tuple[KekInfo, ...]
    is_demo: bool

    @property
    def count(self) -> int:
        return len(self.keks)


def _wrap_aad(kek_id: str, context: bytes) -> bytes:
    """``frame(label, kek id, context)``, its head (label, KEK id) encoded once per KEK."""
    return _wrap_head(kek_id) + part(context)


@lru_cache(maxsize=64)
def _wrap_head(kek_id: str) -> bytes:
    return frame(_WRAP_LABEL, kek_id.encode("ascii"))


def _new_kek(version: int, taken: Iterable[str], now: datetime) -> Kek:
    taken = set(taken)
    kek_id = secrets.token_hex(5)
    while kek_id in taken:
        kek_id = secrets.token_hex(5)
    return Kek(kek_id, version, aead.new_key(), now)


class LocalKeyring:
    """KEKs held in this process's memory; implements :class:`KeyProvider`."""

    __slots__ = ("_ciphers", "_current", "_demo", "_index_key", "_keks")

    def __init__(self, keks: Iterable[Kek], current_id: str, index_key: bytes, *, demo: bool = False) -> None:
        by_id: dict[str, Kek] = {}
        for kek in keks:
            if not _ID.fullmatch(kek.id) or kek.id in by_id:
                raise KeyFileError("identifiant de clé invalide ou en double")
            if len(kek.key) != aead.KEY_SIZE or kek.version < 1 or kek.created.tzinfo is None:
                raise KeyFileError(f"clé {kek.id} : longueur, version ou date invalide")
            by_id[kek.id] = kek
        if len({kek.version for kek in by_id.values()}) != len(by_id):
            raise KeyFileError("deux clés portent la même version")
        if current_id not in by_id:
            raise KeyFileError("la clé courante n'existe pas dans le fichier")
        if len(index_key) != aead.KEY_SIZE or any(index_key == kek.key for kek in by_id.values()):
            raise KeyFileError("index_key doit faire 32 octets et différer des clés de chiffrement")
        self._keks = by_id
        # One AES-GCM set-up per KEK for the keyring's life (which holds the keys anyway), not per wrap.
        self._ciphers = {kek.id: aead.Aead(kek.key) for kek in by_id.values()}
        self._current = current_id
        self._index_key = index_key
        self._demo = demo

    def __repr__(self) -> str:
        return f"LocalKeyring(current={self._current!r}, keks={len(self._keks)})"

    @classmethod
    def generate(cls, *, now: datetime | None = None, demo: bool = False) -> LocalKeyring:
        """A new keyring: one KEK (version 1) and an index key."""
        kek = _new_kek(1, (), now or datetime.now(UTC))
        return cls([kek], kek.id, aead.new_key(), demo=demo)

    def rotated(self, *, now: datetime | None = None) -> LocalKeyring:
        """A copy with a new current KEK; the old ones stay to unwrap what they wrapped."""
        kek = _new_kek(max(k.version for k in self._keks.values()) + 1, self._keks, now or datetime.now(UTC))
        return LocalKeyring([*self._keks.values(), kek], kek.id, self._index_key, demo=self._demo)

    @classmethod
    def from_bytes(cls, data: bytes) -> LocalKeyring:
        try:
            document = json.loads(data)
            if document["format"] != FORMAT:
                raise KeyFileError(f"format de fichier de clés inconnu (attendu {FORMAT})")
            keks = [
                Kek(k["id"], _int(k["version"]), _b64(k["key"]), datetime.fromisoformat(k["created"]))
                for k in document["keks"]
            ]
            index_key = _b64(document["index_key"])
            return cls(keks, document["current"], index_key, demo=document.get("demo", False) is True)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyFileError("fichier de clés illisible (JSON ou champ invalide)") from exc

    @classmethod
    def from_json(cls, text: str) -> LocalKeyring:
        """From the content of a key file given as a string (for instance an environment variable)."""
        return cls.from_bytes(text.encode("utf-8"))

    @classmethod
    def from_file(cls, path: Path) -> LocalKeyring:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"fichier de clés illisible : {path} ({exc.strerror})") from exc
        return cls.from_bytes(data)

    def to_bytes(self) -> bytes:
        document: dict[str, Any] = {
            "format": FORMAT,
            "demo": self._demo,
            "current": self._current,
            "index_key": base64.b64encode(self._index_key).decode("ascii"),
            "keks": [
                {
                    "id": k.id,
                    "version": k.version,
                    "key": base64.b64encode(k.key).decode("ascii"),
                    "created": k.created.isoformat(timespec="seconds"),
                }
                for k in self._sorted()
            ],
        }
        return (json.dumps(document, indent=2) + "\n").encode("utf-8")

    def _sorted(self) -> list[Kek]:
        return sorted(self._keks.values(), key=lambda k: k.version)

    @property
    def index_key(self) -> bytes:
        """The key of blind indexes (HMAC-SHA256), separate from every KEK."""
        return self._index_key

    @property
    def is_demo(self) -> bool:
        """Whether ``teleconsult demo`` made these keys (production must refuse them)."""
        return self._demo

    def status(self) -> KeyringStatus:
        infos = tuple(KekInfo(k.id, k.version, k.created, k.id == self._current) for k in self._sorted())
        return KeyringStatus(self._current, infos, self._demo)

    def current_kek_id(self) -> str:
        return self._current

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey:
        """Encrypt a data key under the current KEK, bound to ``context``."""
        if len(dek) != aead.KEY_SIZE:
            raise ValueError("a data key is 32 bytes")
        kek_id = self._current
        nonce = aead.new_nonce()
        return WrappedKey(
            kek_id, nonce + self._ciphers[kek_id].encrypt(nonce, dek, _wrap_aad(kek_id, context))
        )

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        """The data key, or UnknownKey / MalformedCiphertext / IntegrityError (wrong context or altered)."""
        cipher = self._ciphers.get(wrapped.kek_id)
        if cipher is None:
            raise UnknownKey
        if len(wrapped.blob) != _WRAPPED_BLOB_SIZE:
            raise MalformedCiphertext
        nonce, sealed = wrapped.blob[: aead.NONCE_SIZE], wrapped.blob[aead.NONCE_SIZE :]
        return cipher.decrypt(nonce, sealed, _wrap_aad(wrapped.kek_id, context))


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("integer expected")
    return value


def _b64(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("base64 text expected")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError("invalid base64") from exc


class ReloadingKeyring:
    """A :class:`KeyProvider` over a keyring that can change while the service runs (``teleconsult keys
    rotate`` writes a new key file while the rotation job re-wraps the data keys).

    A data key wrapped by a KEK this process has not loaded yet makes it reload the keyring once, then
    unwrap again, so no read fails during a rotation; :meth:`reload` (called periodically by the
    application) also moves new wraps to the new current KEK. ``load`` reads the key file (or the JSON
    given through the environment); it is blocking I/O on a file of a few hundred bytes, done at most once
    per unknown KEK id and per period.
    """

    __slots__ = ("_keyring", "_load", "_missing")

    def __init__(self, load: Callable[[], LocalKeyring]) -> None:
        self._load = load
        self._keyring = load()
        self._missing: set[str] = set()

    def __repr__(self) -> str:
        return f"ReloadingKeyring({self._keyring!r})"

    def reload(self) -> bool:
        """Read the keyring again; whether its current KEK changed. A file that cannot be read now keeps
        the keys already loaded (the error is raised: the caller logs it)."""
        fresh = self._load()
        changed = fresh.current_kek_id() != self._keyring.current_kek_id()
        self._keyring = fresh
        self._missing.clear()
        return changed

    @property
    def keyring(self) -> LocalKeyring:
        return self._keyring

    @property
    def index_key(self) -> bytes:
        return self._keyring.index_key

    @property
    def is_demo(self) -> bool:
        return self._keyring.is_demo

    def status(self) -> KeyringStatus:
        return self._keyring.status()

    def current_kek_id(self) -> str:
        return self._keyring.current_kek_id()

    def wrap(self, dek: bytes, context: bytes) -> WrappedKey:
        return self._keyring.wrap(dek, context)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        try:
            return self._keyring.unwrap(wrapped, context)
        except UnknownKey:
            # Reload once per unknown id: a key wrapped by a KEK that no key file has must not make every
            # read of it re-read the file.
            if wrapped.kek_id in self._missing:
                raise
            self.reload()
            try:
                return self._keyring.unwrap(wrapped, context)
            except UnknownKey:
                self._missing.add(wrapped.kek_id)
                raise

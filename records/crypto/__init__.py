"""Envelope encryption for health data: AES-256-GCM, key-encryption keys, per-record data keys.

Pure library: no aiohttp, no SQLAlchemy, no I/O except reading and writing the key file.
See docs/adr/0006-envelope-encryption.md.
"""

from records.crypto.envelope import (
    OVERHEAD,
    DataKey,
    Place,
    RecordRef,
    blind_index,
    blind_indexes,
    new_data_key,
    open_data_key,
    open_fields,
    open_sealed,
    rewrap,
    seal,
    seal_fields,
)
from records.crypto.errors import CryptoError, IntegrityError, KeyFileError, MalformedCiphertext, UnknownKey
from records.crypto.keyfile import generate_key_file, rotate_key_file, status
from records.crypto.keyring import (
    Kek,
    KekInfo,
    KeyProvider,
    KeyringStatus,
    LocalKeyring,
    ReloadingKeyring,
    WrappedKey,
)

__all__ = [
    "OVERHEAD",
    "CryptoError",
    "DataKey",
    "IntegrityError",
    "Kek",
    "KekInfo",
    "KeyFileError",
    "KeyProvider",
    "KeyringStatus",
    "LocalKeyring",
    "MalformedCiphertext",
    "Place",
    "RecordRef",
    "ReloadingKeyring",
    "UnknownKey",
    "WrappedKey",
    "blind_index",
    "blind_indexes",
    "generate_key_file",
    "new_data_key",
    "open_data_key",
    "open_fields",
    "open_sealed",
    "rewrap",
    "rotate_key_file",
    "seal",
    "seal_fields",
    "status",
]

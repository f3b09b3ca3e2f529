"""AES-256-GCM: the only module of teleconsult that calls the primitive (``cryptography``'s AESGCM).

Keys are 256 bits, nonces 96 bits, tags 128 bits, nothing else is accepted. Decryption either returns the
whole plaintext or raises a typed error: :class:`IntegrityError` when the tag does not verify (altered data,
wrong key or wrong associated data), :class:`MalformedCiphertext` when the input cannot even be a ciphertext.
``cryptography`` verifies the tag before releasing any byte, so no partial plaintext can escape.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from records.crypto.errors import IntegrityError, MalformedCiphertext

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16


def new_key() -> bytes:
    """A fresh random 256-bit key from the operating system's CSPRNG."""
    return secrets.token_bytes(KEY_SIZE)


def new_nonce() -> bytes:
    """A fresh random 96-bit nonce from the operating system's CSPRNG."""
    return secrets.token_bytes(NONCE_SIZE)


def new_nonces(count: int) -> list[bytes]:
    """``count`` fresh random 96-bit nonces, drawn from the CSPRNG in one call (one system call for a
    record's fields rather than one per field); each is as random as one from :func:`new_nonce`."""
    pool = secrets.token_bytes(NONCE_SIZE * count)
    return [pool[i : i + NONCE_SIZE] for i in range(0, len(pool), NONCE_SIZE)]


class Aead:
    """AES-256-GCM under one key, its cipher object built once: sealing or opening the dozen fields of a
    record then costs a dozen calls, not a dozen key set-ups. Same checks and errors as the functions."""

    __slots__ = ("_cipher",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._cipher = AESGCM(key)

    def __repr__(self) -> str:
        return "Aead(...)"

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Ciphertext followed by its 16-byte tag. The caller guarantees the nonce is never reused."""
        if len(nonce) != NONCE_SIZE:
            raise ValueError("AES-256-GCM here takes a 12-byte nonce")
        return self._cipher.encrypt(nonce, plaintext, aad)

    def decrypt(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        """The plaintext of ``ciphertext`` (ciphertext || tag), or a typed error and no data at all."""
        if len(nonce) != NONCE_SIZE or len(ciphertext) < TAG_SIZE:
            raise MalformedCiphertext
        try:
            return self._cipher.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise IntegrityError from None


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Ciphertext followed by its 16-byte tag. The caller guarantees the nonce is never reused under a key."""
    return Aead(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """The plaintext of ``ciphertext`` (ciphertext || tag), or a typed error and no data at all."""
    return Aead(key).decrypt(nonce, ciphertext, aad)

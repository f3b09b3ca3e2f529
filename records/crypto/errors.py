"""The typed errors of records.crypto.

Each error carries a stable ``code`` and nothing else: no plaintext, no key material, no identifier of the
record it was reading. They are mapped once, in ``teleconsult/``, to the French message "document illisible :
contactez l'administrateur", and logged as an alert by their code alone.
"""

from __future__ import annotations

from typing import ClassVar


class CryptoError(Exception):
    """Base of every error raised by records.crypto."""

    code: ClassVar[str] = "crypto.error"

    def __init__(self) -> None:
        super().__init__(self.code)


class IntegrityError(CryptoError):
    """The ciphertext was altered, or it is read with other associated data (another row, column, table,
    establishment or record context) than the one it was written with."""

    code: ClassVar[str] = "crypto.integrity"


class UnknownKey(CryptoError):
    """A wrapped data key names a key-encryption key that this keyring does not hold."""

    code: ClassVar[str] = "crypto.unknown_key"


class MalformedCiphertext(CryptoError):
    """The bytes are not a ciphertext of a known format: bad magic, unknown version, wrong length."""

    code: ClassVar[str] = "crypto.malformed"


class KeyFileError(CryptoError):
    """The key file cannot be read, written or understood. The reason is for the operator (it names the
    problem and possibly the path, never key material)."""

    code: ClassVar[str] = "crypto.key_file"

    def __init__(self, reason: str) -> None:
        Exception.__init__(self, reason)
        self.reason = reason

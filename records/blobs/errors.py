"""The typed errors of records.blobs (integrity failures are records.crypto's IntegrityError and
MalformedCiphertext). Like those, each carries a stable ``code`` and no data."""

from __future__ import annotations

from typing import ClassVar


class BlobError(Exception):
    """Base of the errors raised by records.blobs."""

    code: ClassVar[str] = "blob.error"

    def __init__(self) -> None:
        super().__init__(self.code)


class InvalidBlobId(BlobError, ValueError):
    """A blob id that is not a canonical UUID (and so might name a path outside the store)."""

    code: ClassVar[str] = "blob.invalid_id"


class BlobNotFound(BlobError):
    code: ClassVar[str] = "blob.not_found"


class BlobExists(BlobError):
    """Blobs are written once: a new version of a document is a new blob with a new id."""

    code: ClassVar[str] = "blob.exists"

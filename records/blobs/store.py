"""Where encrypted blobs live: the :class:`BlobStore` interface and its local-filesystem implementation.

A store receives plaintext chunks and a data key, and keeps only ciphertext (records.blobs.stream); the
caller keeps the wrapped data key and the returned :class:`BlobInfo` in the database. An S3-compatible
store can implement the same protocol later (multipart upload committed at the end, ranged GETs).

The methods are synchronous and do blocking file I/O and crypto: the service layer calls them in a thread
(``asyncio.to_thread`` / the loop's executor), never on the event loop.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from uuid import UUID

from records.blobs.errors import BlobExists, BlobNotFound, InvalidBlobId
from records.blobs.stream import SEGMENT_SIZE, Chunk, decrypt, decrypt_range, encrypt
from records.crypto.envelope import DataKey, Place

#: Bytes read from disk at a time when streaming a whole blob.
READ_SIZE = 1024 * 1024
_TEMP_SUFFIX = ".tmp"


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What to record beside the blob: plaintext length and SHA-256 (hex), and the stored size."""

    length: int
    sha256: str
    ciphertext_length: int


class BlobStore(Protocol):
    """Write-once storage of encrypted blobs, addressed by UUID."""

    def put(self, blob_id: UUID | str, dek: DataKey, place: Place, chunks: Iterable[Chunk]) -> BlobInfo:
        """Encrypt and store ``chunks`` atomically: afterwards the blob is complete, or absent if anything
        (the source included) raised. Raises BlobExists if the id is taken."""
        ...

    def open(self, blob_id: UUID | str, dek: DataKey, place: Place) -> Iterator[bytes]:
        """The plaintext, verified segment by segment (see records.blobs.stream on late failures).
        Raises BlobNotFound at once; IntegrityError / MalformedCiphertext while iterating."""
        ...

    def read_range(
        self, blob_id: UUID | str, dek: DataKey, place: Place, start: int, end: int
    ) -> Iterator[bytes]:
        """Plaintext bytes ``[start, end)``, clamped to the blob, decrypting only the segments needed."""
        ...

    def delete(self, blob_id: UUID | str) -> bool:
        """Remove the blob; whether it existed (so a retention job can run twice)."""
        ...

    def exists(self, blob_id: UUID | str) -> bool: ...


def parse_blob_id(value: UUID | str) -> UUID:
    """A blob id as a UUID; a string must be the canonical lowercase hyphenated form, nothing else."""
    if isinstance(value, UUID):
        return value
    try:
        parsed = UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise InvalidBlobId from None
    if str(parsed) != value:
        raise InvalidBlobId
    return parsed


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class LocalBlobStore:
    """Blobs as files ``root/ab/cd/<uuid>`` (``abcd`` = the id's first hex digits, so no directory holds
    more than a few thousand files), written to a temporary file in the same directory, fsynced, then
    renamed over, and the directory fsynced: a crash leaves the old state or the new, never half a blob
    under its name. Files are created with mode 0600."""

    __slots__ = ("_root", "_segment_size")

    def __init__(self, root: Path, *, segment_size: int = SEGMENT_SIZE) -> None:
        self._root = root
        self._segment_size = segment_size

    @property
    def root(self) -> Path:
        return self._root

    def path_of(self, blob_id: UUID | str) -> Path:
        """The file of ``blob_id``; only a valid UUID can name one, so no path leaves the root."""
        parsed = parse_blob_id(blob_id)
        return self._root / parsed.hex[:2] / parsed.hex[2:4] / str(parsed)

    def _make_directories(self, directory: Path) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        for level in (directory.parent, directory):
            try:
                level.mkdir()
            except FileExistsError:
                continue
            _fsync_directory(level.parent)

    def put(self, blob_id: UUID | str, dek: DataKey, place: Place, chunks: Iterable[Chunk]) -> BlobInfo:
        path = self.path_of(blob_id)
        # Ids are fresh UUIDs: this guards against a caller's mistake, not against a concurrent writer.
        if path.exists():
            raise BlobExists
        self._make_directories(path.parent)
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent
        )
        digest = hashlib.sha256()
        length = 0

        def hashed() -> Iterator[Chunk]:
            nonlocal length
            for chunk in chunks:
                digest.update(chunk)
                length += memoryview(chunk).nbytes
                yield chunk

        written = 0
        try:
            with os.fdopen(descriptor, "wb") as out:
                for piece in encrypt(dek, place, hashed(), segment_size=self._segment_size):
                    out.write(piece)
                    written += len(piece)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(path.parent)
        return BlobInfo(length, digest.hexdigest(), written)

    def _open_file(self, blob_id: UUID | str) -> BinaryIO:
        try:
            return self.path_of(blob_id).open("rb")
        except FileNotFoundError:
            raise BlobNotFound from None

    def open(self, blob_id: UUID | str, dek: DataKey, place: Place) -> Iterator[bytes]:
        file = self._open_file(blob_id)

        def plaintext() -> Iterator[bytes]:
            with file:
                yield from decrypt(dek, place, iter(lambda: file.read(READ_SIZE), b""))

        return plaintext()

    def read_range(
        self, blob_id: UUID | str, dek: DataKey, place: Place, start: int, end: int
    ) -> Iterator[bytes]:
        file = self._open_file(blob_id)

        def plaintext() -> Iterator[bytes]:
            with file:
                descriptor = file.fileno()

                def read_at(offset: int, size: int) -> bytes:
                    return os.pread(descriptor, size, offset)

                yield from decrypt_range(dek, place, read_at, os.fstat(descriptor).st_size, start, end)

        return plaintext()

    def delete(self, blob_id: UUID | str) -> bool:
        path = self.path_of(blob_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_directory(path.parent)
        return True

    def exists(self, blob_id: UUID | str) -> bool:
        return self.path_of(blob_id).is_file()

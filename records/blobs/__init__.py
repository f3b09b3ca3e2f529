"""Encrypted blob store: photos, documents, PDFs and recordings, encrypted in segments under a data key.

Pure library: no aiohttp, no SQLAlchemy. See docs/adr/0008-encrypted-blobs.md.
"""

from records.blobs.errors import BlobError, BlobExists, BlobNotFound, InvalidBlobId
from records.blobs.store import BlobInfo, BlobStore, LocalBlobStore, parse_blob_id
from records.blobs.stream import (
    SEGMENT_SIZE,
    Decryptor,
    Encryptor,
    ciphertext_length,
    decrypt,
    decrypt_async,
    decrypt_range,
    encrypt,
    encrypt_async,
)

__all__ = [
    "SEGMENT_SIZE",
    "BlobError",
    "BlobExists",
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "Decryptor",
    "Encryptor",
    "InvalidBlobId",
    "LocalBlobStore",
    "ciphertext_length",
    "decrypt",
    "decrypt_async",
    "decrypt_range",
    "encrypt",
    "encrypt_async",
    "parse_blob_id",
]

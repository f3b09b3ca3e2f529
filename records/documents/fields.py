"""How a document's health data is sealed: its own data key (one per document, so that one document can be
crypto-shredded alone), its title and original file name sealed like a resident's fields (bound to table,
column, document id and EHPAD id), and its content encrypted as a blob bound to the same document."""

from __future__ import annotations

from uuid import UUID

from records.crypto import DataKey, Place, RecordRef, open_sealed, seal

TABLE = "resident_documents"
SEALED_COLUMNS = ("title", "file_name")
CONTENT_COLUMN = "content"


def record_ref(document_id: UUID, ehpad_id: UUID) -> RecordRef:
    return RecordRef(TABLE, str(document_id), str(ehpad_id))


def content_place(document_id: UUID, ehpad_id: UUID) -> Place:
    """The associated data of the document's blob: another document's blob fails to decrypt here."""
    return record_ref(document_id, ehpad_id).place(CONTENT_COLUMN)


def seal_fields(
    dek: DataKey, document_id: UUID, ehpad_id: UUID, title: str, file_name: str
) -> dict[str, bytes]:
    ref = record_ref(document_id, ehpad_id)
    values = {"title": title, "file_name": file_name}
    return {column: seal(dek, values[column].encode("utf-8"), ref.place(column)) for column in SEALED_COLUMNS}


def open_fields(dek: DataKey, document_id: UUID, ehpad_id: UUID, sealed: dict[str, bytes]) -> dict[str, str]:
    """Column -> plaintext; raises IntegrityError / MalformedCiphertext, never partial data."""
    ref = record_ref(document_id, ehpad_id)
    return {
        column: open_sealed(dek, sealed[column], ref.place(column)).decode("utf-8")
        for column in SEALED_COLUMNS
    }

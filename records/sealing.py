"""How the other packages (scheduling, reports) keep health fields: sealed under the resident's dossier key.

A resident's dossier (identity, appointments, requests, reports) shares the resident's data key, so that
crypto-shredding one dossier is destroying one key; each value is still bound by its associated data to
its exact place (table, column, row id, EHPAD), so a ciphertext copied to another row, column or dossier
fails to open. See docs/adr/0011-dossier-keys.md.

Only services call this, after the access policy has allowed the use case that needs the key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from records.crypto import CryptoError, DataKey, RecordRef, open_fields, seal_fields
from records.residents.model import UnreadableRecord

log = logging.getLogger("teleconsult.records.sealing")


@dataclass(frozen=True, slots=True)
class DossierKey:
    """The opened data key of one resident's dossier. Never logged, never stored unwrapped."""

    resident_id: UUID
    ehpad_id: UUID
    dek: DataKey

    def __repr__(self) -> str:
        return f"DossierKey(resident_id={self.resident_id})"

    def _record(self, table: str, record_id: UUID) -> RecordRef:
        return RecordRef(table, str(record_id), str(self.ehpad_id))

    def seal(self, table: str, record_id: UUID, values: Mapping[str, str]) -> dict[str, bytes]:
        """Column -> ciphertext of each value, bound to (table, column, record_id, EHPAD)."""
        plain = {column: value.encode("utf-8") for column, value in values.items()}
        return seal_fields(self.dek, self._record(table, record_id), plain)

    def open(self, table: str, record_id: UUID, sealed: Mapping[str, bytes]) -> dict[str, str]:
        """The values back, all or nothing: raises UnreadableRecord (and logs, without data)."""
        try:
            opened = open_fields(self.dek, self._record(table, record_id), sealed)
            return {column: value.decode("utf-8") for column, value in opened.items()}
        except CryptoError as exc:
            log.error("sealed record unreadable", extra={"code": exc.code, "table": table})
            raise UnreadableRecord() from exc

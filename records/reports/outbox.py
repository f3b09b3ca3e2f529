"""Sending a final report to the treating physician: an interface, and the outbox that stands in for it.

Secure health messaging (MSSanté) and the shared medical record (DMP) are later work. Until then the
:class:`FileOutbox` appends one JSON line per report that would be sent: ids and times only (the PDF itself
stays encrypted in the blob store), so the file holds no health data and shows what a sender will have to do.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from uuid import UUID

from records.reports.model import ReportKind


@dataclass(frozen=True, slots=True)
class OutgoingReport:
    """``report_id`` is the report's id, or for a tele-expertise answer its request's (``kind``)."""

    report_id: UUID
    resident_id: UUID
    ehpad_id: UUID
    document_id: UUID  # the encrypted PDF
    at: datetime
    kind: ReportKind = ReportKind.TELECONSULTATION


class Outbox(Protocol):
    async def send(self, message: OutgoingReport) -> None: ...


class FileOutbox:
    """Appends what would be sent to ``path``, one JSON line each (to the treating physician)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _append(self, line: str) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    async def send(self, message: OutgoingReport) -> None:
        line = json.dumps(
            {
                "to": "treating_physician",
                "channel": "mssante (not connected)",
                "kind": message.kind.value,
                "report_id": str(message.report_id),
                "resident_id": str(message.resident_id),
                "ehpad_id": str(message.ehpad_id),
                "document_id": str(message.document_id),
                "at": message.at.isoformat(),
            }
        )
        await asyncio.to_thread(self._append, line)

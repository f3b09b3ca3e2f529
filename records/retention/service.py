"""Use cases of retention, for the host's operator (``teleconsult retention run [--dry-run]``): find what
has been kept for its whole period and delete it, or crypto-shred it when it is health data.

Each kind of data has a :class:`Purger`. A medical record is crypto-shredded: its data key is deleted
(every copy of its ciphertext, backups included, becomes unreadable), then its rows, one audit event per
record. Afterwards the freed space is scrubbed (teleconsult.db.scrub_deleted) so that the database files
keep no copy of the deleted wrapped keys. Recordings will plug in as one more Purger with the video work;
none exists yet, so their period (``retention_recordings_days``) is not applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from records.audit.model import Outcome
from records.blobs import BlobStore
from records.residents.service import residents_inactive_since, shred_residents
from records.retention.model import RetentionKind, RetentionPeriods, RetentionResult
from teleconsult.db import UnitOfWork
from teleconsult.identity.service.sessions import purge_technical_data
from teleconsult.identity.service.trail import audit

DEFAULT_BATCH_SIZE = 200
#: At most this many ids are listed by a dry run (the count is always exact).
DRY_RUN_IDS = 1000


class Purger(Protocol):
    """One kind of data under retention."""

    @property
    def kind(self) -> RetentionKind: ...

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables it deletes from, scrubbed afterwards."""
        ...

    async def purge(
        self,
        new_uow: Callable[[], UnitOfWork],
        cutoff: datetime,
        now: datetime,
        *,
        dry_run: bool,
        batch_size: int,
    ) -> RetentionResult:
        """Remove what is due (its last activity is before ``cutoff``), in transactions of at most
        ``batch_size`` items; ``dry_run`` changes nothing and says what would be removed."""
        ...


class MedicalRecords:
    """Residents' records: crypto-shredded 20 years (by default) after their last activity."""

    kind = RetentionKind.MEDICAL_RECORDS
    tables = ("data_keys", "residents", "resident_name_tokens")

    async def purge(
        self,
        new_uow: Callable[[], UnitOfWork],
        cutoff: datetime,
        now: datetime,
        *,
        dry_run: bool,
        batch_size: int,
    ) -> RetentionResult:
        if dry_run:
            count, ids = await residents_inactive_since(new_uow(), cutoff, DRY_RUN_IDS)
            return RetentionResult(self.kind, cutoff, {"records": count}, tuple(str(i) for i in ids))
        shredded: list[str] = []
        while True:
            _, due = await residents_inactive_since(new_uow(), cutoff, batch_size)
            done = await shred_residents(new_uow(), due, now) if due else []
            if not done:  # nothing due, or what was due is gone already (another run): stop
                break
            shredded += (str(i) for i in done)
        return RetentionResult(self.kind, cutoff, {"records": len(shredded)}, tuple(shredded))


class TechnicalData:
    """Sessions and login counters: deleted 12 months (by default) after their last use."""

    kind = RetentionKind.TECHNICAL_DATA
    tables = ("sessions", "login_throttle")

    async def purge(
        self,
        new_uow: Callable[[], UnitOfWork],
        cutoff: datetime,
        now: datetime,
        *,
        dry_run: bool,
        batch_size: int,
    ) -> RetentionResult:
        # Small rows that nobody reads: one transaction, whatever the batch size.
        done = await purge_technical_data(new_uow(), cutoff, now, dry_run=dry_run)
        return RetentionResult(
            self.kind, cutoff, {"sessions": done.sessions, "login_counters": done.login_counters}
        )


class Recordings:
    """Call recordings: crypto-shredded ``retention_recordings_days`` after they were made (their data keys
    and rows deleted, so every copy of their blobs is unreadable), and their blob files deleted when a
    blob store is given (``teleconsult retention run`` should pass the configured one)."""

    kind = RetentionKind.RECORDINGS
    tables = ("data_keys", "recordings")

    def __init__(self, blobs: BlobStore | None = None) -> None:
        self._blobs = blobs

    async def purge(
        self,
        new_uow: Callable[[], UnitOfWork],
        cutoff: datetime,
        now: datetime,
        *,
        dry_run: bool,
        batch_size: int,
    ) -> RetentionResult:
        from signalling.recordings_store import RecordingStore  # signalling owns the table

        if dry_run:
            async with new_uow().reading() as uow:
                count, due = await uow.store(RecordingStore).started_before(cutoff, DRY_RUN_IDS)
            return RetentionResult(self.kind, cutoff, {"recordings": count}, tuple(str(i) for i, _ in due))
        removed: list[str] = []
        while True:
            async with new_uow() as uow:
                _, due = await uow.store(RecordingStore).started_before(cutoff, batch_size)
                if not due:
                    break
                await uow.store(RecordingStore).delete([recording_id for recording_id, _ in due])
                for recording_id, _ in due:
                    await audit(
                        uow,
                        now,
                        "recording.retention",
                        Outcome.SUCCESS,
                        None,
                        None,
                        "recording",
                        recording_id,
                    )
                await uow.commit()
            removed += (str(recording_id) for recording_id, _ in due)
            if self._blobs is not None:
                for _, blob_id in due:
                    if blob_id is not None:
                        await asyncio.to_thread(self._blobs.delete, blob_id)
        return RetentionResult(self.kind, cutoff, {"recordings": len(removed)}, tuple(removed))


#: The kinds applied by ``teleconsult retention run``, in this order.
PURGERS: tuple[Purger, ...] = (MedicalRecords(), TechnicalData(), Recordings())


async def run_retention(
    new_uow: Callable[[], UnitOfWork],
    periods: RetentionPeriods,
    now: datetime,
    *,
    dry_run: bool,
    batch_size: int = DEFAULT_BATCH_SIZE,
    purgers: Sequence[Purger] = PURGERS,
) -> list[RetentionResult]:
    """Apply every purger with its period. The caller scrubs the freed space afterwards
    (:func:`tables_to_scrub`) when something was removed."""
    return [
        await purger.purge(
            new_uow, periods.cutoff(purger.kind, now), now, dry_run=dry_run, batch_size=batch_size
        )
        for purger in purgers
    ]


def tables_to_scrub(results: Sequence[RetentionResult], purgers: Sequence[Purger] = PURGERS) -> list[str]:
    """The tables of the kinds that removed something."""
    removed = {result.kind for result in results if result.total}
    return [table for purger in purgers if purger.kind in removed for table in purger.tables]

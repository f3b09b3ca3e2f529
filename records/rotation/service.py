"""Use cases of key rotation, for the host's operator (``teleconsult keys rotate | rewrap | status``): no
user and no access policy, as for the key file itself. Each job's start and end are audited (the job's
id only; its counts are in its ``key_rotations`` row).

The job runs while the service serves: every batch is one short write transaction, and readers never
wait for the job on PostgreSQL (they read the committed wrapped key, old or new, and the keyring of a
running service holds both KEKs, see records.crypto.ReloadingKeyring). On SQLite the batches take the
database's write lock in turn with the service's writers; the pause between batches lets them in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from records.audit.service import record_event
from records.crypto import KeyProvider, KeyringStatus
from records.crypto.rotation import (
    KekUsage,
    RotationProgress,
    UnfinishedRotation,
    kek_usage,
    rewrap_batch,
)
from records.rotation.store import RotationStore
from teleconsult.clock import Clock
from teleconsult.db import UnitOfWork

OBJECT_TYPE = "key_rotation"
DEFAULT_BATCH_SIZE = 500
#: Seconds between two batches, so that the service's writers get SQLite's write lock in between.
DEFAULT_PAUSE = 0.02


@dataclass(frozen=True, slots=True)
class KeysReport:
    """What ``teleconsult keys status`` shows beside the key file: data keys per KEK, unfinished job."""

    usage: list[KekUsage]
    unfinished: RotationProgress | None


async def _audit(
    uow: UnitOfWork, now: datetime, action: str, outcome: Outcome, job: RotationProgress
) -> None:
    await record_event(
        uow, at=now, action=action, outcome=outcome, object_type=OBJECT_TYPE, object_id=str(job.id)
    )


async def keys_report(uow: UnitOfWork, status: KeyringStatus) -> KeysReport:
    """How many data keys each KEK wraps, and the unfinished re-wrap job if there is one."""
    async with uow.reading():
        store = uow.store(RotationStore)
        return KeysReport(kek_usage(status, await store.count_by_kek()), await store.unfinished())


async def refuse_if_unfinished(uow: UnitOfWork) -> None:
    """Raises UnfinishedRotation if a re-wrap job has not finished (before adding a new KEK)."""
    async with uow.reading():
        job = await uow.store(RotationStore).unfinished()
    if job is not None:
        raise UnfinishedRotation(job.id, job.target_kek_id)


async def begin_rewrap(uow: UnitOfWork, provider: KeyProvider, now: datetime) -> RotationProgress:
    """The unfinished job that re-wraps to the provider's current KEK, to resume; else a new job (audited
    ``keys.rewrap.start``). An unfinished job for another KEK (the keyring changed under it) is closed
    first, audited ``keys.rewrap.end`` with outcome failure."""
    target = provider.current_kek_id()
    async with uow:
        store = uow.store(RotationStore)
        job = await store.unfinished(lock=True)
        if job is not None and job.target_kek_id == target:
            return job
        if job is not None:
            closed = job.finished(now)
            await store.save(closed)
            await _audit(uow, now, "keys.rewrap.end", Outcome.FAILURE, closed)
        job = RotationProgress.start(uuid.uuid4(), target, now)
        await store.add(job)
        await _audit(uow, now, "keys.rewrap.start", Outcome.SUCCESS, job)
        await uow.commit()
    return job


async def rewrap_next_batch(
    uow: UnitOfWork, provider: KeyProvider, job_id: UUID, batch_size: int, now: datetime
) -> RotationProgress:
    """Re-wrap the next ``batch_size`` data keys of the job and save its progress, in one transaction.
    The last batch finishes the job (audited ``keys.rewrap.end``). Raises a RotationError (MissingKek...)
    and saves nothing of the batch when a key cannot be re-wrapped."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    async with uow:
        store = uow.store(RotationStore)
        job = await store.get(job_id, lock=True)
        if job is None:
            raise LookupError(f"no re-wrap job {job_id}")
        if job.is_finished:
            return job
        batch = rewrap_batch(provider, job.target_kek_id, await store.keys_after(job.last_key_id, batch_size))
        rewritten = 0
        for item in batch.rewrapped:
            rewritten += await store.replace_wrapped(item.id, item.old_kek_id, item.wrapped)
        job = job.after(batch, rewritten, batch_size, now)
        await store.save(job)
        if job.is_finished:
            await _audit(uow, now, "keys.rewrap.end", Outcome.SUCCESS, job)
        await uow.commit()
    return job


async def rewrap_all(
    new_uow: Callable[[], UnitOfWork],
    provider: KeyProvider,
    clock: Clock,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[RotationProgress], None] | None = None,
    pause: float = DEFAULT_PAUSE,
) -> RotationProgress:
    """Run (or resume) the re-wrap of every data key to the provider's current KEK until it finishes.
    ``on_batch`` sees the progress after each saved batch. Stops with a RotationError, progress kept."""
    job = await begin_rewrap(new_uow(), provider, clock.now())
    while not job.is_finished:
        job = await rewrap_next_batch(new_uow(), provider, job.id, batch_size, clock.now())
        if on_batch is not None:
            on_batch(job)
        if pause and not job.is_finished:
            await asyncio.sleep(pause)
    return job

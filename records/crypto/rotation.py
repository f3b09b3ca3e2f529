"""Key rotation, the pure part: re-wrap a batch of stored data keys under the target KEK, and the job's
progress as a value. No I/O: records/rotation reads the batches, writes the results and the progress.

A rotation job walks every data key in a stable order (by id), a batch at a time; each batch is re-wrapped
here then saved with the job's new progress in one short transaction, so a job killed at any moment
resumes after the last saved batch. Only the wrapped form changes: the data key itself, and so every
ciphertext sealed under it, stay as they are. A key already under the target KEK is skipped, so running a
batch twice does no harm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from records.crypto.envelope import RecordRef, rewrap
from records.crypto.errors import CryptoError, UnknownKey
from records.crypto.keyring import KeyProvider, KeyringStatus, WrappedKey


class RotationError(Exception):
    """Base of the errors that stop a rotation job. The message is for the operator: it names KEK and
    data-key ids (never key material nor health data). The job's saved progress is kept."""

    code: ClassVar[str] = "rotation.error"


class MissingKek(RotationError):
    """A data key is wrapped by a KEK that the keyring does not hold: it cannot be re-wrapped (nor read)."""

    code: ClassVar[str] = "rotation.missing_kek"

    def __init__(self, kek_id: str) -> None:
        super().__init__(f"KEK {kek_id} wraps data keys but is not in the keyring")
        self.kek_id = kek_id


class UnreadableDataKey(RotationError):
    """A stored data key does not unwrap (altered, malformed, or bound to another record)."""

    code: ClassVar[str] = "rotation.unreadable_key"

    def __init__(self, key_id: UUID, reason: str) -> None:
        super().__init__(f"data key {key_id} cannot be unwrapped ({reason})")
        self.key_id = key_id
        self.reason = reason


class OrphanDataKey(RotationError):
    """A data key that no record owns: its associated data (the record's identity) is unknown."""

    code: ClassVar[str] = "rotation.orphan_key"

    def __init__(self, key_id: UUID) -> None:
        super().__init__(f"data key {key_id} belongs to no record")
        self.key_id = key_id


class TargetChanged(RotationError):
    """The keyring's current KEK is no longer the one the job re-wraps to (another rotation happened)."""

    code: ClassVar[str] = "rotation.target_changed"

    def __init__(self, target_kek_id: str, current_kek_id: str) -> None:
        super().__init__(f"the job re-wraps to KEK {target_kek_id} but the current KEK is {current_kek_id}")
        self.target_kek_id = target_kek_id
        self.current_kek_id = current_kek_id


class UnfinishedRotation(RotationError):
    """A new rotation must wait until the unfinished re-wrap job has finished (``teleconsult keys rewrap``):
    re-wrapping to two KEKs at once would never end."""

    code: ClassVar[str] = "rotation.unfinished"

    def __init__(self, job_id: UUID, target_kek_id: str) -> None:
        super().__init__(f"re-wrap job {job_id} (to KEK {target_kek_id}) has not finished")
        self.job_id = job_id
        self.target_kek_id = target_kek_id


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A data key as stored: its id, its wrapped form, and the record that owns it (None: no owner)."""

    id: UUID
    wrapped: bytes
    record: RecordRef | None


@dataclass(frozen=True, slots=True)
class Rewrapped:
    """The new wrapped form of one data key; ``old_kek_id`` lets the store refuse a concurrent change."""

    id: UUID
    old_kek_id: str
    wrapped: WrappedKey


@dataclass(frozen=True, slots=True)
class BatchResult:
    rewrapped: tuple[Rewrapped, ...]
    skipped: int
    last_key_id: UUID | None  # the greatest id of the batch; None for an empty batch
    size: int  # how many keys the batch read


def rewrap_batch(provider: KeyProvider, target_kek_id: str, keys: Sequence[StoredKey]) -> BatchResult:
    """Re-wrap under ``target_kek_id`` (which must be the provider's current KEK) every key of ``keys`` not
    already under it. Raises MissingKek, UnreadableDataKey, OrphanDataKey or TargetChanged; then nothing
    of the batch is to be saved."""
    current = provider.current_kek_id()
    if current != target_kek_id:
        raise TargetChanged(target_kek_id, current)
    done: list[Rewrapped] = []
    skipped = 0
    for key in keys:
        try:
            wrapped = WrappedKey.from_bytes(key.wrapped)
        except CryptoError as exc:
            raise UnreadableDataKey(key.id, exc.code) from exc
        if wrapped.kek_id == target_kek_id:
            skipped += 1
            continue
        if key.record is None:
            raise OrphanDataKey(key.id)
        try:
            done.append(Rewrapped(key.id, wrapped.kek_id, rewrap(provider, wrapped, key.record)))
        except UnknownKey as exc:
            raise MissingKek(wrapped.kek_id) from exc
        except CryptoError as exc:
            raise UnreadableDataKey(key.id, exc.code) from exc
    return BatchResult(tuple(done), skipped, max((key.id for key in keys), default=None), len(keys))


@dataclass(frozen=True, slots=True)
class RotationProgress:
    """A re-wrap job: where it is (the last data key id it processed) and what it did so far."""

    id: UUID
    target_kek_id: str
    last_key_id: UUID | None
    rewrapped: int
    skipped: int
    batches: int
    started_at: datetime
    finished_at: datetime | None = None

    @classmethod
    def start(cls, job_id: UUID, target_kek_id: str, now: datetime) -> RotationProgress:
        return cls(job_id, target_kek_id, None, 0, 0, 0, now)

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    @property
    def processed(self) -> int:
        return self.rewrapped + self.skipped

    def after(self, batch: BatchResult, rewritten: int, batch_size: int, now: datetime) -> RotationProgress:
        """The progress once ``batch`` is saved (``rewritten`` of its keys were still there to update); a
        batch shorter than ``batch_size`` was the last one, so the job is finished."""
        return replace(
            self,
            last_key_id=batch.last_key_id or self.last_key_id,
            rewrapped=self.rewrapped + rewritten,
            skipped=self.skipped + batch.skipped + (len(batch.rewrapped) - rewritten),
            batches=self.batches + 1,
            finished_at=now if batch.last_key_id is None or batch.size < batch_size else None,
        )

    def finished(self, now: datetime) -> RotationProgress:
        return replace(self, finished_at=now)


@dataclass(frozen=True, slots=True)
class KekUsage:
    """How many data keys one KEK wraps; ``in_keyring`` False means those keys cannot be read."""

    kek_id: str
    version: int | None
    is_current: bool
    in_keyring: bool
    data_keys: int

    @property
    def may_be_removed(self) -> bool:
        return self.in_keyring and not self.is_current and self.data_keys == 0


def kek_usage(status: KeyringStatus, counts: Mapping[str, int]) -> list[KekUsage]:
    """Every KEK of the keyring (by version) with the number of data keys it wraps, then any KEK id the
    database uses that the keyring lacks."""
    known = {kek.id for kek in status.keks}
    usage = [KekUsage(k.id, k.version, k.is_current, True, counts.get(k.id, 0)) for k in status.keks]
    usage += [
        KekUsage(kek_id, None, False, False, count)
        for kek_id, count in sorted(counts.items())
        if kek_id not in known and count
    ]
    return usage

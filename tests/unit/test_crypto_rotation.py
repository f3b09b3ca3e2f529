"""records.crypto.rotation: batches re-wrapped under the target KEK, progress, usage; and the reloading
keyring a running service uses during a rotation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from records.crypto import (
    LocalKeyring,
    RecordRef,
    ReloadingKeyring,
    UnknownKey,
    WrappedKey,
    generate_key_file,
    new_data_key,
    open_data_key,
    rotate_key_file,
)
from records.crypto.rotation import (
    MissingKek,
    OrphanDataKey,
    RotationProgress,
    StoredKey,
    TargetChanged,
    UnreadableDataKey,
    kek_usage,
    rewrap_batch,
)

NOW = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)


def stored(keyring: LocalKeyring, ref: RecordRef) -> StoredKey:
    return StoredKey(uuid.UUID(ref.record_id), new_data_key(keyring, ref)[1].to_bytes(), ref)


def ref() -> RecordRef:
    return RecordRef("residents", str(uuid.uuid4()), str(uuid.uuid4()))


def test_a_batch_moves_old_keys_to_the_target_skips_current_ones_and_keeps_the_data_key() -> None:
    old = LocalKeyring.generate(now=NOW)
    new = old.rotated(now=NOW)
    first, second = ref(), ref()
    keys = [stored(old, first), stored(new, second)]
    result = rewrap_batch(new, new.current_kek_id(), keys)
    assert result.skipped == 1 and result.size == 2
    assert result.last_key_id == max(k.id for k in keys)
    (moved,) = result.rewrapped
    assert moved.old_kek_id == old.current_kek_id() and moved.wrapped.kek_id == new.current_kek_id()
    before = open_data_key(old, WrappedKey.from_bytes(keys[0].wrapped), first)
    assert open_data_key(new, moved.wrapped, first) == before


def test_a_batch_stops_on_a_missing_kek_an_orphan_a_bad_key_or_a_changed_target() -> None:
    stray = LocalKeyring.generate(now=NOW)
    keyring = LocalKeyring.generate(now=NOW).rotated(now=NOW)
    target = keyring.current_kek_id()
    with pytest.raises(MissingKek) as missing:
        rewrap_batch(keyring, target, [stored(stray, ref())])
    assert missing.value.kek_id == stray.current_kek_id()
    orphan = StoredKey(uuid.uuid4(), stored(stray, ref()).wrapped, None)
    with pytest.raises(OrphanDataKey):
        rewrap_batch(keyring, target, [orphan])
    with pytest.raises(UnreadableDataKey):
        rewrap_batch(keyring, target, [StoredKey(uuid.uuid4(), b"\x00garbage", ref())])
    with pytest.raises(TargetChanged):
        rewrap_batch(keyring, "someoneelse", [])


def test_progress_finishes_on_a_short_batch_and_counts_keys_gone_meanwhile_as_skipped() -> None:
    keyring = LocalKeyring.generate(now=NOW)
    new = keyring.rotated(now=NOW)
    job = RotationProgress.start(uuid.uuid4(), new.current_kek_id(), NOW)
    full = rewrap_batch(new, new.current_kek_id(), [stored(keyring, ref()) for _ in range(3)])
    job = job.after(full, rewritten=2, batch_size=3, now=NOW)
    assert (job.rewrapped, job.skipped, job.batches, job.is_finished) == (2, 1, 1, False)
    job = job.after(rewrap_batch(new, new.current_kek_id(), []), rewritten=0, batch_size=3, now=NOW)
    assert job.is_finished and job.last_key_id == full.last_key_id and job.processed == 3


def test_usage_lists_every_kek_and_the_ones_the_keyring_lacks() -> None:
    keyring = LocalKeyring.generate(now=NOW).rotated(now=NOW)
    old, current = (k.id for k in keyring.status().keks)
    usage = kek_usage(keyring.status(), {current: 5, "ghost": 2})
    assert [(u.kek_id, u.data_keys, u.in_keyring) for u in usage] == [
        (old, 0, True),
        (current, 5, True),
        ("ghost", 2, False),
    ]
    assert [u.kek_id for u in usage if u.may_be_removed] == [old]


def test_the_reloading_keyring_learns_a_new_kek_from_the_file_when_it_meets_one(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    generate_key_file(path, now=NOW)
    service = ReloadingKeyring(lambda: LocalKeyring.from_file(path))
    rotate_key_file(path, now=NOW)
    record = ref()
    dek, wrapped = new_data_key(LocalKeyring.from_file(path), record)
    assert service.current_kek_id() != wrapped.kek_id
    assert open_data_key(service, wrapped, record) == dek
    assert service.current_kek_id() == wrapped.kek_id
    stray = new_data_key(LocalKeyring.generate(now=NOW), record)[1]
    for _ in range(2):  # the second time without reading the file again
        with pytest.raises(UnknownKey):
            open_data_key(service, stray, record)

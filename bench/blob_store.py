"""Cost of the encrypted blob store: write then read a 256 MiB file through LocalBlobStore (segmented
AES-256-GCM, SHA-256 of the plaintext, temp file + fsync + rename, then a full verified read) against
cryptography's AESGCM encrypting then decrypting the same 256 MiB in memory, in one shot (the baseline).
Rounds alternate baseline and store; the figure is the median of the per-pair throughput ratios.
Then the peak RSS growth (VmHWM) while storing a generated 1 GiB stream, measured first, before the
256 MiB buffers exist.

Goal: store throughput >= 0.6 x baseline; peak RSS growth < 64 MiB. Files live in a temporary directory,
deleted as the bench goes.

    .venv/bin/python bench/blob_store.py
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/blob_store.py` puts bench/ first on sys.path, where bench/http.py would hide the standard
# library's http: put the repository root there instead.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import gc  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from bench._common import median, result_line  # noqa: E402
from records.blobs.store import LocalBlobStore  # noqa: E402
from records.crypto import aead  # noqa: E402
from records.crypto.envelope import DataKey, RecordRef  # noqa: E402

MIB = 1024 * 1024
FILE_SIZE = 256 * MIB
BIG_STREAM = 1024 * MIB
CHUNK = 1 * MIB  # what an upload handler would hand over at a time
ROUNDS = 5  # of each kind, interleaved
TARGET_RATIO = 0.6
TARGET_GROWTH_MIB = 64.0

PLACE = RecordRef("documents", "00000000-0000-4000-8000-00000000b10b", "ehpad-bench").place("content")


def vm_hwm_kib() -> int:
    """Peak resident set size of this process so far (Linux /proc/self/status VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def chunks_of(data: memoryview) -> Iterator[memoryview]:
    for offset in range(0, len(data), CHUNK):
        yield data[offset : offset + CHUNK]


def generated(total: int) -> Iterator[bytes]:
    """``total`` bytes of a stream that never exists whole: fresh random 1 MiB pieces."""
    for _ in range(total // CHUNK):
        yield os.urandom(CHUNK)


def store_round(store: LocalBlobStore, dek: DataKey, data: bytes) -> float:
    blob_id = uuid.uuid4()
    started = time.perf_counter()
    info = store.put(blob_id, dek, PLACE, chunks_of(memoryview(data)))
    read = sum(len(piece) for piece in store.open(blob_id, dek, PLACE))
    elapsed = time.perf_counter() - started
    store.delete(blob_id)
    assert info.length == read == len(data)
    return elapsed


def baseline_round(key: bytes, data: bytes) -> float:
    cipher = AESGCM(key)
    nonce = aead.new_nonce()
    started = time.perf_counter()
    sealed = cipher.encrypt(nonce, data, None)
    opened = cipher.decrypt(nonce, sealed, None)
    elapsed = time.perf_counter() - started
    assert len(opened) == len(data)
    del sealed, opened
    return elapsed


def memory_growth_mib(store: LocalBlobStore, dek: DataKey) -> float:
    gc.collect()
    before = vm_hwm_kib()
    blob_id = uuid.uuid4()
    info = store.put(blob_id, dek, PLACE, generated(BIG_STREAM))
    after = vm_hwm_kib()
    store.delete(blob_id)
    assert info.length == BIG_STREAM
    return (after - before) / 1024


def main() -> None:
    dek = DataKey(aead.new_key())
    with tempfile.TemporaryDirectory(prefix="tc-bench-blobs-") as directory:
        store = LocalBlobStore(Path(directory))
        started = time.perf_counter()
        growth = memory_growth_mib(store, dek)
        print(
            f"stored a generated 1 GiB stream in {time.perf_counter() - started:.1f} s, "
            f"peak RSS growth {growth:.1f} MiB"
        )

        data = os.urandom(FILE_SIZE)
        key = aead.new_key()
        baseline_round(key, data)  # warm-up: first-touch page faults for both sides
        store_round(store, dek, data)
        ratios: list[float] = []
        for n in range(ROUNDS):
            base = baseline_round(key, data)
            through_store = store_round(store, dek, data)
            ratios.append(base / through_store)
            print(
                f"round {n + 1}: AESGCM in memory {2 * FILE_SIZE / MIB / base:.0f} MiB/s, "
                f"store write+read {2 * FILE_SIZE / MIB / through_store:.0f} MiB/s, ratio {ratios[-1]:.2f}"
            )
        assert not any(Path(directory).rglob("*.tmp")), "a temporary file was left behind"

    print(result_line("blob_store", "throughput_ratio", median(ratios), ">=", TARGET_RATIO))
    print(result_line("blob_store_memory", "peak_rss_growth_mib", growth, "<", TARGET_GROWTH_MIB))


if __name__ == "__main__":
    main()

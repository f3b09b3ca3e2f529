"""Throughput of an authenticated page against a bare aiohttp handler, on SQLite and on PostgreSQL.

Target: GET /api/v1/me with a session cookie, through every middleware of the real app (finds the
principal behind the session, asks the policy, answers from the user). The principal comes from the
database, then from the in-process principal cache (teleconsult/identity/principal_cache.py) for at most
its ttl (5 s) per session: the rounds measure what a busy user's requests cost, database read included
once per ttl. Baseline: a bare aiohttp "hello" handler (no
middleware) served by the same process and event loop on another port (bench/_http_server.py). Load comes
from this process over loopback: one keep-alive aiohttp ClientSession, a fixed number of workers, rounds
of fixed duration that alternate baseline and target; every response is checked.

Goal: target requests/s >= 0.25 x baseline requests/s (median of the per-pair ratios), on both backends.

    .venv/bin/python bench/http.py
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/http.py` puts bench/ first on sys.path, where this very file would hide the standard
# library's http (which aiohttp imports): put the repository root there instead.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import asyncio  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import aiohttp  # noqa: E402

from bench._common import (  # noqa: E402
    LOOPBACK,
    PG_ERRORS,
    REPO_ROOT,
    create_pg_database,
    drop_pg_database,
    log_in,
    median,
    migrate_and_seed,
    percentile,
    result_line,
    sqlite_url,
)
from teleconsult.identity.passwords import Passwords  # noqa: E402

CONCURRENCY = 16
ROUNDS = 5  # of each kind, interleaved
ROUND_SECONDS = 2.0
WARMUP_SECONDS = 1.0
MAX_REQUESTS_PER_ROUND = 50_000  # a bound even if the machine were suddenly very fast
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
SERVER_START_TIMEOUT = 60.0
BACKEND_TIMEOUT = 90.0
TARGET_RATIO = 0.25
SERVER_SCRIPT = Path(__file__).resolve().parent / "_http_server.py"


@dataclass(frozen=True, slots=True)
class Round:
    ok: int
    errors: int
    seconds: float
    latencies: list[float]
    first_error: str | None
    server_cpu: float = math.nan  # seconds of CPU the server process (all its threads) used

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu / self.ok * 1000 if self.ok else math.nan

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else math.nan

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000


@dataclass(frozen=True, slots=True)
class Outcome:
    ratio: float
    errors: int
    problem: str | None = None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (Linux /proc); nan elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load_round(
    client: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    expect: bytes,
    seconds: float,
    server_pid: int | None = None,
) -> Round:
    """CONCURRENCY workers send GETs back to back for ``seconds``; a response counts only when it is 200
    and its body holds ``expect``."""
    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline and len(latencies) + errors < MAX_REQUESTS_PER_ROUND:
            started = time.perf_counter()
            try:
                async with client.get(url, headers=headers) as response:
                    body = await response.read()
                    good = response.status == 200 and expect in body
                    problem = f"{response.status} {body[:120]!r}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                good, problem = False, f"{exc.__class__.__name__}: {exc}"
            if good:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
                if not first_error:
                    first_error.append(problem)

    cpu_before = process_cpu_seconds(server_pid) if server_pid else math.nan
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    cpu = (process_cpu_seconds(server_pid) if server_pid else math.nan) - cpu_before
    return Round(len(latencies), errors, elapsed, latencies, first_error[0] if first_error else None, cpu)


async def start_server(db_url: str, data_dir: Path) -> tuple[asyncio.subprocess.Process, int, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER_SCRIPT),
        "--db-url",
        db_url,
        "--data-dir",
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        cwd=str(REPO_ROOT),
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), SERVER_START_TIMEOUT)
        if not line.startswith(b"READY "):
            raise RuntimeError(f"server did not start: {line!r}")
        ports = json.loads(line.removeprefix(b"READY "))
        return process, int(ports["app_port"]), int(ports["hello_port"])
    except BaseException:
        await stop_server(process)
        raise


async def stop_server(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


async def measure(label: str, db_url: str, data_dir: Path, username: str) -> Outcome:
    process, app_port, hello_port = await start_server(db_url, data_dir)
    try:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=REQUEST_TIMEOUT
        ) as client:
            app_base = f"http://{LOOPBACK}:{app_port}"
            session = await log_in(client, app_base, username)
            kinds = {
                "baseline": (f"http://{LOOPBACK}:{hello_port}/", {}, b"hello"),
                "target": (
                    f"{app_base}/api/v1/me",
                    {"Cookie": f"tc_session={session.session_token}"},
                    f'"username": "{username}"'.encode(),
                ),
            }
            for url, headers, expect in kinds.values():  # warm up: connections, caches, pool
                await load_round(client, url, headers, expect, WARMUP_SECONDS)
            rounds: dict[str, list[Round]] = {"baseline": [], "target": []}
            ratios: list[float] = []
            for index in range(ROUNDS):
                order = ("baseline", "target") if index % 2 == 0 else ("target", "baseline")
                for kind in order:
                    url, headers, expect = kinds[kind]
                    rounds[kind].append(
                        await load_round(client, url, headers, expect, ROUND_SECONDS, process.pid)
                    )
                ratio = rounds["target"][-1].rps / rounds["baseline"][-1].rps
                ratios.append(ratio)
                print(
                    f"{label} pair {index + 1}: baseline {rounds['baseline'][-1].rps:7.0f} req/s, "
                    f"target {rounds['target'][-1].rps:7.0f} req/s, ratio {ratio:.3f}",
                    flush=True,
                )
    finally:
        await stop_server(process)
    errors = 0
    for kind, done in rounds.items():
        errors += sum(r.errors for r in done)
        every = [latency for r in done for latency in r.latencies]
        print(
            f"{label} {kind}: {median([r.rps for r in done]):.0f} req/s (median of {len(done)} rounds), "
            f"p50 {percentile(every, 50) * 1000:.1f} ms, p99 {percentile(every, 99) * 1000:.1f} ms "
            f"(median round p99 {median([r.p99_ms for r in done]):.1f} ms), "
            f"server CPU {median([r.server_cpu_ms_per_request for r in done]):.2f} ms/request, "
            f"{sum(r.ok for r in done)} ok, {sum(r.errors for r in done)} errors",
            flush=True,
        )
        for r in done:
            if r.first_error:
                print(f"{label} {kind}: first error: {r.first_error}", flush=True)
                break
    return Outcome(median(ratios), errors)


async def bench_sqlite() -> Outcome:
    with tempfile.TemporaryDirectory(prefix="tc_bench_http_") as tmp:
        directory = Path(tmp)
        url = sqlite_url(directory)
        # mode="test" serves with Passwords(fast=True): seed with the same parameters (no rehash on login).
        [username] = await migrate_and_seed(url, Passwords(fast=True))
        return await asyncio.wait_for(measure("sqlite", url, directory / "data", username), BACKEND_TIMEOUT)


async def bench_postgresql() -> Outcome:
    try:
        name, url = await create_pg_database()
    except PG_ERRORS as exc:
        return Outcome(math.nan, 0, f"PostgreSQL unreachable: {exc.__class__.__name__}: {exc}")
    try:
        with tempfile.TemporaryDirectory(prefix="tc_bench_http_") as tmp:
            [username] = await migrate_and_seed(url, Passwords(fast=True))
            return await asyncio.wait_for(
                measure("postgresql", url, Path(tmp) / "data", username), BACKEND_TIMEOUT
            )
    finally:
        await drop_pg_database(name)


def backend_result(name: str, bench: Outcome | None, error: BaseException | None) -> str:
    """The RESULT line of one backend, with the reason line before it when it could not be measured."""
    if error is not None:
        print(f"{name}: benchmark failed: {error.__class__.__name__}: {error}", flush=True)
        return result_line(name, "throughput_ratio", math.nan, ">=", TARGET_RATIO)
    assert bench is not None
    if bench.problem:
        print(f"{name}: {bench.problem}", flush=True)
    if bench.errors:
        print(f"{name}: {bench.errors} requests failed", flush=True)
    return result_line(
        name,
        "throughput_ratio",
        bench.ratio,
        ">=",
        TARGET_RATIO,
        ok=bench.ratio >= TARGET_RATIO and not bench.errors,
    )


async def main() -> None:
    print(
        f"http: {CONCURRENCY} keep-alive workers, {ROUNDS} interleaved {ROUND_SECONDS:g} s rounds per kind; "
        "baseline = bare aiohttp 'hello', target = GET /api/v1/me with a session",
        flush=True,
    )
    results: list[str] = []
    for name, bench in (("http_sqlite", bench_sqlite), ("http_postgresql", bench_postgresql)):
        try:
            outcome = await bench()
        except Exception as exc:
            results.append(backend_result(name, None, exc))
        else:
            results.append(backend_result(name, outcome, None))
    for line in results:
        print(line, flush=True)


if __name__ == "__main__":
    asyncio.run(main())

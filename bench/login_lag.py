"""Event-loop responsiveness while 20 people log in at once, with production argon2 parameters.

One process: the real app (create_app(settings, passwords=Passwords()): hashing offloaded to threads) on a
temporary SQLite file, served on loopback; a probe task on the same loop sleeps 5 ms again and again and
records how late each wake-up is; 20 complete logins (GET /login for the CSRF token, POST /login, each
from its own ClientSession) run concurrently, and only the probe samples taken while they run count.
Baseline: the same with Passwords(offload=False) (argon2 on the loop), which must show the difference.
The pair runs PAIRS times, in alternating order; medians are reported.

Goals: offloaded p99 lag < 20 ms; on-loop p99 / offloaded p99 >= 2.

    .venv/bin/python bench/login_lag.py
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/x.py` puts bench/ first on sys.path, where http.py would hide the standard library's http.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import asyncio  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench._common import (  # noqa: E402
    LOOPBACK,
    LoginFailed,
    log_in,
    median,
    migrate_and_seed,
    percentile,
    result_line,
    sqlite_url,
)
from teleconsult.app import create_app  # noqa: E402
from teleconsult.identity.passwords import Passwords  # noqa: E402
from teleconsult.settings import Settings  # noqa: E402

LOGINS = 20
PAIRS = 3
PROBE_INTERVAL = 0.005
IDLE_SECONDS = 0.5
BUDGET_SECONDS = 150.0  # no new pair starts after this
LOGIN_TIMEOUT = aiohttp.ClientTimeout(total=60)
RUN_TIMEOUT = 60.0
TARGET_P99_MS = 20.0
TARGET_RATIO = 2.0


class ErrorLog(logging.Handler):
    """Keeps the app's error records (a failed login logs a whole traceback) for a one-line summary."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def summary(self) -> str | None:
        if not self.records:
            return None
        record = self.records[0]
        cause = record.exc_info[1] if record.exc_info else None
        first_line = str(cause).splitlines()[0] if cause else ""
        return (
            f"the app logged {len(self.records)} errors; first: {record.getMessage()}: "
            f"{cause.__class__.__name__ if cause else ''} {first_line}"
        )


@dataclass(frozen=True, slots=True)
class Run:
    offload: bool
    seconds: float  # wall time of the 20 logins
    lags_ms: list[float]
    failures: list[str]
    idle_lags_ms: list[float]  # the same probe just before the logins: the machine's own noise

    @property
    def p99_ms(self) -> float:
        return percentile(self.lags_ms, 99)


async def probe(samples: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """Sleep PROBE_INTERVAL again and again; record (wake-up time, how late it was in ms)."""
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(PROBE_INTERVAL)
        woke = time.perf_counter()
        samples.append((woke, max(0.0, (woke - asked - PROBE_INTERVAL) * 1000)))


async def one_login(base_url: str, username: str) -> str | None:
    """A complete login from a client session of its own; None when it succeeded, else why not."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), timeout=LOGIN_TIMEOUT) as client:
        try:
            await log_in(client, base_url, username)
        except (LoginFailed, aiohttp.ClientError, TimeoutError) as exc:
            return f"{exc.__class__.__name__}: {exc}"
    return None


async def run_once(settings: Settings, usernames: list[str], offload: bool) -> Run:
    app = create_app(settings, passwords=Passwords(offload=offload))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, LOOPBACK, 0).start()
        base_url = f"http://{LOOPBACK}:{runner.addresses[0][1]}"
        warm_up = await one_login(base_url, usernames[-1])  # templates, pool, connection: not measured
        if warm_up is not None:
            return Run(offload, math.nan, [], [f"warm-up login: {warm_up}"], [])
        samples: list[tuple[float, float]] = []
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(samples, stop))
        idle_from = time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        started = time.perf_counter()
        try:
            outcomes: list[str | None] = await asyncio.wait_for(
                asyncio.gather(*(one_login(base_url, name) for name in usernames[:LOGINS])), RUN_TIMEOUT
            )
        except TimeoutError:
            outcomes = [f"the {LOGINS} logins took more than {RUN_TIMEOUT:g} s"]
        ended = time.perf_counter()
        stop.set()
        await prober
    finally:
        await runner.cleanup()
    lags = [lag for woke, lag in samples if started <= woke <= ended]
    idle = [lag for woke, lag in samples if idle_from <= woke < started]
    return Run(offload, ended - started, lags, [o for o in outcomes if o is not None], idle)


def describe(run: Run) -> str:
    where = "offloaded" if run.offload else "on loop  "
    return (
        f"{where}: {LOGINS} logins in {run.seconds:.2f} s, {len(run.lags_ms)} probe samples, "
        f"lag p50 {percentile(run.lags_ms, 50):.1f} ms, p99 {run.p99_ms:.1f} ms, "
        f"max {max(run.lags_ms, default=math.nan):.1f} ms, failed logins {len(run.failures)} "
        f"(idle probe p99 {percentile(run.idle_lags_ms, 99):.1f} ms)"
    )


async def main() -> None:
    errors = ErrorLog()
    app_log = logging.getLogger("teleconsult")
    app_log.addHandler(errors)
    app_log.propagate = False
    print(
        f"login_lag: {LOGINS} concurrent logins, argon2 production parameters, probe every "
        f"{PROBE_INTERVAL * 1000:g} ms; {PAIRS} pairs offloaded / on the loop",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tc_bench_login_") as tmp:
        directory = Path(tmp)
        url = sqlite_url(directory)
        # Production parameters, as the served app verifies: no rehash on login.
        # Twenty people logging in at once (one login twenty times from one address would, rightly, be
        # throttled), plus one for the warm-up.
        usernames = await migrate_and_seed(url, Passwords(), nurses=LOGINS + 1)
        settings = Settings(mode="test", database_url=url, data_dir=directory / "data")
        runs: list[Run] = []
        ratios: list[float] = []
        began = time.perf_counter()
        for index in range(PAIRS):
            if index and time.perf_counter() - began > BUDGET_SECONDS:
                print(f"time budget spent: stopping after {index} pairs", flush=True)
                break
            order = (True, False) if index % 2 == 0 else (False, True)
            pair = {}
            for offload in order:
                run = await run_once(settings, usernames, offload)
                print(f"pair {index + 1} {describe(run)}", flush=True)
                pair[offload] = run
                runs.append(run)
            ratios.append(pair[False].p99_ms / pair[True].p99_ms if pair[True].p99_ms > 0 else math.inf)
    failures = [f for run in runs for f in run.failures]
    for failure in sorted(set(failures))[:3]:
        print(f"login failed: {failure}", flush=True)
    if errors.summary():
        print(errors.summary(), flush=True)
    offloaded = median([run.p99_ms for run in runs if run.offload])
    on_loop = median([run.p99_ms for run in runs if not run.offload])
    ratio = median(ratios)
    idle = median([percentile(run.idle_lags_ms, 99) for run in runs])
    print(
        f"median p99 lag: offloaded {offloaded:.1f} ms, on loop {on_loop:.1f} ms, idle {idle:.1f} ms; "
        f"median per-pair ratio {ratio:.1f}; {len(failures)} failed logins",
        flush=True,
    )
    print(
        result_line(
            "login_loop_lag",
            "p99_ms",
            offloaded,
            "<",
            TARGET_P99_MS,
            ok=offloaded < TARGET_P99_MS and not failures,
        )
    )
    print(
        result_line(
            "login_loop_lag_on_loop_ratio",
            "on_loop_over_offloaded",
            ratio,
            ">=",
            TARGET_RATIO,
            ok=ratio >= TARGET_RATIO and not failures,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())

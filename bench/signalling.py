"""Signalling on one process: 2,000 WebSocket participants (1,000 rooms of 2) relaying ICE candidates to
their peer, against a bare aiohttp WebSocket echo server measured in the same run.

Servers: the real app (``/ws/call``: join tokens checked, every message parsed, validated, rebuilt, rate
limited, relayed through the hub; SQLite, so the in-process bus; ``--backend postgresql`` for the
LISTEN/NOTIFY bus) and a bare aiohttp echo handler, each in a process of its own. Clients: this process,
raw aiohttp client WebSockets, heartbeats every 5 s as the call page sends them. Rooms: 1,000 appointments
open now, written straight into the database (one resident, one expert, one care home: the rooms' policy
and hours are checked as for real), join tokens minted with the server's key (signalling/tokens.py).

- memory: the server's VmRSS (/proc/<pid>/status) once every participant has joined and sits idle, minus
  before they connected, per participant; against the same for 2,000 idle sockets of the bare server.
  Target: at most 2x.
- latency: every pair sends one message a second each way (2,000 messages/s in all, plus heartbeats);
  the time from a send to its arrival at the peer. Target: p99 < 5 ms.
- throughput: every pair (every echo client) passes one message back and forth as fast as it can, in
  rounds of fixed length that alternate baseline and target; messages delivered per second. Target: at
  least 0.5x the echo server (median of the per-pair ratios). Server CPU per message is printed too: the
  client process shares the machine, so the CPU figure says more about the relay's own cost.

    .venv/bin/python bench/signalling.py [--backend sqlite|postgresql] [--pairs 1000]
"""

from __future__ import annotations

import os
import sys

_BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# `python bench/x.py` puts bench/ first on sys.path, where http.py would hide the standard library's http.
for _entry in [p for p in sys.path if os.path.abspath(p or os.curdir) == _BENCH_DIR]:
    sys.path.remove(_entry)
sys.path.insert(0, os.path.dirname(_BENCH_DIR))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import aiohttp  # noqa: E402
from aiohttp import WSMsgType, web  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench._common import LOOPBACK, median, percentile, result_line  # noqa: E402
from bench._scheduling import Database, database, make_residents, seed_territory  # noqa: E402
from scheduling.model import AppointmentStatus  # noqa: E402
from scheduling.store import SEALED_COLUMNS, appointments  # noqa: E402
from signalling.model import Seat  # noqa: E402
from signalling.tokens import JoinTokens, load_signing_key  # noqa: E402
from teleconsult.app import create_app  # noqa: E402
from teleconsult.identity.model import Role  # noqa: E402
from teleconsult.identity.passwords import Passwords  # noqa: E402
from teleconsult.settings import Settings  # noqa: E402

SCRIPT = os.path.abspath(__file__)
PAIRS = 1000
#: Joins at once: each is a write transaction (the token used, the audit), one at a time on SQLite.
JOIN_CONCURRENCY = 2
JOIN_ATTEMPTS = 5
#: Joins that had to be tried again, and why (printed: a loaded machine's SQLite may time out).
RETRIES: list[str] = []
HEARTBEAT_SECONDS = 5.0
LATENCY_SECONDS = 10.0
ROUNDS = 3  # of each kind, interleaved
ROUND_SECONDS = 3.0
SETTLE_SECONDS = 2.0
RECEIVE_TIMEOUT = 30.0
SERVER_START_TIMEOUT = 120.0
TARGET_P99_MS = 5.0
TARGET_THROUGHPUT = 0.5
TARGET_MEMORY = 2.0
#: The clients' own pace (the server's limit is a burst of 100, then 20 a second per connection).
CLIENT_RATE = 18.0
CLIENT_BURST = 80
HEARTBEAT = json.dumps({"v": 1, "type": "heartbeat"})


def candidate(n: int) -> str:
    """An ICE candidate as the call page sends one (about 200 bytes)."""
    line = (
        f"candidate:842163049 1 udp 1677729535 192.0.2.{n % 250} {40000 + n % 20000} typ srflx raddr 0.0.0.0"
    )
    message = {
        "v": 1,
        "type": "candidate",
        "candidate": {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "a1b2"},
    }
    return json.dumps(message, separators=(",", ":"))


# -------------------------------------------------------------------------------------------- servers


async def echo(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        if message.type is WSMsgType.TEXT:
            await socket.send_str(message.data)
    return socket


async def serve(kind: str, db_url: str, data_dir: Path) -> None:
    """Server half: the app or the echo server on a free loopback port; prints ``READY <port>``."""
    if kind == "app":
        settings = Settings(mode="test", database_url=db_url, data_dir=data_dir)
        app = create_app(settings)
    else:
        app = web.Application()
        app.router.add_get("/ws", echo)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, 0, backlog=4096).start()
    print(f"READY {runner.addresses[0][1]}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_server(kind: str, db: Database | None) -> Server:
    arguments = ["--serve", kind]
    if db is not None:
        arguments += ["--db-url", db.url, "--data-dir", str(db.data_dir)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, SCRIPT, *arguments, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=SERVER_START_TIMEOUT)
    if not line.startswith(b"READY "):
        raise RuntimeError(f"{kind} server did not start: {line!r}")
    return Server(process, int(line.split()[1]))


# ---------------------------------------------------------------------------------------------- rooms


async def open_rooms(db: Database, pairs: int) -> tuple[list[uuid.UUID], uuid.UUID, uuid.UUID]:
    """``pairs`` appointments of one expert with one care home's resident, open now (the real clock): each
    lasts a second, from five minutes ago on, one after the other (no two of an expert or a resident
    overlap), and a room stays open 15 minutes before and 30 after its appointment.
    Returns (appointment ids, the expert's id, the nurse's id)."""
    now = datetime.now(UTC)
    territory = await seed_territory(db, Passwords(fast=True), now)
    nurse, expert = territory.users[Role.IDE], territory.users[Role.EXPERT]
    (resident_id,) = await make_residents(db, nurse, 1, now)
    ids = [uuid.uuid4() for _ in range(pairs)]
    rows = [
        {
            "id": appointment_id,
            "expert_id": expert.id,
            "ehpad_id": territory.ehpad.id,
            "resident_id": resident_id,
            "specialty": "geriatrie",
            "starts_at": now - timedelta(minutes=5) + timedelta(seconds=n),
            "ends_at": now - timedelta(minutes=5) + timedelta(seconds=n + 1),
            "status": AppointmentStatus.BOOKED.value,
            "urgency": "programmee",
            "attendees": "idec",
            "record_call": False,
            "consent_given_by": "famille",
            "consent_given_on": now.date(),
            "consent_method": "oral",
            "physician_agreement": True,
            "created_by": nurse.id,
            "created_at": now,
            "updated_at": now,
            "version": 1,
            # Only the plaintext header is read to admit a participant: the sealed fields are filler.
            **{name: b"bench" for name in SEALED_COLUMNS},
        }
        for n, appointment_id in enumerate(ids)
    ]
    async with db.new_uow() as uow:
        await uow.session.execute(insert(appointments), rows)
        await uow.commit()
    return ids, expert.id, nurse.id


# -------------------------------------------------------------------------------------------- clients


class Pace:
    """What a well-behaved participant sends: under the server's rate limit (signalling.protocol.RateLimit:
    a burst of 100, then 20 a second), with a margin for the heartbeats."""

    def __init__(self) -> None:
        self._tokens = float(CLIENT_BURST)
        self._at = time.monotonic()

    async def take(self) -> None:
        now = time.monotonic()
        self._tokens = min(CLIENT_BURST, self._tokens + (now - self._at) * CLIENT_RATE)
        self._at = now
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / CLIENT_RATE)
            self._tokens, self._at = 1.0, time.monotonic()
        self._tokens -= 1


@dataclass
class Pair:
    """Two sockets that take turns: through the app, each message goes to the other one; on the echo
    server, back to its sender. Either way each socket sends half the messages."""

    a: aiohttp.ClientWebSocketResponse
    b: aiohttp.ClientWebSocketResponse
    echo: bool
    paces: tuple[Pace, Pace] = field(default_factory=lambda: (Pace(), Pace()))
    latencies: list[float] = field(default_factory=list)
    delivered: int = 0


async def receive_relay(socket: aiohttp.ClientWebSocketResponse) -> None:
    """Wait for the next candidate (heartbeats, joined, peer-joined are skipped)."""
    while True:
        frame = await socket.receive(timeout=RECEIVE_TIMEOUT)
        if frame.type is not WSMsgType.TEXT:
            raise RuntimeError(f"socket ended: {frame.type} {frame.data} {frame.extra}")
        if '"candidate"' in frame.data:
            return


async def heartbeats(socket: aiohttp.ClientWebSocketResponse) -> None:
    await asyncio.sleep(random.uniform(0, HEARTBEAT_SECONDS))
    while not socket.closed:
        await socket.send_str(HEARTBEAT)
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def exchange(pair: Pair, until: float, paced: bool, record: bool) -> None:
    """Send a candidate, wait for it on the other side, the other way round, until ``until``. Paced: one
    message a second from each side, at random moments."""
    sockets, n = (pair.a, pair.b), 0
    while time.monotonic() < until:
        if paced:
            await asyncio.sleep(random.uniform(0.0, 1.0))
        side = n % 2
        await pair.paces[side].take()
        started = time.perf_counter()
        await sockets[side].send_str(candidate(n))
        await receive_relay(sockets[side] if pair.echo else sockets[1 - side])
        if record:
            pair.latencies.append(time.perf_counter() - started)
            pair.delivered += 1
        n += 1


async def run_phase(pairs: list[Pair], seconds: float, paced: bool) -> tuple[int, list[float], float]:
    for pair in pairs:
        pair.latencies, pair.delivered = [], 0
    started = time.monotonic()
    await asyncio.gather(*(exchange(pair, started + seconds, paced, True) for pair in pairs))
    elapsed = time.monotonic() - started
    latencies = [value for pair in pairs for value in pair.latencies]
    return sum(pair.delivered for pair in pairs), latencies, elapsed


async def connect_all(
    client: aiohttp.ClientSession,
    url: str,
    first_messages: list[Callable[[], str] | None],
    beats: list[asyncio.Task[None]],
) -> list[aiohttp.ClientWebSocketResponse]:
    """A socket per item; where the item is a join, it is sent and ``joined`` awaited. Each socket sends
    heartbeats from then on (the server drops a participant silent for 15 s)."""
    sockets: list[aiohttp.ClientWebSocketResponse | None] = [None] * len(first_messages)
    gate = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def one(n: int) -> None:
        async with gate:
            for attempt in range(JOIN_ATTEMPTS):
                socket = await client.ws_connect(url, autoping=True, max_msg_size=0)
                first = first_messages[n]
                if first is None:
                    break
                await socket.send_str(first())
                frame = await socket.receive(timeout=RECEIVE_TIMEOUT)
                if frame.type is WSMsgType.TEXT and '"joined"' in frame.data:
                    break
                # As the call page does: come back with a new token (an overloaded SQLite may refuse).
                await socket.close()
                RETRIES.append(f"{frame.type.name} {frame.data}")
                if attempt == JOIN_ATTEMPTS - 1:
                    raise RuntimeError(f"join refused: {frame.type} {frame.data} {frame.extra}")
            sockets[n] = socket
            beats.append(asyncio.create_task(heartbeats(socket)))

    await asyncio.gather(*(one(n) for n in range(len(first_messages))))
    return [socket for socket in sockets if socket is not None]


async def settle_rss(server: Server) -> int:
    await asyncio.sleep(SETTLE_SECONDS)  # let the joins' transactions and buffers finish
    return server.rss_kib()


# ------------------------------------------------------------------------------------------------ main


def join_message(tokens: JoinTokens, user: uuid.UUID, room: uuid.UUID, seat: Seat) -> str:
    """A join with a token minted now (a token lives two minutes; 2,000 joins may take longer)."""
    token = tokens.issue(user, room, seat, datetime.now(UTC)).token
    return json.dumps({"v": 1, "type": "join", "token": token})


async def bench(backend: str, pairs_count: int) -> list[str]:
    lines: list[str] = []
    async with database(backend) as db:
        rooms, expert_id, nurse_id = await open_rooms(db, pairs_count)
        key = load_signing_key(db.settings.call_signing_key_path, generate=True)
        tokens = JoinTokens(key, issuer=db.settings.base_url)
        joins: list[Callable[[], str] | None] = [
            partial(join_message, tokens, user, room, seat)
            for room in rooms
            for user, seat in ((expert_id, Seat.EXPERT), (nurse_id, Seat.CARE_HOME))
        ]

        app = await start_server("app", db)
        bare = await start_server("echo", None)
        connector = aiohttp.TCPConnector(limit=0)
        beats: list[asyncio.Task[None]] = []
        try:
            async with aiohttp.ClientSession(connector=connector) as client:
                # Memory: idle sockets, on each server; the first tenth warms the server up (its caches,
                # the database's connections), the rest is measured.
                warm = max(2, len(joins) // 10) // 2 * 2
                echo_url = f"http://{LOOPBACK}:{bare.port}/ws"
                echo_sockets = await connect_all(client, echo_url, [None] * warm, beats)
                before = await settle_rss(bare)
                echo_sockets += await connect_all(client, echo_url, [None] * (len(joins) - warm), beats)
                bare_per = (await settle_rss(bare) - before) / (len(echo_sockets) - warm)

                app_url = f"http://{LOOPBACK}:{app.port}/ws/call"
                joined_at = time.monotonic()
                app_sockets = await connect_all(client, app_url, joins[:warm], beats)
                before = await settle_rss(app)
                rest = await connect_all(client, app_url, joins[warm:], beats)
                app_sockets += rest
                join_seconds = time.monotonic() - joined_at
                app_per = (await settle_rss(app) - before) / len(rest)
                print(
                    f"memory: app {app_per:.1f} KiB per joined idle participant ({len(app_sockets)} "
                    f"joined in {join_seconds:.1f} s, {len(RETRIES)} joins tried again"
                    f"{': ' + RETRIES[0] if RETRIES else ''}), bare aiohttp WebSocket {bare_per:.1f} KiB",
                    flush=True,
                )

                relay_pairs = [
                    Pair(app_sockets[2 * n], app_sockets[2 * n + 1], echo=False) for n in range(pairs_count)
                ]
                echo_pairs = [
                    Pair(echo_sockets[2 * n], echo_sockets[2 * n + 1], echo=True) for n in range(pairs_count)
                ]

                # Latency at a realistic load: each participant speaks once a second.
                _, relay_latencies, _ = await run_phase(relay_pairs, LATENCY_SECONDS, paced=True)
                _, echo_latencies, _ = await run_phase(echo_pairs, LATENCY_SECONDS, paced=True)
                relay_p99 = percentile(relay_latencies, 99) * 1000
                print(
                    f"latency at ~{2 * pairs_count} messages/s: relay p50 "
                    f"{percentile(relay_latencies, 50) * 1000:.2f} ms p99 {relay_p99:.2f} ms "
                    f"({len(relay_latencies)} messages); echo p50 "
                    f"{percentile(echo_latencies, 50) * 1000:.2f} ms "
                    f"p99 {percentile(echo_latencies, 99) * 1000:.2f} ms",
                    flush=True,
                )

                # Throughput: closed loops, rounds alternating baseline and target.
                ratios: list[float] = []
                cpu_ratios: list[float] = []
                for round_number in range(ROUNDS):
                    figures = {}
                    for name, server, pairs in (("echo", bare, echo_pairs), ("relay", app, relay_pairs)):
                        cpu = server.cpu_seconds()
                        delivered, _, elapsed = await run_phase(pairs, ROUND_SECONDS, paced=False)
                        cpu_ms = (
                            (server.cpu_seconds() - cpu) / delivered * 1000 if delivered else float("nan")
                        )
                        figures[name] = (delivered / elapsed, cpu_ms)
                    ratios.append(figures["relay"][0] / figures["echo"][0])
                    cpu_ratios.append(figures["relay"][1] / figures["echo"][1])
                    print(
                        f"round {round_number + 1}: echo {figures['echo'][0]:.0f} msg/s "
                        f"({figures['echo'][1]:.3f} ms server CPU each), "
                        f"relay {figures['relay'][0]:.0f} msg/s "
                        f"({figures['relay'][1]:.3f} ms server CPU each), ratio {ratios[-1]:.2f}",
                        flush=True,
                    )
                ceiling = 2 * pairs_count * CLIENT_RATE
                print(
                    f"server CPU per message, relay / echo (median): {median(cpu_ratios):.2f}; the clients' "
                    f"pace caps the offered load at {ceiling:.0f} msg/s",
                    flush=True,
                )

                for task in beats:
                    task.cancel()
                await asyncio.gather(*beats, return_exceptions=True)
                for socket in [*app_sockets, *echo_sockets]:
                    await socket.close()
        finally:
            for task in beats:
                task.cancel()
            await app.stop()
            await bare.stop()

    lines.append(result_line("signalling_p99", "relay_p99_ms", relay_p99, "<", TARGET_P99_MS))
    lines.append(result_line("signalling_throughput", "ratio", median(ratios), ">=", TARGET_THROUGHPUT))
    lines.append(result_line("signalling_memory", "per_idle_ratio", app_per / bare_per, "<=", TARGET_MEMORY))
    return lines


def raise_file_limit() -> None:
    """4,000 sockets on each side: lift the soft limit on open files to the hard one."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    raise_file_limit()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--serve", choices=("app", "echo"), help=argparse.SUPPRESS)
    parser.add_argument("--db-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, default=Path("."), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.db_url, args.data_dir))
        return
    for line in asyncio.run(bench(args.backend, args.pairs)):
        print(line, flush=True)


if __name__ == "__main__":
    main()

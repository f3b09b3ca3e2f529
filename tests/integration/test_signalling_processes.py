"""Two real server processes on one PostgreSQL database: a participant on each talks to the other through
the LISTEN/NOTIFY bus (offer, answer, ICE candidates in order, an offer too big for one NOTIFY); a seat taken
again on the other process replaces the first connection; a process killed outright is noticed by the other
side within the heartbeat window, and its participant gets the seat back through the surviving process.
Also the bus on its own: a connection the database drops is opened again and listens again.

PostgreSQL only (on SQLite there is one process); skipped with the reason when it is unreachable, except
under CI=true (tests/conftest.py). Every wait is bounded; none is an assertion about speed except the
"noticed within" bound, which is the requirement itself (two heartbeats, plus slack for a loaded machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from sqlalchemy import update

from records.crypto import generate_key_file
from scheduling.store import appointments
from signalling.model import Seat
from signalling.tokens import JoinTokens, load_signing_key
from teleconsult.bus import PgBus, postgres_dsn
from teleconsult.clock import FixedClock
from teleconsult.identity.model import Role
from teleconsult.settings import Settings
from tests.conftest import _truncate_all
from tests.integration.conftest import ClientFactory, Env, build_env
from tests.integration.test_signalling import booked_and_open

REPO_ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_SECONDS = 5
#: Generous bound on anything a server does for a message (two processes on a shared two-core machine).
WAIT = 20.0
#: A dead process must be noticed within two heartbeats; the slack is for a loaded machine.
NOTICED_WITHIN = 2 * HEARTBEAT_SECONDS + 5.0
READY_TIMEOUT = 90.0

#: The real app, as `teleconsult serve` runs it, with the settings of the environment (mode test).
SERVER = """
import os, sys
from aiohttp import web
from teleconsult.app import create_app
from teleconsult.settings import load_settings
web.run_app(create_app(load_settings(os.environ)), host="127.0.0.1", port=int(sys.argv[1]),
            print=None, access_log=None, shutdown_timeout=5)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def ws(self) -> str:
        return f"http://127.0.0.1:{self.port}/ws/call"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_server(settings: Settings, work: Path, name: str) -> Server:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TELECONSULT_")}
    environment.update(
        {
            "PYTHONUNBUFFERED": "1",
            "TELECONSULT_MODE": "test",
            "TELECONSULT_DATABASE_URL": settings.database_url,
            "TELECONSULT_DATA_DIR": str(settings.data_dir),
            "TELECONSULT_KEY_FILE": str(settings.key_file),
            "TELECONSULT_CALL_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        }
    )
    port = free_port()
    log = work / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(port)],
            cwd=REPO_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Server(process, port, log)


async def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    async with aiohttp.ClientSession() as client:
        while time.monotonic() < deadline:
            assert server.process.poll() is None, server.output()
            try:
                async with client.get(f"http://127.0.0.1:{server.port}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet: look again after the interval below
            await asyncio.sleep(0.2)  # polling interval of a bounded wait, not a timing assumption
    raise AssertionError(f"server not ready within {READY_TIMEOUT} s:\n{server.output()}")


@dataclass
class Call:
    """An appointment whose room is open now (real clock), its two participants, and the two servers."""

    appointment_id: uuid.UUID
    participants: dict[Seat, uuid.UUID]
    tokens: JoinTokens
    servers: list[Server]

    def token(self, seat: Seat) -> str:
        return self.tokens.issue(self.participants[seat], self.appointment_id, seat, datetime.now(UTC)).token


@pytest.fixture
def pg_settings(pg_database_url: str, tmp_path: Path) -> Iterator[Settings]:
    key_file = tmp_path / "keys.json"
    generate_key_file(key_file, demo=True)
    yield Settings(mode="test", database_url=pg_database_url, data_dir=tmp_path / "data", key_file=key_file)


@pytest.fixture
async def call(aiohttp_client: ClientFactory, pg_settings: Settings, tmp_path: Path) -> AsyncIterator[Call]:
    await _truncate_all(pg_settings.database_url)
    env: Env = await build_env(
        aiohttp_client, pg_settings, FixedClock(datetime(2026, 11, 23, 13, 30, tzinfo=UTC))
    )
    appointment_id = await booked_and_open(env)
    now = datetime.now(UTC)
    async with env.uow() as uow:  # the room open now, by the servers' real clock
        await uow.session.execute(
            update(appointments)
            .where(appointments.c.id == appointment_id)
            .values(starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(minutes=25))
        )
        await uow.commit()
    tokens = JoinTokens(
        load_signing_key(pg_settings.call_signing_key_path, generate=True), pg_settings.base_url
    )
    servers = [start_server(pg_settings, tmp_path, name) for name in ("a", "b")]
    try:
        for server in servers:
            await wait_ready(server)
        participants = {
            Seat.EXPERT: env.territory.users[Role.EXPERT].id,
            Seat.CARE_HOME: env.territory.users[Role.IDE].id,
        }
        yield Call(appointment_id, participants, tokens, servers)
    finally:
        for server in servers:
            server.stop()


async def receive(socket: ClientWebSocketResponse, within: float = WAIT) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    deadline = time.monotonic() + within
    while True:
        frame = await socket.receive(timeout=max(0.01, deadline - time.monotonic()))
        assert frame.type is WSMsgType.TEXT, (frame.type, frame.data, frame.extra)
        message: dict[str, Any] = json.loads(frame.data)
        if message["type"] != "heartbeat":
            return message


async def join(client: aiohttp.ClientSession, server: Server, token: str) -> ClientWebSocketResponse:
    socket = await client.ws_connect(server.ws)
    await socket.send_json({"v": 1, "type": "join", "token": token})
    return socket


async def closed_with(socket: ClientWebSocketResponse) -> int | None:
    while True:
        frame = await socket.receive(timeout=WAIT)
        if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            return socket.close_code
        assert frame.type is WSMsgType.TEXT


async def paired(call: Call, client: aiohttp.ClientSession) -> tuple[ClientWebSocketResponse, ...]:
    """The expert on server a, the nurse on server b, both told about the other."""
    a, b = call.servers
    expert = await join(client, a, call.token(Seat.EXPERT))
    joined = await receive(expert)
    assert joined["type"] == "joined" and joined["peer_present"] is False, (joined, a.output())
    nurse = await join(client, b, call.token(Seat.CARE_HOME))
    joined = await receive(nurse)
    assert joined["type"] == "joined" and joined["peer_present"] is True, (joined, b.output())
    assert await receive(expert) == {"v": 1, "type": "peer-joined", "seat": "care_home"}
    return expert, nurse


async def test_participants_on_two_processes_exchange_offer_answer_and_candidates_in_order(
    call: Call,
) -> None:
    async with aiohttp.ClientSession() as client:
        expert, nurse = await paired(call, client)
        big_sdp = "v=0\r\n" + "a=x-padding:" + "é" * 15_000 + "\r\n"
        # 30 KB of UTF-8 (relayed as 90 KB of JSON escapes): several NOTIFY payloads
        await expert.send_str(json.dumps({"v": 1, "type": "offer", "sdp": big_sdp}, ensure_ascii=False))
        for n in range(20):
            candidate = {"candidate": f"candidate:{n} 1 udp 1 10.0.0.1 {9000 + n} typ host", "sdpMid": "0"}
            await expert.send_json({"v": 1, "type": "candidate", "candidate": candidate})
        offer = await receive(nurse)
        assert offer == {"v": 1, "type": "offer", "from": "expert", "sdp": big_sdp}
        ports = [int((await receive(nurse))["candidate"]["candidate"].split()[5]) for _ in range(20)]
        assert ports == [9000 + n for n in range(20)]

        await nurse.send_json({"v": 1, "type": "answer", "sdp": "v=0\r\nanswer"})
        await nurse.send_json({"v": 1, "type": "mute", "audio": True, "video": False})
        assert await receive(expert) == {
            "v": 1,
            "type": "answer",
            "from": "care_home",
            "sdp": "v=0\r\nanswer",
        }
        assert await receive(expert) == {
            "v": 1,
            "type": "mute",
            "from": "care_home",
            "audio": True,
            "video": False,
        }

        await nurse.send_json({"v": 1, "type": "leave"})
        assert await closed_with(nurse) == 1000
        assert await receive(expert) == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "left"}
        await expert.close()


async def test_a_seat_taken_again_on_the_other_process_replaces_the_first_connection(call: Call) -> None:
    a, b = call.servers
    async with aiohttp.ClientSession() as client:
        expert, first = await paired(call, client)
        second = await join(client, a, call.token(Seat.CARE_HOME))  # the nurse's tablet, now through a
        assert (await receive(second))["peer_present"] is True
        assert await closed_with(first) == 4409
        assert await receive(expert) == {"v": 1, "type": "peer-joined", "seat": "care_home"}
        await expert.send_json({"v": 1, "type": "offer", "sdp": "v=0\r\nagain"})
        assert await receive(second) == {"v": 1, "type": "offer", "from": "expert", "sdp": "v=0\r\nagain"}
        for socket in (expert, second):
            await socket.close()
        del b


async def test_a_killed_process_is_noticed_within_two_heartbeats_and_the_seat_is_taken_back(
    call: Call,
) -> None:
    a, b = call.servers
    async with aiohttp.ClientSession() as client:
        expert, nurse = await paired(call, client)
        b.process.send_signal(signal.SIGKILL)  # no goodbye: its database connections just end
        b.process.wait(timeout=WAIT)
        started = time.monotonic()
        told = await receive(expert, within=NOTICED_WITHIN)
        noticed = time.monotonic() - started
        assert told == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}, noticed
        with pytest.raises((aiohttp.ClientError, AssertionError, ConnectionResetError)):
            await receive(nurse)  # the nurse's socket died with its process

        back = await join(client, a, call.token(Seat.CARE_HOME))  # the page reconnects to the survivor
        assert (await receive(back))["peer_present"] is True
        assert await receive(expert) == {"v": 1, "type": "peer-joined", "seat": "care_home"}
        await back.send_json({"v": 1, "type": "answer", "sdp": "v=0\r\nback"})
        assert await receive(expert) == {"v": 1, "type": "answer", "from": "care_home", "sdp": "v=0\r\nback"}
        for socket in (expert, back):
            await socket.close()


# ------------------------------------------------------------------------------------------ the bus


async def test_the_bus_listens_again_after_the_database_drops_its_connection(pg_database_url: str) -> None:
    dsn = postgres_dsn(pg_database_url)
    assert dsn is not None
    sender, receiver = PgBus(dsn), PgBus(dsn, application_name="teleconsult-bus-receiver")
    await sender.start()
    await receiver.start()
    got: asyncio.Queue[str] = asyncio.Queue()
    try:
        receiver.subscribe("test.reconnect", got.put_nowait)
        await asyncio.wait_for(receiver.sync(), WAIT)  # listening now
        sender.publish("test.reconnect", "before")
        assert await asyncio.wait_for(got.get(), WAIT) == "before"

        admin = await asyncpg.connect(dsn)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'teleconsult-bus-receiver'"
            )
        finally:
            await admin.close()
        deadline = time.monotonic() + WAIT
        while receiver.reconnections == 0 or not receiver.connected.is_set():
            assert time.monotonic() < deadline, "the bus did not reconnect"
            await asyncio.sleep(0.05)  # polling interval of a bounded wait
        big = "x" * 20_000 + "é" * 5_000
        sender.publish("test.reconnect", big)
        sender.publish("test.reconnect", "after")
        assert await asyncio.wait_for(got.get(), WAIT) == big
        assert await asyncio.wait_for(got.get(), WAIT) == "after"
    finally:
        await sender.stop()
        await receiver.stop()

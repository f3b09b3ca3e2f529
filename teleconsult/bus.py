"""A small publish/subscribe bus between the processes of one deployment (ADR 0015).

``publish(channel, payload)`` reaches every subscriber of ``channel`` in every process, this one included,
in the order each process published; it never waits. Two implementations:

- :class:`InProcessBus`: one process (SQLite deployments, tests): handlers are called at once.
- :class:`PgBus`: PostgreSQL LISTEN/NOTIFY over one dedicated asyncpg connection. Everything this process
  sends (LISTEN, UNLISTEN, NOTIFY) goes through that connection in order, so one process's messages arrive
  in the order it published them. The connection is opened again when it drops (the channels are listened
  to again; what was published meanwhile is sent then, up to :data:`MAX_PENDING`; what other processes
  published meanwhile is lost, which callers must tolerate: a bus is for hints, not for state).

Channel names are namespaced (``<namespace>.<channel>``: ``tc.signalling.room.<id>``, later
``tc.identity.principals``...), made of ``[a-z0-9._-]`` and short enough for PostgreSQL's 63-byte
identifiers. A NOTIFY payload is limited to 8000 bytes: longer payloads (an SDP offer can reach 60,000
characters) are cut into fragments that the receiving processes put back together; over
:data:`MAX_PAYLOAD_BYTES` ``publish`` raises :class:`PayloadTooLarge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import asyncpg  # type: ignore[import-untyped]
from aiohttp import web

log = logging.getLogger("teleconsult.bus")

Handler = Callable[[str], None]

#: PostgreSQL's identifier limit (NAMEDATALEN - 1): LISTEN names a channel by an identifier.
MAX_CHANNEL_BYTES = 63
#: NOTIFY's payload limit is 8000 bytes; the fragment header takes the rest.
FRAGMENT_BYTES = 7900
#: The largest payload accepted (a signalling message is at most 64 KiB).
MAX_PAYLOAD_BYTES = 256 * 1024
#: Messages kept while the connection is down; older ones are dropped beyond this.
MAX_PENDING = 10_000
#: Payloads being put back together from fragments; the oldest incomplete one is dropped beyond this.
MAX_PARTIAL = 256
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
CONNECT_TIMEOUT = 10.0
_CHANNEL = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


class PayloadTooLarge(ValueError):
    """A payload over MAX_PAYLOAD_BYTES: the caller must send less."""


def channel_name(namespace: str, channel: str) -> str:
    """``<namespace>.<channel>``, checked: lower-case letters, digits, ``.``, ``_``, ``-``; 63 bytes."""
    name = f"{namespace}.{channel}"
    if not _CHANNEL.fullmatch(name) or len(name) > MAX_CHANNEL_BYTES:
        raise ValueError(f"bad bus channel name {name!r}")
    return name


def _text(payload: str | bytes) -> str:
    text = payload.decode() if isinstance(payload, bytes) else payload
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"bus payload over {MAX_PAYLOAD_BYTES} bytes")
    return text


class Subscription:
    """What ``subscribe`` returns; ``cancel`` stops the deliveries (idempotent)."""

    def __init__(self, bus: _Subscribers, channel: str, handler: Handler) -> None:
        self._bus = bus
        self.channel = channel
        self.handler = handler
        self.active = True

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self._bus._remove(self)


class Bus(Protocol):
    namespace: str

    def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """``handler(payload)`` for every message on ``channel`` (without the namespace) from now on."""
        ...

    def publish(self, channel: str, payload: str | bytes) -> None:
        """Send ``payload`` (text; bytes must be UTF-8) to every subscriber of ``channel``; never waits."""
        ...

    async def sync(self) -> None:
        """Return once what this process subscribed to and published before the call has reached the
        other processes' side (the database): a subscriber then receives whatever is published after."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Subscribers:
    """The handlers of this process, by full channel name."""

    def __init__(self, namespace: str) -> None:
        channel_name(namespace, "x")  # checks the namespace
        self.namespace = namespace
        self._handlers: dict[str, list[Subscription]] = {}

    def subscribe(self, channel: str, handler: Handler) -> Subscription:
        name = channel_name(self.namespace, channel)
        subscription = Subscription(self, name, handler)
        listeners = self._handlers.setdefault(name, [])
        listeners.append(subscription)
        if len(listeners) == 1:
            self._first_subscriber(name)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        listeners = self._handlers.get(subscription.channel, [])
        with contextlib.suppress(ValueError):
            listeners.remove(subscription)
        if not listeners and subscription.channel in self._handlers:
            del self._handlers[subscription.channel]
            self._last_subscriber_gone(subscription.channel)

    def _deliver(self, name: str, payload: str) -> None:
        for subscription in tuple(self._handlers.get(name, ())):
            if subscription.active:
                try:
                    subscription.handler(payload)
                except Exception:
                    log.exception("bus handler failed", extra={"channel": name})

    def _first_subscriber(self, name: str) -> None:
        """Hook: the process starts listening to ``name``."""

    def _last_subscriber_gone(self, name: str) -> None:
        """Hook: the process stops listening to ``name``."""

    def channels(self) -> list[str]:
        return list(self._handlers)


class InProcessBus(_Subscribers):
    """One process: ``publish`` calls this process's handlers at once."""

    def __init__(self, namespace: str = "tc") -> None:
        super().__init__(namespace)

    def publish(self, channel: str, payload: str | bytes) -> None:
        self._deliver(channel_name(self.namespace, channel), _text(payload))

    async def sync(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class _Partial:
    count: int
    parts: dict[int, str]


def fragments(payload: str, size: int = FRAGMENT_BYTES) -> list[str]:
    """``payload`` cut into pieces of at most ``size`` UTF-8 bytes, never inside a character."""
    raw = payload.encode()
    pieces: list[str] = []
    start = 0
    while start < len(raw) or not pieces:
        end = min(start + size, len(raw))
        while end < len(raw) and raw[end] & 0xC0 == 0x80:  # a continuation byte: step back
            end -= 1
        pieces.append(raw[start:end].decode())
        start = end
    return pieces


class PgBus(_Subscribers):
    """LISTEN/NOTIFY over one dedicated connection to ``dsn`` (a plain ``postgresql://`` URL).

    A NOTIFY payload is ``<sender> <seq> <index> <count> <text>``: the sender is this bus's random id, so
    fragments of one payload are put back together even when other processes' messages come between.
    """

    def __init__(self, dsn: str, namespace: str = "tc", *, application_name: str = "teleconsult-bus") -> None:
        super().__init__(namespace)
        self._dsn = dsn
        self._application_name = application_name
        self.sender = uuid.uuid4().hex[:12]
        self._sequence = itertools.count()
        #: ("listen"|"unlisten", channel, ""), ("notify", channel, payload) or ("sync", token, ""), in order.
        self._outbox: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self._syncs: dict[str, asyncio.Future[None]] = {}
        self._partial: OrderedDict[tuple[str, str], _Partial] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._listening: set[str] = set()
        #: Set while a connection is open and listens to every channel; tests wait on it.
        self.connected = asyncio.Event()
        self.reconnections = 0

    # ------------------------------------------------------------------------------------ interface

    def publish(self, channel: str, payload: str | bytes) -> None:
        name = channel_name(self.namespace, channel)
        text = _text(payload)
        sequence = str(next(self._sequence))
        pieces = fragments(text)
        for index, piece in enumerate(pieces):
            self._enqueue(("notify", name, f"{self.sender} {sequence} {index} {len(pieces)} {piece}"))

    async def sync(self) -> None:
        token = str(next(self._sequence))
        done = self._syncs[token] = asyncio.get_running_loop().create_future()
        self._enqueue(("sync", token, ""))
        try:
            await done
        finally:
            self._syncs.pop(token, None)

    async def start(self) -> None:
        """Connect (raises if the database cannot be reached now), then keep the connection open."""
        await self._connect()
        self._task = asyncio.create_task(self._run(), name="bus")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()

    # -------------------------------------------------------------------------------------- inside

    def _first_subscriber(self, name: str) -> None:
        self._enqueue(("listen", name, ""))

    def _last_subscriber_gone(self, name: str) -> None:
        self._enqueue(("unlisten", name, ""))

    def _enqueue(self, item: tuple[str, str, str]) -> None:
        if self._outbox.qsize() >= MAX_PENDING:
            dropped = self._outbox.get_nowait()
            log.warning("bus backlog full; oldest message dropped", extra={"channel": dropped[1]})
        self._outbox.put_nowait(item)

    async def _connect(self) -> None:
        connection = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": self._application_name},
        )
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        self._connection = connection
        self._lost = lost
        self._listening = set()
        for name in self.channels():  # what was listened to before a drop, and what came meanwhile
            await self._listen(name)
        self.connected.set()

    async def _disconnect(self) -> None:
        self.connected.clear()
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)

    async def _listen(self, name: str) -> None:
        if name not in self._listening:
            await self._connection.add_listener(name, self._notified)
            self._listening.add(name)

    async def _unlisten(self, name: str) -> None:
        if name in self._listening and name not in self.channels():
            await self._connection.remove_listener(name, self._notified)
            self._listening.discard(name)

    async def _run(self) -> None:
        while True:
            try:
                await self._send_until_lost()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("bus connection lost; reconnecting", extra={"error": type(exc).__name__})
            await self._disconnect()
            for attempt in itertools.count():
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                try:
                    await self._connect()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    log.warning("bus reconnection failed", extra={"error": type(exc).__name__})
                    continue
                self.reconnections += 1
                log.info("bus reconnected", extra={"attempts": attempt + 1})
                break

    async def _send_until_lost(self) -> None:
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            while True:
                item: tuple[str, str, str] | None = None
                if self._outbox.empty():
                    getter = asyncio.ensure_future(self._outbox.get())
                    await asyncio.wait((getter, lost), return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        return  # the connection ended while idle
                    item = getter.result()
                else:
                    item = self._outbox.get_nowait()
                if self._lost.is_set():
                    self._requeue(item)
                    return
                try:
                    await self._send(item)
                except BaseException:
                    self._requeue(item)
                    raise
        finally:
            lost.cancel()

    def _requeue(self, item: tuple[str, str, str]) -> None:
        """Put ``item`` back at the head: it is sent first after the reconnection."""
        rest = [item]
        while not self._outbox.empty():
            rest.append(self._outbox.get_nowait())
        for entry in rest[-MAX_PENDING:]:
            self._outbox.put_nowait(entry)

    async def _send(self, item: tuple[str, str, str]) -> None:
        kind, name, payload = item
        if kind == "notify":
            # One statement, one transaction: PostgreSQL folds identical payloads of one transaction only.
            await self._connection.execute("SELECT pg_notify($1, $2)", name, payload)
        elif kind == "sync":
            done = self._syncs.get(name)
            if done is not None and not done.done():
                done.set_result(None)
        elif kind == "listen":
            if name in self.channels():
                await self._listen(name)
        else:
            await self._unlisten(name)

    def _notified(self, _connection: Any, _pid: int, name: str, payload: str) -> None:
        try:
            sender, sequence, index_text, count_text, text = payload.split(" ", 4)
            index, count = int(index_text), int(count_text)
        except ValueError:
            log.warning("bus message not understood; ignored", extra={"channel": name})
            return
        if count == 1:
            self._deliver(name, text)
            return
        key = (sender, sequence)
        partial = self._partial.get(key)
        if partial is None:
            partial = self._partial[key] = _Partial(count, {})
            while len(self._partial) > MAX_PARTIAL:
                self._partial.popitem(last=False)
        partial.parts[index] = text
        if len(partial.parts) == partial.count:
            del self._partial[key]
            self._deliver(name, "".join(partial.parts[i] for i in range(partial.count)))


def postgres_dsn(sqlalchemy_url: str) -> str | None:
    """The plain ``postgresql://`` URL asyncpg wants, or None for SQLite."""
    if sqlalchemy_url.startswith("postgresql+asyncpg://"):
        return "postgresql://" + sqlalchemy_url.split("://", 1)[1]
    return None


def bus_for(sqlalchemy_url: str, namespace: str = "tc") -> Bus:
    """The bus a deployment needs: LISTEN/NOTIFY on PostgreSQL, in-process on SQLite (one process)."""
    dsn = postgres_dsn(sqlalchemy_url)
    return InProcessBus(namespace) if dsn is None else PgBus(dsn, namespace)


#: The application's bus (create_app starts it before anything that subscribes, stops it last).
BUS: Final = web.AppKey[Bus]("bus")

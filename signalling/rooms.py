"""Who sits in which room, on this process and on the others (ADR 0015).

The hub keeps each room's two seats as this process sees them: the connection that holds a seat here, or,
after a drop, the seat kept empty for ``rejoin`` seconds so that the participant can come back without the
other side leaving; and what it knows of a seat held by another process. Two participants on this process
talk directly (no bus); otherwise the hub publishes on the room's bus channel (``signalling.room.<id>``),
which every process holding a seat of the room listens to:

- ``<node> join <seat>``: the seat was taken on ``node`` (the one held here, if any, is replaced);
- ``<node> leave <seat> left|dropped``: the seat's connection ended;
- ``<node> relay <seat> <message>``: a message from the seat for the other one.

Which seats are connected anywhere is :class:`Presence`'s: on PostgreSQL a shared advisory lock held by
the process's presence connection while the seat is connected here, so a process that dies releases its
seats with its connection; the others see the lock gone at their next look (every ``check_seconds``),
twice in a row, and tell their participant that the peer dropped. On SQLite everything is in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import asyncpg  # type: ignore[import-untyped]

from signalling.journal import EndReason, LeaveReason
from signalling.model import Seat
from signalling.protocol import Close, encode
from teleconsult.bus import Bus, Subscription

log = logging.getLogger("teleconsult.signalling")

#: Messages waiting to be written to one connection; a peer that lets more pile up is too slow and dropped.
OUTBOX_SIZE = 256
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
#: How long a join waits for the bus to listen to the room (the database is then unwell: go on anyway).
SYNC_TIMEOUT = 5.0

SeatKey = tuple[UUID, Seat]
#: Told when a room empties without a leave (a dropped participant did not come back in time).
OnEnd = Callable[[UUID, EndReason], None]


def room_channel(room_id: UUID) -> str:
    return f"signalling.room.{room_id.hex}"


class Connection:
    """One participant's WebSocket, seen from the hub: an outbox its writer task empties (``next``), and a
    close. Kept small (a deque and a future, no queue, no heartbeat task): a process holds thousands."""

    __slots__ = ("_beat", "_held", "_outbox", "_waiter", "close_code", "journal_user_id", "seat", "user_id")

    def __init__(self, user_id: UUID, seat: Seat, *, guest: bool = False) -> None:
        self.user_id = user_id
        self.seat = seat
        #: Whom the session journal names: the user; nobody for a guest (an invitation, not an account).
        self.journal_user_id: UUID | None = None if guest else user_id
        self._outbox: deque[str | Close] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.close_code: Close | None = None
        #: While joining: what arrives before the ``joined`` message, sent right after it.
        self._held: list[str] | None = None
        self._beat: asyncio.TimerHandle | None = None

    def send(self, message: str) -> None:
        if self.close_code is not None:
            return
        if self._held is not None:
            self._held.append(message)
            return
        if len(self._outbox) >= OUTBOX_SIZE:
            log.warning("signalling peer too slow; dropped", extra={"seat": self.seat.value})
            self.close(Close.SILENT)
            return
        self._put(message)

    def _put(self, item: str | Close) -> None:
        self._outbox.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self) -> str | Close:
        """The next message to write, or the close (the writer's last item)."""
        while not self._outbox:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._outbox.popleft()

    def pending(self) -> list[str | Close]:
        """What waits to be written (taken out): for tests."""
        items = list(self._outbox)
        self._outbox.clear()
        return items

    def hold(self) -> None:
        self._held = []

    def release(self, first: str | None) -> None:
        """Send ``first``, then what was held meanwhile."""
        held, self._held = self._held or [], None
        for message in [first, *held] if first is not None else held:
            self.send(message)

    def start_heartbeat(self, interval: float, message: str) -> None:
        """Send ``message`` every ``interval`` seconds until the close (a timer, not a task)."""

        def beat() -> None:
            if self.close_code is None:
                self.send(message)
                self._beat = asyncio.get_running_loop().call_later(interval, beat)

        self._beat = asyncio.get_running_loop().call_later(interval, beat)

    def close(self, code: Close) -> None:
        """Ask the writer to close the socket with ``code`` (after what is already queued)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._held = None
        if self._beat is not None:
            self._beat.cancel()
        while len(self._outbox) >= OUTBOX_SIZE:  # make room for the close: it matters more than the rest
            self._outbox.pop()
        self._put(code)


# ---------------------------------------------------------------------------------------------- presence


class Presence(Protocol):
    """Which seats are connected on other processes."""

    async def arrive(self, room_id: UUID, seat: Seat) -> None:
        """The seat is connected here (from now until ``depart``)."""
        ...

    def depart(self, room_id: UUID, seat: Seat) -> None:
        """The seat is no longer connected here; never waits."""
        ...

    async def connected_elsewhere(self, seats: Iterable[SeatKey]) -> set[SeatKey]:
        """Those of ``seats`` connected on another process."""
        ...

    @property
    def is_shared(self) -> bool: ...


class LocalPresence:
    """One process: no other process holds anything."""

    is_shared = False

    async def arrive(self, room_id: UUID, seat: Seat) -> None:
        return None

    def depart(self, room_id: UUID, seat: Seat) -> None:
        return None

    async def connected_elsewhere(self, seats: Iterable[SeatKey]) -> set[SeatKey]:
        return set()


def lock_key(room_id: UUID, seat: Seat) -> int:
    """The advisory lock's 64-bit key of a seat."""
    digest = hashlib.blake2b(room_id.bytes + seat.value.encode(), digest_size=8, person=b"tc-seat").digest()
    return int.from_bytes(digest, "big", signed=True)


#: Advisory locks of this database held by other sessions, among $1 (bigint keys: classid high, objid low).
_HELD_ELSEWHERE = """
SELECT DISTINCT (classid::bigint << 32) | objid::bigint AS key
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid <> pg_backend_pid()
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((classid::bigint << 32) | objid::bigint) = ANY($1::bigint[])
"""


class PgPresence:
    """Seats connected here hold a shared advisory lock on one dedicated connection; PostgreSQL releases
    them all when the connection (the process) ends. Reconnects, and takes the locks again, if it drops."""

    is_shared = True

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._held: dict[int, int] = {}  # key: how many local arrivals (the lock is held once)
        self._connection: Any = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self._connect()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._connection is not None and not self._connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), timeout=5)
        self._connection = None

    async def _connect(self) -> None:
        self._connection = await asyncpg.connect(
            self._dsn, timeout=10, server_settings={"application_name": "teleconsult-presence"}
        )
        for key in self._held:
            await self._connection.execute("SELECT pg_advisory_lock_shared($1)", key)

    async def _run(self, statement: str, *args: Any) -> Any:
        """Run on the presence connection; reconnect first if it was lost."""
        async with self._lock:
            for attempt in itertools.count():
                try:
                    if self._connection is None or self._connection.is_closed():
                        await self._connect()
                    return await self._connection.fetch(statement, *args)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    log.warning("presence connection lost", extra={"error": type(exc).__name__})
                    if self._connection is not None:
                        self._connection.terminate()
                    self._connection = None
                    await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            raise AssertionError("unreachable")  # pragma: no cover

    async def arrive(self, room_id: UUID, seat: Seat) -> None:
        key = lock_key(room_id, seat)
        self._held[key] = self._held.get(key, 0) + 1
        if self._held[key] == 1:
            await self._run("SELECT pg_advisory_lock_shared($1)", key)

    def depart(self, room_id: UUID, seat: Seat) -> None:
        key = lock_key(room_id, seat)
        count = self._held.get(key, 0) - 1
        if count > 0:
            self._held[key] = count
            return
        self._held.pop(key, None)
        task = asyncio.create_task(self._unlock(key), name="presence-unlock")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _unlock(self, key: int) -> None:
        if key not in self._held:  # not taken again meanwhile
            await self._run("SELECT pg_advisory_unlock_shared($1)", key)

    async def connected_elsewhere(self, seats: Iterable[SeatKey]) -> set[SeatKey]:
        by_key = {lock_key(room_id, seat): (room_id, seat) for room_id, seat in seats}
        if not by_key:
            return set()
        rows = await self._run(_HELD_ELSEWHERE, list(by_key))
        return {by_key[row["key"]] for row in rows}


# ------------------------------------------------------------------------------------------------- hub


@dataclass(slots=True)
class _SeatState:
    connection: Connection | None
    user_id: UUID
    expiry: asyncio.TimerHandle | None = None
    #: Why the connection that held the seat went, while the seat is kept for its return.
    dropped_because: LeaveReason | None = None


@dataclass(slots=True)
class _Remote:
    """A seat held by another process: connected, or dropped (kept until ``expiry``)."""

    connected: bool
    expiry: asyncio.TimerHandle | None = None
    #: Its lock was missing at the last look: missing at the next one too, it is taken as dropped.
    suspect: bool = False

    def cancel(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()


@dataclass(slots=True)
class _Room:
    subscription: Subscription | None = None
    seats: dict[Seat, _SeatState] = field(default_factory=dict)
    remote: dict[Seat, _Remote] = field(default_factory=dict)
    #: How the first seat was freed (here or elsewhere): a call ends the way it began to end (journal).
    first_departure: EndReason | None = None


@dataclass(frozen=True, slots=True)
class Joined:
    peer_present: bool
    #: The seat was kept for this participant after a drop (here or on another process): a reconnection.
    rejoined: bool


def _departure(reason: LeaveReason) -> EndReason:
    if reason is LeaveReason.NORMAL:
        return EndReason.NORMAL
    return EndReason.REMOVED if reason is LeaveReason.REMOVED else EndReason.TIMEOUT


class Hub:
    """The rooms of this process. All methods run on the event loop; ``join`` awaits the presence."""

    def __init__(
        self,
        bus: Bus,
        rejoin_seconds: float,
        presence: Presence | None = None,
        check_seconds: float = 2.5,
        on_end: OnEnd | None = None,
    ) -> None:
        self._on_end = on_end
        self._bus = bus
        self._rejoin = rejoin_seconds
        self._presence: Presence = presence or LocalPresence()
        self._check_seconds = check_seconds
        self._rooms: dict[UUID, _Room] = {}
        self.node = uuid.uuid4().hex[:12]
        self._checker: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Look for seats of other processes gone without a word (only where presence is shared)."""
        if self._presence.is_shared and self._checker is None:
            self._checker = asyncio.create_task(self._check_forever(), name="signalling-presence")

    async def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None

    def close(self) -> None:
        """Shutdown: every connection is closed (1001), every kept seat forgotten; the other processes are
        told this process's participants dropped (they will come back through another process)."""
        for room_id, room in list(self._rooms.items()):
            for seat, state in room.seats.items():
                if state.expiry is not None:
                    state.expiry.cancel()
                if state.connection is not None:
                    state.connection.close(Close.GOING_AWAY)
                    self._announce(room_id, f"leave {seat.value} dropped")
                    self._presence.depart(room_id, seat)
            self._forget(room_id)

    # ---------------------------------------------------------------------------------- local events

    async def join(
        self, room_id: UUID, connection: Connection, welcome: Callable[[bool], str] | None = None
    ) -> Joined:
        """Seat ``connection``; says whether the other seat is connected (here or elsewhere), after sending
        ``welcome(peer_present)`` first if given, and whether the seat was kept for this participant's
        return. A connection already in the seat, here or on another process (a reload before its socket
        was noticed dead, a second tab), is closed as replaced."""
        room = self._room(room_id)
        seat = connection.seat
        connection.hold()  # what comes for it before the welcome waits behind the welcome
        state = room.seats.get(seat)
        kept_elsewhere = room.remote.get(seat)
        rejoined = (state is not None and state.connection is None) or (
            kept_elsewhere is not None and not kept_elsewhere.connected
        )
        already_connected = state is not None and state.connection is not None
        if state is not None:
            if state.expiry is not None:
                state.expiry.cancel()
            if state.connection is not None:
                state.connection.close(Close.REPLACED)
        room.seats[seat] = _SeatState(connection, connection.user_id)
        gone = room.remote.pop(seat, None)
        if gone is not None:
            gone.cancel()
        if not already_connected:
            # Listening to the room before the seat shows as taken, and taken before looking at the other
            # seat: whichever of two participants comes second sees the first (ADR 0015).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bus.sync(), timeout=SYNC_TIMEOUT)
            await self._presence.arrive(room_id, seat)
        if not self._holds(room_id, connection):  # replaced while waiting
            connection.release(None)
            return Joined(False, rejoined)
        self._announce(room_id, f"join {seat.value}")
        other = room.seats.get(seat.other)
        if other is not None:
            peer_present = other.connection is not None
            if other.connection is not None:
                other.connection.send(encode("peer-joined", seat=seat.value))
        else:
            remote = room.remote.get(seat.other)
            if remote is None and self._presence.is_shared:
                found = await self._presence.connected_elsewhere([(room_id, seat.other)])
                remote = room.remote.get(seat.other)  # a message may have come meanwhile
                if remote is None and found:
                    remote = room.remote[seat.other] = _Remote(connected=True)
            peer_present = remote is not None and remote.connected
        connection.release(welcome(peer_present) if welcome is not None else None)
        return Joined(peer_present, rejoined)

    def relay(self, room_id: UUID, connection: Connection, message: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        state = room.seats.get(connection.seat)
        if state is None or state.connection is not connection:
            return
        other_seat = connection.seat.other
        other = room.seats.get(other_seat)
        if other is not None:  # on this process: no bus
            if other.connection is not None:
                other.connection.send(message)
            return
        remote = room.remote.get(other_seat)
        if remote is not None and remote.connected:
            self._announce(room_id, f"relay {connection.seat.value} {message}")

    def leave(
        self, room_id: UUID, connection: Connection, reason: LeaveReason, *, keep_seat: bool = True
    ) -> EndReason | None:
        """The connection ended: a leave frees the seat; a drop keeps it for ``rejoin`` seconds (unless
        not ``keep_seat``). Returns, when the call is over (no seat held here or elsewhere), how it began
        to end."""
        if not self._holds(room_id, connection):
            return None  # replaced by a newer connection of the seat: nothing changes for the other side
        room = self._rooms[room_id]
        seat = connection.seat
        self._presence.depart(room_id, seat)
        if reason is not LeaveReason.NORMAL and keep_seat and self._rejoin > 0:
            state = room.seats[seat]
            state.connection = None
            state.dropped_because = reason
            state.expiry = asyncio.get_running_loop().call_later(self._rejoin, self._expire, room_id, seat)
            told = "dropped"
        else:
            del room.seats[seat]
            room.first_departure = room.first_departure or _departure(reason)
            told = "left"
        self._announce(room_id, f"leave {seat.value} {told}")
        self._tell_other(room, seat, told)
        return self._forget_if_empty(room_id)

    def _expire(self, room_id: UUID, seat: Seat) -> None:
        room = self._rooms.get(room_id)
        state = room.seats.get(seat) if room else None
        if room is None or state is None or state.connection is not None:
            return
        del room.seats[seat]
        room.first_departure = room.first_departure or _departure(
            state.dropped_because or LeaveReason.TIMEOUT
        )
        self._tell_other(room, seat, "gone")
        ended = self._forget_if_empty(room_id)
        if ended is not None and self._on_end is not None:
            self._on_end(room_id, ended)

    # ------------------------------------------------------------------------- other processes' events

    def _on_message(self, room_id: UUID, payload: str) -> None:
        parts = payload.split(" ", 3)
        node, event, seat_value, rest = parts + [""] * (4 - len(parts))
        room = self._rooms.get(room_id)
        if node == self.node or room is None:
            return
        try:
            seat = Seat(seat_value)
        except ValueError:
            log.warning("signalling bus message not understood", extra={"event": event[:16]})
            return
        if event == "relay":
            target = room.seats.get(seat.other)
            if target is not None and target.connection is not None:
                target.connection.send(rest)
        elif event == "join":
            self._remote_joined(room_id, room, seat)
        elif event == "leave":
            self._remote_left(room_id, room, seat, "left" if rest == "left" else "dropped")

    def _remote_joined(self, room_id: UUID, room: _Room, seat: Seat) -> None:
        mine = room.seats.pop(seat, None)
        if mine is not None:  # the participant came back through another process
            if mine.expiry is not None:
                mine.expiry.cancel()
            if mine.connection is not None:
                mine.connection.close(Close.REPLACED)
                self._presence.depart(room_id, seat)
        before = room.remote.get(seat)
        if before is not None:
            before.cancel()
        room.remote[seat] = _Remote(connected=True)
        other = room.seats.get(seat.other)
        if other is not None and other.connection is not None:
            other.connection.send(encode("peer-joined", seat=seat.value))
        self._forget_if_empty(room_id)

    def _remote_left(self, room_id: UUID, room: _Room, seat: Seat, reason: str) -> None:
        before = room.remote.pop(seat, None)
        if before is not None:
            before.cancel()
        if reason == "left":
            room.first_departure = room.first_departure or EndReason.NORMAL
        if reason == "dropped" and self._rejoin > 0:
            expiry = asyncio.get_running_loop().call_later(self._rejoin, self._remote_gone, room_id, seat)
            room.remote[seat] = _Remote(connected=False, expiry=expiry)
        self._tell_other(room, seat, reason)

    def _remote_gone(self, room_id: UUID, seat: Seat) -> None:
        room = self._rooms.get(room_id)
        remote = room.remote.get(seat) if room else None
        if room is None or remote is None or remote.connected:
            return
        del room.remote[seat]
        room.first_departure = room.first_departure or EndReason.TIMEOUT
        self._tell_other(room, seat, "gone")

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self._check_seconds)
            try:
                await self.check_remote_seats()
            except Exception:
                log.exception("signalling presence check failed; will retry")

    async def check_remote_seats(self) -> None:
        """Seats connected on another process whose lock is gone twice in a row (the process died, or
        lost its database connection) are taken as dropped: the participant here is told so."""
        watched = [
            (room_id, seat)
            for room_id, room in self._rooms.items()
            for seat, remote in room.remote.items()
            if remote.connected
        ]
        if not watched:
            return
        present = await self._presence.connected_elsewhere(watched)
        for room_id, seat in watched:
            room = self._rooms.get(room_id)
            remote = room.remote.get(seat) if room else None
            if room is None or remote is None or not remote.connected:
                continue  # a message changed it meanwhile
            if (room_id, seat) in present:
                remote.suspect = False
            elif not remote.suspect:
                remote.suspect = True
            else:
                log.info("signalling peer's process gone", extra={"seat": seat.value})
                self._remote_left(room_id, room, seat, "dropped")

    # ----------------------------------------------------------------------------------------- inside

    def _room(self, room_id: UUID) -> _Room:
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room()
            room.subscription = self._bus.subscribe(
                room_channel(room_id), lambda payload: self._on_message(room_id, payload)
            )
        return room

    def _announce(self, room_id: UUID, event: str) -> None:
        self._bus.publish(room_channel(room_id), f"{self.node} {event}")

    def _tell_other(self, room: _Room, seat: Seat, reason: str) -> None:
        other = room.seats.get(seat.other)
        if other is not None and other.connection is not None:
            other.connection.send(encode("peer-left", seat=seat.value, reason=reason))

    def _holds(self, room_id: UUID, connection: Connection) -> bool:
        room = self._rooms.get(room_id)
        state = room.seats.get(connection.seat) if room else None
        return state is not None and state.connection is connection

    def _forget_if_empty(self, room_id: UUID) -> EndReason | None:
        """Forget a room without a seat here. Returns how the call ended if no other process holds or
        keeps a seat of it either (this process saw the last participant go: it writes the end)."""
        room = self._rooms.get(room_id)
        if room is None or room.seats:
            return None
        over = not room.remote
        self._forget(room_id)
        return (room.first_departure or EndReason.NORMAL) if over else None

    def _forget(self, room_id: UUID) -> None:
        room = self._rooms.pop(room_id)
        if room.subscription is not None:
            room.subscription.cancel()
        for remote in room.remote.values():
            remote.cancel()

    def seat_held(self, room_id: UUID, seat: Seat) -> bool:
        """The seat is connected here, or kept here for a participant who dropped."""
        room = self._rooms.get(room_id)
        return room is not None and seat in room.seats

    def rooms(self) -> int:
        return len(self._rooms)

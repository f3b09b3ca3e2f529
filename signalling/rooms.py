"""Who sits in which room, and the bus that carries messages to them.

The hub keeps each room's two seats: the connection that holds it, or, after a drop, the seat kept empty
for ``rejoin`` seconds so that the participant can come back without the other side leaving. Messages go
through a :class:`Bus`, addressed to (room, seat): in-process here; a PostgreSQL LISTEN/NOTIFY bus can
implement the same interface for several processes (the seats' presence would then move to the database
too: that is the multi-process work of issue 6, not done yet).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from signalling.journal import EndReason, LeaveReason
from signalling.model import Seat
from signalling.protocol import Close, encode

log = logging.getLogger("teleconsult.signalling")

#: Messages waiting to be written to one connection; a peer that lets more pile up is too slow and dropped.
OUTBOX_SIZE = 256

Deliver = Callable[[str], None]
#: Told when a room empties without a leave (a dropped participant did not come back in time).
OnEnd = Callable[[UUID, EndReason], None]


class Bus(Protocol):
    """Carries a message to whoever holds a seat. ``publish`` never waits for the receiver."""

    def subscribe(self, room_id: UUID, seat: Seat, deliver: Deliver) -> None: ...

    def unsubscribe(self, room_id: UUID, seat: Seat, deliver: Deliver) -> None: ...

    def publish(self, room_id: UUID, seat: Seat, message: str) -> None: ...


class InProcessBus:
    """The bus of one process (SQLite deployments, and the tests)."""

    def __init__(self) -> None:
        self._subscribers: dict[tuple[UUID, Seat], Deliver] = {}

    def subscribe(self, room_id: UUID, seat: Seat, deliver: Deliver) -> None:
        self._subscribers[(room_id, seat)] = deliver

    def unsubscribe(self, room_id: UUID, seat: Seat, deliver: Deliver) -> None:
        if self._subscribers.get((room_id, seat)) == deliver:
            del self._subscribers[(room_id, seat)]

    def publish(self, room_id: UUID, seat: Seat, message: str) -> None:
        deliver = self._subscribers.get((room_id, seat))
        if deliver is not None:
            deliver(message)


class Connection:
    """One participant's WebSocket, seen from the hub: an outbox its writer task empties, and a close."""

    def __init__(self, user_id: UUID, seat: Seat, *, guest: bool = False) -> None:
        self.user_id = user_id
        self.seat = seat
        #: Whom the session journal names: the user; nobody for a guest (an invitation, not an account).
        self.journal_user_id: UUID | None = None if guest else user_id
        self.outbox: asyncio.Queue[str | Close] = asyncio.Queue(OUTBOX_SIZE)
        self.close_code: Close | None = None

    def send(self, message: str) -> None:
        if self.close_code is not None:
            return
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("signalling peer too slow; dropped", extra={"seat": self.seat.value})
            self.close(Close.SILENT)

    def close(self, code: Close) -> None:
        """Ask the writer to close the socket with ``code`` (after what is already queued)."""
        if self.close_code is not None:
            return
        self.close_code = code
        while True:  # make room for the close if the outbox is full: it matters more than the rest
            try:
                self.outbox.put_nowait(code)
                return
            except asyncio.QueueFull:
                self.outbox.get_nowait()


@dataclass
class _SeatState:
    connection: Connection | None
    user_id: UUID
    expiry: asyncio.TimerHandle | None = None
    #: Why the connection that held the seat went, while the seat is kept for its return.
    dropped_because: LeaveReason | None = None


@dataclass
class _Room:
    seats: dict[Seat, _SeatState] = field(default_factory=dict)
    #: How the first seat was freed: a call ends the way it began to end (journal's end reason).
    first_departure: EndReason | None = None


@dataclass(frozen=True, slots=True)
class Joined:
    peer_present: bool
    #: The seat was kept for this participant after a drop: a reconnection.
    rejoined: bool


def _departure(reason: LeaveReason) -> EndReason:
    if reason is LeaveReason.NORMAL:
        return EndReason.NORMAL
    return EndReason.REMOVED if reason is LeaveReason.REMOVED else EndReason.TIMEOUT


class Hub:
    """The rooms of this process. All methods run on the event loop; none awaits."""

    def __init__(self, bus: Bus, rejoin_seconds: float, on_end: OnEnd | None = None) -> None:
        self._bus = bus
        self._rejoin = rejoin_seconds
        self._rooms: dict[UUID, _Room] = {}
        self._on_end = on_end

    def join(self, room_id: UUID, connection: Connection) -> Joined:
        """Seat ``connection``; says whether the other seat is connected and whether this seat was kept
        for a return. A connection already in the seat (a reload before its socket was noticed dead, a
        second tab) is closed as replaced."""
        room = self._rooms.setdefault(room_id, _Room())
        seat = connection.seat
        state = room.seats.get(seat)
        rejoined = state is not None and state.connection is None
        if state is not None:
            if state.expiry is not None:
                state.expiry.cancel()
            if state.connection is not None:
                self._bus.unsubscribe(room_id, seat, state.connection.send)
                state.connection.close(Close.REPLACED)
        room.seats[seat] = _SeatState(connection, connection.user_id)
        self._bus.subscribe(room_id, seat, connection.send)
        other = room.seats.get(seat.other)
        peer_present = other is not None and other.connection is not None
        if peer_present:
            self._bus.publish(room_id, seat.other, encode("peer-joined", seat=seat.value))
        return Joined(peer_present, rejoined)

    def relay(self, room_id: UUID, connection: Connection, message: str) -> None:
        if self._holds(room_id, connection):
            self._bus.publish(room_id, connection.seat.other, message)

    def leave(
        self, room_id: UUID, connection: Connection, reason: LeaveReason, *, keep_seat: bool = True
    ) -> EndReason | None:
        """The connection ended: a leave frees the seat; a drop keeps it for ``rejoin`` seconds (unless
        not ``keep_seat``). Returns, when the room is empty afterwards, how the call began to end."""
        if not self._holds(room_id, connection):
            return None  # replaced by a newer connection of the seat: nothing changes for the other side
        room = self._rooms[room_id]
        seat = connection.seat
        self._bus.unsubscribe(room_id, seat, connection.send)
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
        self._bus.publish(room_id, seat.other, encode("peer-left", seat=seat.value, reason=told))
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
        self._bus.publish(room_id, seat.other, encode("peer-left", seat=seat.value, reason="gone"))
        ended = self._forget_if_empty(room_id)
        if ended is not None and self._on_end is not None:
            self._on_end(room_id, ended)

    def _holds(self, room_id: UUID, connection: Connection) -> bool:
        room = self._rooms.get(room_id)
        state = room.seats.get(connection.seat) if room else None
        return state is not None and state.connection is connection

    def _forget_if_empty(self, room_id: UUID) -> EndReason | None:
        room = self._rooms.get(room_id)
        if room is None or room.seats:
            return None
        del self._rooms[room_id]
        return room.first_departure or EndReason.NORMAL

    def seat_held(self, room_id: UUID, seat: Seat) -> bool:
        """The seat is connected, or kept for a participant who dropped."""
        room = self._rooms.get(room_id)
        return room is not None and seat in room.seats

    def close(self) -> None:
        """Shutdown: every connection is closed (1001), every kept seat forgotten."""
        for room in self._rooms.values():
            for state in room.seats.values():
                if state.expiry is not None:
                    state.expiry.cancel()
                if state.connection is not None:
                    state.connection.close(Close.GOING_AWAY)
        self._rooms.clear()

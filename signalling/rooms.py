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

from signalling.model import Seat
from signalling.protocol import Close, encode

log = logging.getLogger("teleconsult.signalling")

#: Messages waiting to be written to one connection; a peer that lets more pile up is too slow and dropped.
OUTBOX_SIZE = 256

Deliver = Callable[[str], None]


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

    def __init__(self, user_id: UUID, seat: Seat) -> None:
        self.user_id = user_id
        self.seat = seat
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


@dataclass
class _Room:
    seats: dict[Seat, _SeatState] = field(default_factory=dict)


class Hub:
    """The rooms of this process. All methods run on the event loop; none awaits."""

    def __init__(self, bus: Bus, rejoin_seconds: float) -> None:
        self._bus = bus
        self._rejoin = rejoin_seconds
        self._rooms: dict[UUID, _Room] = {}

    def join(self, room_id: UUID, connection: Connection) -> bool:
        """Seat ``connection``; returns whether the other seat is connected. A connection already in the
        seat (a reload before its socket was noticed dead, a second tab) is closed as replaced."""
        room = self._rooms.setdefault(room_id, _Room())
        seat = connection.seat
        state = room.seats.get(seat)
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
        return peer_present

    def relay(self, room_id: UUID, connection: Connection, message: str) -> None:
        if self._holds(room_id, connection):
            self._bus.publish(room_id, connection.seat.other, message)

    def leave(self, room_id: UUID, connection: Connection, dropped: bool) -> None:
        """The connection ended: a leave frees the seat; a drop keeps it for ``rejoin`` seconds."""
        if not self._holds(room_id, connection):
            return  # replaced by a newer connection of the same seat: nothing changes for the other side
        room = self._rooms[room_id]
        seat = connection.seat
        self._bus.unsubscribe(room_id, seat, connection.send)
        if dropped and self._rejoin > 0:
            state = room.seats[seat]
            state.connection = None
            state.expiry = asyncio.get_running_loop().call_later(self._rejoin, self._expire, room_id, seat)
            reason = "dropped"
        else:
            del room.seats[seat]
            reason = "left"
        self._bus.publish(room_id, seat.other, encode("peer-left", seat=seat.value, reason=reason))
        self._forget_if_empty(room_id)

    def _expire(self, room_id: UUID, seat: Seat) -> None:
        room = self._rooms.get(room_id)
        state = room.seats.get(seat) if room else None
        if room is None or state is None or state.connection is not None:
            return
        del room.seats[seat]
        self._bus.publish(room_id, seat.other, encode("peer-left", seat=seat.value, reason="gone"))
        self._forget_if_empty(room_id)

    def _holds(self, room_id: UUID, connection: Connection) -> bool:
        room = self._rooms.get(room_id)
        state = room.seats.get(connection.seat) if room else None
        return state is not None and state.connection is connection

    def _forget_if_empty(self, room_id: UUID) -> None:
        room = self._rooms.get(room_id)
        if room is not None and not room.seats:
            del self._rooms[room_id]

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

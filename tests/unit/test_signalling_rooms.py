"""The hub of one process: seats, relaying, a drop that keeps the seat, a replacement, the grace's end."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from signalling.model import Seat
from signalling.protocol import Close, encode
from signalling.rooms import Connection, Hub, InProcessBus

ROOM = uuid.uuid4()


def drained(connection: Connection) -> list[Any]:
    items: list[Any] = []
    while not connection.outbox.empty():
        item = connection.outbox.get_nowait()
        items.append(item if isinstance(item, Close) else json.loads(item))
    return items


async def test_two_seats_relay_and_a_drop_keeps_the_seat_until_the_peer_returns() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=60)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    assert hub.join(ROOM, expert) is False
    assert hub.join(ROOM, nurse) is True
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.relay(ROOM, nurse, encode("offer", sdp="x"))
    assert drained(expert) == [{"v": 1, "type": "offer", "sdp": "x"}]

    hub.leave(ROOM, nurse, dropped=True)
    assert drained(expert) == [{"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}]
    assert hub.seat_held(ROOM, Seat.CARE_HOME)
    back = Connection(nurse.user_id, Seat.CARE_HOME)
    assert hub.join(ROOM, back) is True
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.close()
    assert drained(back) == [Close.GOING_AWAY]


async def test_a_second_connection_replaces_the_first_whose_end_changes_nothing() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=60)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    first = Connection(uuid.uuid4(), Seat.CARE_HOME)
    hub.join(ROOM, expert)
    hub.join(ROOM, first)
    drained(expert)
    second = Connection(uuid.uuid4(), Seat.CARE_HOME)
    hub.join(ROOM, second)
    assert drained(first) == [Close.REPLACED]
    hub.leave(ROOM, first, dropped=True)
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.relay(ROOM, first, encode("offer", sdp="stale"))
    assert drained(expert) == []
    hub.close()


async def test_a_seat_not_taken_back_within_the_grace_is_freed_and_the_other_told() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=0.01)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    hub.join(ROOM, expert)
    hub.join(ROOM, nurse)
    hub.leave(ROOM, nurse, dropped=True)
    drained(expert)
    told = await asyncio.wait_for(expert.outbox.get(), timeout=5)
    assert isinstance(told, str)
    assert json.loads(told) == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "gone"}
    assert not hub.seat_held(ROOM, Seat.CARE_HOME)
    hub.leave(ROOM, expert, dropped=False)
    assert not hub.seat_held(ROOM, Seat.EXPERT)

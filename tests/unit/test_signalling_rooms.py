"""The hub of one process: seats, relaying, a drop that keeps the seat, a replacement, the grace's end, and
how a call ends (for the session journal)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from signalling.journal import EndReason, LeaveReason
from signalling.model import Seat
from signalling.protocol import Close, encode
from signalling.rooms import Connection, Hub, InProcessBus, Joined

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
    assert hub.join(ROOM, expert) == Joined(peer_present=False, rejoined=False)
    assert hub.join(ROOM, nurse) == Joined(peer_present=True, rejoined=False)
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.relay(ROOM, nurse, encode("offer", sdp="x"))
    assert drained(expert) == [{"v": 1, "type": "offer", "sdp": "x"}]

    assert hub.leave(ROOM, nurse, LeaveReason.DROPPED) is None
    assert drained(expert) == [{"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}]
    assert hub.seat_held(ROOM, Seat.CARE_HOME)
    back = Connection(nurse.user_id, Seat.CARE_HOME)
    assert hub.join(ROOM, back) == Joined(peer_present=True, rejoined=True)
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
    assert hub.leave(ROOM, first, LeaveReason.REPLACED) is None
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.relay(ROOM, first, encode("offer", sdp="stale"))
    assert drained(expert) == []
    hub.close()


async def test_a_seat_not_taken_back_within_the_grace_is_freed_and_the_other_told() -> None:
    ends: list[tuple[uuid.UUID, EndReason]] = []
    hub = Hub(InProcessBus(), rejoin_seconds=0.01, on_end=lambda room, reason: ends.append((room, reason)))
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    hub.join(ROOM, expert)
    hub.join(ROOM, nurse)
    hub.leave(ROOM, nurse, LeaveReason.DROPPED)
    drained(expert)
    told = await asyncio.wait_for(expert.outbox.get(), timeout=5)
    assert isinstance(told, str)
    assert json.loads(told) == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "gone"}
    assert not hub.seat_held(ROOM, Seat.CARE_HOME)
    # The nurse never came back: the call ends on a timeout, whoever hangs up last.
    assert hub.leave(ROOM, expert, LeaveReason.NORMAL) is EndReason.TIMEOUT
    assert not hub.seat_held(ROOM, Seat.EXPERT)
    assert ends == []  # told by leave's return: the hook is for a room emptied by the grace's end


async def test_a_room_emptied_by_the_grace_s_end_tells_the_hook_how_the_call_ended() -> None:
    ends: list[tuple[uuid.UUID, EndReason]] = []
    hub = Hub(InProcessBus(), rejoin_seconds=0.01, on_end=lambda room, reason: ends.append((room, reason)))
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    hub.join(ROOM, expert)
    hub.join(ROOM, nurse)
    assert hub.leave(ROOM, expert, LeaveReason.NORMAL) is None  # the expert hung up first
    assert hub.leave(ROOM, nurse, LeaveReason.REMOVED) is None  # then the nurse's page misbehaved
    for _ in range(200):
        if ends:
            break
        await asyncio.sleep(0.01)
    assert ends == [(ROOM, EndReason.NORMAL)]  # it ended as it began to end: a hang-up


async def test_a_guest_s_seat_is_not_kept_and_a_removal_is_how_the_call_ended() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=60)
    guest = Connection(uuid.uuid4(), Seat.EXPERT, guest=True)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    assert guest.journal_user_id is None and nurse.journal_user_id == nurse.user_id
    hub.join(ROOM, guest)
    hub.join(ROOM, nurse)
    assert hub.leave(ROOM, guest, LeaveReason.REMOVED, keep_seat=False) is None
    assert not hub.seat_held(ROOM, Seat.EXPERT)
    assert hub.leave(ROOM, nurse, LeaveReason.NORMAL) is EndReason.REMOVED

"""The hub: seats, relaying, a drop that keeps the seat, a replacement, the grace's end; and two hubs
(two processes) on one bus, with a presence that plays PostgreSQL's advisory locks."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from signalling.journal import EndReason, LeaveReason
from signalling.model import Seat
from signalling.protocol import Close, encode
from signalling.rooms import OUTBOX_SIZE, Connection, Hub, Joined, SeatKey, room_channel
from teleconsult.bus import InProcessBus

ROOM = uuid.uuid4()


def drained(connection: Connection) -> list[Any]:
    return [item if isinstance(item, Close) else json.loads(item) for item in connection.pending()]


async def test_two_seats_relay_and_a_drop_keeps_the_seat_until_the_peer_returns() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=60)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    assert (await hub.join(ROOM, expert)).peer_present is False
    assert (await hub.join(ROOM, nurse)).peer_present is True
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.relay(ROOM, nurse, encode("offer", sdp="x"))
    assert drained(expert) == [{"v": 1, "type": "offer", "sdp": "x"}]

    hub.leave(ROOM, nurse, LeaveReason.DROPPED)
    assert drained(expert) == [{"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}]
    assert hub.seat_held(ROOM, Seat.CARE_HOME)
    back = Connection(nurse.user_id, Seat.CARE_HOME)
    assert (await hub.join(ROOM, back)).peer_present is True
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.close()
    assert drained(back) == [Close.GOING_AWAY]


async def test_a_second_connection_replaces_the_first_whose_end_changes_nothing() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=60)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    first = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await hub.join(ROOM, expert)
    await hub.join(ROOM, first)
    drained(expert)
    second = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await hub.join(ROOM, second)
    assert drained(first) == [Close.REPLACED]
    hub.leave(ROOM, first, LeaveReason.DROPPED)
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    hub.relay(ROOM, first, encode("offer", sdp="stale"))
    assert drained(expert) == []
    hub.close()


async def test_a_seat_not_taken_back_within_the_grace_is_freed_and_the_other_told() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=0.01)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await hub.join(ROOM, expert)
    await hub.join(ROOM, nurse)
    hub.leave(ROOM, nurse, LeaveReason.DROPPED)
    drained(expert)
    told = await asyncio.wait_for(expert.next(), timeout=5)
    assert isinstance(told, str)
    assert json.loads(told) == {"v": 1, "type": "peer-left", "seat": "care_home", "reason": "gone"}
    assert not hub.seat_held(ROOM, Seat.CARE_HOME)
    hub.leave(ROOM, expert, LeaveReason.NORMAL)
    assert not hub.seat_held(ROOM, Seat.EXPERT)
    assert hub.rooms() == 0


async def test_the_welcome_goes_first_and_what_came_meanwhile_follows() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=60)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    await hub.join(ROOM, expert, lambda present: encode("joined", peer_present=present))
    assert drained(expert) == [{"v": 1, "type": "joined", "peer_present": False}]
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    nurse.hold()
    nurse.send(encode("offer", sdp="early"))
    nurse.release(encode("joined", peer_present=True))
    assert [m["type"] for m in drained(nurse)] == ["joined", "offer"]
    hub.close()


# ------------------------------------------------------------------------------ two processes, one bus


class Locks:
    """PostgreSQL's advisory locks as PgPresence uses them: shared, per process, gone with the process."""

    def __init__(self) -> None:
        self.held: dict[str, set[SeatKey]] = {}

    def of(self, node: str) -> NodePresence:
        return NodePresence(self, node)

    def die(self, node: str) -> None:
        self.held.pop(node, None)


class NodePresence:
    is_shared = True

    def __init__(self, locks: Locks, node: str) -> None:
        self._locks = locks
        self._node = node

    async def arrive(self, room_id: UUID, seat: Seat) -> None:
        self._locks.held.setdefault(self._node, set()).add((room_id, seat))

    def depart(self, room_id: UUID, seat: Seat) -> None:
        self._locks.held.get(self._node, set()).discard((room_id, seat))

    async def connected_elsewhere(self, seats: Iterable[SeatKey]) -> set[SeatKey]:
        elsewhere = {key for node, keys in self._locks.held.items() if node != self._node for key in keys}
        return set(seats) & elsewhere


def two_processes(rejoin: float = 60) -> tuple[InProcessBus, Locks, Hub, Hub]:
    bus, locks = InProcessBus(), Locks()
    return bus, locks, Hub(bus, rejoin, locks.of("a")), Hub(bus, rejoin, locks.of("b"))


def spy(bus: InProcessBus, room_id: UUID) -> list[str]:
    seen: list[str] = []
    bus.subscribe(room_channel(room_id), seen.append)
    return seen


async def test_participants_on_two_processes_talk_in_order_through_the_bus() -> None:
    bus, _, a, b = two_processes()
    published = spy(bus, ROOM)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    assert (await a.join(ROOM, expert)).peer_present is False
    joined = await b.join(ROOM, nurse, lambda present: encode("joined", peer_present=present))
    assert joined.peer_present is True
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    assert drained(nurse) == [{"v": 1, "type": "joined", "peer_present": True}]
    for n in range(5):
        a.relay(ROOM, expert, encode("candidate", candidate={"n": n}))
    b.relay(ROOM, nurse, encode("answer", sdp="y"))
    assert [m["candidate"]["n"] for m in drained(nurse)] == [0, 1, 2, 3, 4]
    assert drained(expert) == [{"v": 1, "type": "answer", "sdp": "y"}]
    assert sum(" relay " in message for message in published) == 6

    b.leave(ROOM, nurse, LeaveReason.NORMAL)
    assert drained(expert) == [{"v": 1, "type": "peer-left", "seat": "care_home", "reason": "left"}]
    a.relay(ROOM, expert, encode("offer", sdp="nobody"))
    assert sum(" relay " in message for message in published) == 6  # nobody there: nothing published
    a.close()


async def test_participants_on_one_process_publish_no_relay() -> None:
    bus, _, a, _b = two_processes()
    published = spy(bus, ROOM)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await a.join(ROOM, expert)
    await a.join(ROOM, nurse)
    a.relay(ROOM, nurse, encode("offer", sdp="x"))
    assert drained(expert)[-1] == {"v": 1, "type": "offer", "sdp": "x"}
    assert not any(" relay " in message for message in published)
    a.close()


async def test_a_seat_taken_again_on_another_process_replaces_the_first_connection() -> None:
    _, locks, a, b = two_processes()
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    first = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await a.join(ROOM, expert)
    await a.join(ROOM, first)
    drained(expert)
    second = Connection(first.user_id, Seat.CARE_HOME)
    assert (await b.join(ROOM, second)).peer_present is True
    assert drained(first) == [Close.REPLACED]
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    assert (ROOM, Seat.CARE_HOME) not in locks.held["a"]
    a.leave(ROOM, first, LeaveReason.DROPPED)  # its socket ends later: nothing changes for the expert
    assert drained(expert) == []
    b.relay(ROOM, second, encode("offer", sdp="z"))
    assert drained(expert) == [{"v": 1, "type": "offer", "sdp": "z"}]
    a.close()
    b.close()


async def test_a_drop_on_another_process_keeps_the_seat_then_the_peer_is_told_it_is_gone() -> None:
    _, _, a, b = two_processes(rejoin=0.01)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await a.join(ROOM, expert)
    await b.join(ROOM, nurse)
    drained(expert)
    b.leave(ROOM, nurse, LeaveReason.DROPPED)
    assert drained(expert) == [{"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}]
    told = await asyncio.wait_for(expert.next(), timeout=5)
    assert isinstance(told, str)
    assert json.loads(told)["reason"] == "gone"
    a.close()


async def test_a_process_that_dies_is_noticed_at_the_second_look_and_its_seat_kept() -> None:
    bus, locks, a, b = two_processes()
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await a.join(ROOM, expert)
    await b.join(ROOM, nurse)
    drained(expert)
    await a.check_remote_seats()
    await a.check_remote_seats()
    assert drained(expert) == []  # alive: nothing said

    locks.die("b")  # its connection closed: PostgreSQL released its locks; it says nothing any more
    await a.check_remote_seats()
    assert drained(expert) == []  # once could be a leave still on its way
    await a.check_remote_seats()
    assert drained(expert) == [{"v": 1, "type": "peer-left", "seat": "care_home", "reason": "dropped"}]
    await a.check_remote_seats()
    assert drained(expert) == []  # told once

    back = Connection(nurse.user_id, Seat.CARE_HOME)  # the nurse's page comes back through a third one
    c = Hub(bus, 60, locks.of("c"))
    assert (await c.join(ROOM, back)).peer_present is True
    assert drained(expert) == [{"v": 1, "type": "peer-joined", "seat": "care_home"}]
    a.close()
    c.close()


async def test_a_peer_too_slow_to_read_is_closed_and_the_close_still_fits() -> None:
    connection = Connection(uuid.uuid4(), Seat.EXPERT)
    for n in range(OUTBOX_SIZE + 5):
        connection.send(encode("offer", sdp=str(n)))
    items = connection.pending()
    assert len(items) == OUTBOX_SIZE
    assert items[-1] is Close.SILENT
    connection.send(encode("offer", sdp="after"))
    assert connection.pending() == []


async def test_heartbeats_come_from_a_timer_until_the_close() -> None:
    connection = Connection(uuid.uuid4(), Seat.EXPERT)
    connection.start_heartbeat(0.01, encode("heartbeat"))
    first = await asyncio.wait_for(connection.next(), timeout=5)
    second = await asyncio.wait_for(connection.next(), timeout=5)
    assert first == second == encode("heartbeat")
    connection.close(Close.NORMAL)
    assert connection.pending()[-1:] == [Close.NORMAL]
    assert connection._beat is not None and connection._beat.cancelled()


# ------------------------------------------------------------------------ how a call ends (the journal)


async def test_a_return_to_a_kept_seat_is_a_reconnection_and_the_last_to_go_ends_the_call() -> None:
    hub = Hub(InProcessBus(), rejoin_seconds=60)
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    assert await hub.join(ROOM, expert) == Joined(peer_present=False, rejoined=False)
    assert await hub.join(ROOM, nurse) == Joined(peer_present=True, rejoined=False)
    assert hub.leave(ROOM, nurse, LeaveReason.DROPPED) is None
    back = Connection(nurse.user_id, Seat.CARE_HOME)
    assert await hub.join(ROOM, back) == Joined(peer_present=True, rejoined=True)
    assert hub.leave(ROOM, expert, LeaveReason.NORMAL) is None
    assert hub.leave(ROOM, back, LeaveReason.NORMAL) is EndReason.NORMAL


async def test_a_participant_who_never_comes_back_ends_the_call_on_a_timeout() -> None:
    ends: list[tuple[UUID, EndReason]] = []
    hub = Hub(InProcessBus(), rejoin_seconds=0.01, on_end=lambda room, reason: ends.append((room, reason)))
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await hub.join(ROOM, expert)
    await hub.join(ROOM, nurse)
    hub.leave(ROOM, nurse, LeaveReason.DROPPED)
    for _ in range(200):
        if not hub.seat_held(ROOM, Seat.CARE_HOME):
            break
        await asyncio.sleep(0.01)
    assert hub.leave(ROOM, expert, LeaveReason.NORMAL) is EndReason.TIMEOUT
    assert ends == []  # told by leave's return: the hook is for a room emptied by the grace's end


async def test_a_room_emptied_by_the_grace_s_end_tells_the_hook_how_the_call_ended() -> None:
    ends: list[tuple[UUID, EndReason]] = []
    hub = Hub(InProcessBus(), rejoin_seconds=0.01, on_end=lambda room, reason: ends.append((room, reason)))
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await hub.join(ROOM, expert)
    await hub.join(ROOM, nurse)
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
    await hub.join(ROOM, guest)
    await hub.join(ROOM, nurse)
    assert hub.leave(ROOM, guest, LeaveReason.REMOVED, keep_seat=False) is None
    assert not hub.seat_held(ROOM, Seat.EXPERT)
    assert hub.leave(ROOM, nurse, LeaveReason.NORMAL) is EndReason.REMOVED


async def test_across_two_processes_only_the_one_that_sees_the_last_participant_go_ends_the_call() -> None:
    _bus, _locks, a, b = two_processes()
    expert = Connection(uuid.uuid4(), Seat.EXPERT)
    nurse = Connection(uuid.uuid4(), Seat.CARE_HOME)
    await a.join(ROOM, expert)
    assert (await b.join(ROOM, nurse)).peer_present is True
    assert a.leave(ROOM, expert, LeaveReason.NORMAL) is None  # the nurse is still there, on b
    await asyncio.sleep(0)
    assert b.leave(ROOM, nurse, LeaveReason.NORMAL) is EndReason.NORMAL

"""PrincipalCache on its own: when an entry may answer, what drops it, and the messages it exchanges with
other processes (the database side is in tests/integration/test_principal_cache.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from teleconsult.identity.model import Role, Session, SessionPolicy, User
from teleconsult.identity.policy import Principal
from teleconsult.identity.principal_cache import CHANNEL, Invalidation, PrincipalCache

NOW = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
TOUCH = timedelta(seconds=60)
HOME = uuid.uuid4()


def login(user_id: uuid.UUID | None = None, *, last_seen: datetime = NOW) -> tuple[Principal, Session]:
    user = User(user_id or uuid.uuid4(), "u", "U", Role.IDE, HOME)
    session = Session(uuid.uuid4().hex, user.id, last_seen - timedelta(hours=1), last_seen, True)
    return Principal(user, True), session


def cached(cache: PrincipalCache, principal: Principal, session: Session, at: datetime = NOW) -> None:
    assert cache.put(principal, session, at, cache.generation)


def test_an_entry_answers_until_its_ttl_then_the_database_is_asked_again() -> None:
    cache = PrincipalCache(timedelta(seconds=5))
    principal, session = login()
    cached(cache, principal, session)
    assert cache.get(session.id_hash, NOW + timedelta(seconds=4.9), POLICY, TOUCH) is principal
    assert cache.get(session.id_hash, NOW + timedelta(seconds=5), POLICY, TOUCH) is None
    assert session.id_hash not in cache


def test_a_clock_that_goes_back_is_not_trusted() -> None:
    cache = PrincipalCache(timedelta(seconds=5))
    principal, session = login()
    cached(cache, principal, session)
    assert cache.get(session.id_hash, NOW - timedelta(seconds=1), POLICY, TOUCH) is None


def test_an_entry_never_outlives_the_moment_last_seen_must_be_written() -> None:
    # Even with a long ttl: the database path writes last_seen_at, so the idle limit keeps its meaning.
    cache = PrincipalCache(timedelta(hours=1))
    principal, session = login()
    cached(cache, principal, session)
    assert cache.get(session.id_hash, NOW + timedelta(seconds=59), POLICY, TOUCH) is principal
    assert cache.get(session.id_hash, NOW + timedelta(seconds=60), POLICY, TOUCH) is None


def test_an_entry_whose_session_is_no_longer_live_never_answers() -> None:
    cache = PrincipalCache(timedelta(hours=24))
    principal, session = login(last_seen=NOW)
    cached(cache, principal, session)
    long_touch = timedelta(days=1)
    assert cache.get(session.id_hash, NOW + timedelta(minutes=29), POLICY, long_touch) is principal
    assert cache.get(session.id_hash, NOW + timedelta(minutes=30), POLICY, long_touch) is None
    # Absolute limit: created 11 h 59 min before the lookup, then 12 h.
    principal, session = login(last_seen=NOW)
    young = Session(session.id_hash, session.user_id, NOW - timedelta(hours=11, minutes=59), NOW, True)
    cached(cache, principal, young)
    assert cache.get(young.id_hash, NOW + timedelta(seconds=59), POLICY, long_touch) is principal
    assert cache.get(young.id_hash, NOW + timedelta(minutes=1), POLICY, long_touch) is None


def test_a_result_read_before_an_invalidation_is_not_kept() -> None:
    cache = PrincipalCache()
    principal, session = login()
    generation = cache.generation
    cache.invalidate_user(uuid.uuid4())  # any change at all, even another user's
    assert not cache.put(principal, session, NOW, generation)
    assert session.id_hash not in cache
    assert cache.put(principal, session, NOW, cache.generation)


def test_invalidations_drop_exactly_what_they_name() -> None:
    cache = PrincipalCache()
    user_id = uuid.uuid4()
    a, a_session = login(user_id)
    b, b_session = login(user_id)
    c, c_session = login()
    for principal, session in ((a, a_session), (b, b_session), (c, c_session)):
        cached(cache, principal, session)
    cache.invalidate_session(a_session.id_hash)
    assert a_session.id_hash not in cache and b_session.id_hash in cache and c_session.id_hash in cache
    cached(cache, a, a_session)
    cache.invalidate_user(user_id)
    assert a_session.id_hash not in cache and b_session.id_hash not in cache and c_session.id_hash in cache
    cache.invalidate_all()
    assert len(cache) == 0


def test_the_cache_is_bounded_and_a_zero_ttl_turns_it_off() -> None:
    cache = PrincipalCache(max_entries=2)
    entries = [login() for _ in range(3)]
    for principal, session in entries:
        cached(cache, principal, session)
    assert len(cache) == 2 and entries[0][1].id_hash not in cache
    off = PrincipalCache(timedelta(0))
    principal, session = login()
    assert not off.put(principal, session, NOW, off.generation)


def test_payloads_round_trip_and_an_unreadable_one_drops_everything() -> None:
    change = Invalidation(frozenset({"ab" * 32}), frozenset({uuid.uuid4()}))
    assert Invalidation.from_payload(change.to_payload("me")) == ("me", change)
    assert Invalidation.from_payload("not json") == ("", Invalidation(everything=True))
    assert Invalidation.from_payload('{"users": ["not a uuid"]}') == ("", Invalidation(everything=True))


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def publish(self, channel: str, payload: str) -> None:
        self.sent.append((channel, payload))


def test_published_changes_reach_another_process_but_not_back_to_their_origin() -> None:
    bus = RecordingBus()
    here = PrincipalCache(bus=bus)
    there = PrincipalCache()
    user_id = uuid.uuid4()
    principal, session = login(user_id)
    cached(here, principal, session)
    cached(there, principal, session)
    here.invalidate_user(user_id)
    assert [channel for channel, _ in bus.sent] == [CHANNEL]
    there.receive(bus.sent[0][1])
    assert session.id_hash not in there
    cached(here, principal, session)
    here.receive(bus.sent[0][1])  # its own message, echoed by the bus: nothing more to do
    assert session.id_hash in here


async def test_an_async_publisher_is_scheduled_and_its_failure_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered: list[str] = []

    class AsyncBus:
        async def publish(self, channel: str, payload: str) -> None:
            if "fail" in delivered:
                raise ConnectionError("bus down")
            delivered.append(payload)

    cache = PrincipalCache(bus=AsyncBus())
    cache.invalidate_session("ab" * 32)
    await asyncio.sleep(0)
    assert len(delivered) == 1
    delivered.append("fail")
    with caplog.at_level(logging.ERROR, "teleconsult.identity.principal_cache"):
        cache.invalidate_session("cd" * 32)
        for _ in range(3):
            await asyncio.sleep(0)
    assert "not published" in caplog.text


def test_a_publisher_that_raises_does_not_break_the_change() -> None:
    class BrokenBus:
        def publish(self, channel: str, payload: str) -> None:
            raise ConnectionError("bus down")

    cache = PrincipalCache(bus=BrokenBus())
    principal, session = login()
    cached(cache, principal, session)
    cache.invalidate_session(session.id_hash)
    assert session.id_hash not in cache

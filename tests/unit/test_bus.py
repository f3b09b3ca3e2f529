"""The in-process bus, channel names, and how a long payload is cut for NOTIFY's 8000 bytes."""

from __future__ import annotations

import pytest

from teleconsult.bus import (
    FRAGMENT_BYTES,
    MAX_PAYLOAD_BYTES,
    InProcessBus,
    PayloadTooLarge,
    bus_for,
    channel_name,
    fragments,
)


def test_a_message_reaches_every_subscriber_of_its_channel_only_until_cancelled() -> None:
    bus = InProcessBus()
    first: list[str] = []
    second: list[str] = []
    other: list[str] = []
    one = bus.subscribe("cache.principals", first.append)
    bus.subscribe("cache.principals", second.append)
    bus.subscribe("cache.other", other.append)
    bus.publish("cache.principals", "a")
    bus.publish("cache.principals", b"b")
    one.cancel()
    one.cancel()
    bus.publish("cache.principals", "c")
    assert (first, second, other) == (["a", "b"], ["a", "b", "c"], [])
    assert bus.channels() == ["tc.cache.principals", "tc.cache.other"]


def test_a_failing_handler_does_not_keep_the_others_from_their_message() -> None:
    bus = InProcessBus()
    seen: list[str] = []

    def broken(payload: str) -> None:
        raise RuntimeError(payload)

    bus.subscribe("x", broken)
    bus.subscribe("x", seen.append)
    bus.publish("x", "still delivered")
    assert seen == ["still delivered"]


@pytest.mark.parametrize("channel", ["", "Upper", "with space", "semi;colon", "é", "x" * 61])
def test_channel_names_are_checked(channel: str) -> None:
    with pytest.raises(ValueError, match="bad bus channel"):
        channel_name("tc", channel)


def test_a_room_channel_fits_postgresql_identifiers() -> None:
    assert channel_name("tc", "signalling.room." + "f" * 32) == "tc.signalling.room." + "f" * 32


def test_payloads_over_the_limit_are_refused_explicitly() -> None:
    bus = InProcessBus()
    with pytest.raises(PayloadTooLarge):
        bus.publish("x", "a" * (MAX_PAYLOAD_BYTES + 1))


def test_a_long_payload_is_cut_under_notify_limit_and_never_inside_a_character() -> None:
    payload = ("a" * 7899 + "é€😀" * 3000)[:20_000]
    pieces = fragments(payload)
    assert len(pieces) > 1
    assert all(len(piece.encode()) <= FRAGMENT_BYTES for piece in pieces)
    assert "".join(pieces) == payload
    assert fragments("") == [""]
    assert fragments("short") == ["short"]


def test_the_bus_follows_the_database() -> None:
    assert type(bus_for("sqlite+aiosqlite:///x.db")).__name__ == "InProcessBus"
    assert type(bus_for("postgresql+asyncpg://u@h/db")).__name__ == "PgBus"

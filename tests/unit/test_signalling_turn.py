"""TURN credentials in coturn's use-auth-secret ("TURN REST API") scheme, against a vector computed here
independently (the same recipe as coturn's documentation: HMAC-SHA1 over "expiry:user", base64)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from signalling.turn import ice_servers, turn_credentials

NOW = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_credentials_match_a_vector_computed_independently() -> None:
    expiry = int(NOW.timestamp()) + 3600
    assert expiry == 1795528800
    expected_password = base64.b64encode(
        hmac.new(b"north-secret", b"1795528800:4f1c", hashlib.sha1).digest()
    ).decode()
    assert turn_credentials("north-secret", "4f1c", NOW, timedelta(hours=1)) == (
        "1795528800:4f1c",
        expected_password,
    )


def test_a_known_fixed_vector() -> None:
    # openssl: printf '1700000000:alice' | openssl dgst -sha1 -hmac secret -binary | base64
    moment = datetime.fromtimestamp(1_700_000_000 - 60, tz=UTC)
    assert turn_credentials("secret", "alice", moment, timedelta(seconds=60)) == (
        "1700000000:alice",
        "d8soP47RbdIKLDUOpnJPVQyq5Ts=",
    )


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(hours=1, seconds=1)])
def test_credentials_live_an_hour_at_most(ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="hour"):
        turn_credentials("s", "u", NOW, ttl)


def test_a_user_with_a_colon_is_refused() -> None:
    with pytest.raises(ValueError, match=":"):
        turn_credentials("s", "a:b", NOW, timedelta(minutes=5))


def test_ice_servers_list_stun_then_turn_with_credentials() -> None:
    servers = ice_servers(
        ["stun:turn.example.org:3478"],
        ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp"],
        "secret",
        "u1",
        NOW,
        timedelta(minutes=30),
    )
    assert servers[0] == {"urls": ["stun:turn.example.org:3478"]}
    assert servers[1]["urls"][1] == "turns:turn.example.org:443?transport=tcp"
    assert servers[1]["username"] == f"{int(NOW.timestamp()) + 1800}:u1"


def test_no_servers_configured_means_host_candidates_only() -> None:
    assert ice_servers([], [], "", "u1", NOW, timedelta(hours=1)) == []
    assert ice_servers([], ["turn:x"], "", "u1", NOW, timedelta(hours=1)) == []

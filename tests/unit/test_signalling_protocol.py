"""The signalling protocol: validation of every message type, the rate limit, and docs/signalling.md
naming every message type and close code of the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from signalling.journal import Quality
from signalling.protocol import (
    CLIENT_TYPES,
    MAX_MESSAGE_BYTES,
    SERVER_TYPES,
    Close,
    ProtocolViolation,
    RateLimit,
    UnknownType,
    encode,
    parse,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "signalling.md"


def text(**fields: Any) -> str:
    return json.dumps({"v": 1, **fields})


def test_each_message_is_rebuilt_from_its_checked_fields_only() -> None:
    assert parse(text(type="offer", sdp="v=0", extra="x")).fields == {"sdp": "v=0"}
    candidate = {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
    assert parse(text(type="candidate", candidate=candidate)).fields["candidate"] == {
        **candidate,
        "usernameFragment": None,
    }
    assert parse(text(type="candidate", candidate=None)).fields == {"candidate": None}
    assert parse(text(type="mute", audio=True, video=False)).fields == {"audio": True, "video": False}
    assert parse(text(type="heartbeat")).type == "heartbeat"
    assert parse(text(type="join", token="abc")).fields == {"token": "abc"}


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        json.dumps({"type": "heartbeat"}),
        json.dumps({"v": 2, "type": "heartbeat"}),
        text(type=7),
        text(type="offer"),
        text(type="offer", sdp=5),
        text(type="offer", sdp="x" * 60_001),
        text(type="candidate", candidate="x"),
        text(type="candidate", candidate={"candidate": 1}),
        text(type="candidate", candidate={"candidate": "c", "sdpMLineIndex": True}),
        text(type="mute", audio="yes", video=False),
        text(type="join"),
    ],
)
def test_malformed_messages_close_with_4400(raw: str) -> None:
    with pytest.raises(ProtocolViolation) as refused:
        parse(raw)
    assert refused.value.close_code is Close.MALFORMED


def test_an_unknown_type_is_reported_not_fatal() -> None:
    with pytest.raises(UnknownType) as unknown:
        parse(text(type="screen-share"))
    assert unknown.value.message_type == "screen-share"


def test_a_message_over_the_cap_is_too_big() -> None:
    with pytest.raises(ProtocolViolation) as refused:
        parse("x" * (MAX_MESSAGE_BYTES + 1))
    assert refused.value.close_code is Close.TOO_BIG


def test_server_messages_carry_the_version() -> None:
    assert json.loads(encode("peer-left", seat="expert", reason="left")) == {
        "v": 1,
        "type": "peer-left",
        "seat": "expert",
        "reason": "left",
    }
    with pytest.raises(ValueError, match="nonsense"):
        encode("nonsense")


def test_the_rate_limit_allows_a_burst_then_the_average() -> None:
    limit = RateLimit(per_second=10, burst=5)
    assert all(limit.allow(0.0) for _ in range(5))
    assert not limit.allow(0.0)
    assert limit.allow(0.1)  # one message's worth refilled
    assert not limit.allow(0.1)
    assert all(limit.allow(10.0) for _ in range(5))


def test_the_documentation_names_every_message_type_and_close_code() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for message_type in CLIENT_TYPES | SERVER_TYPES:
        assert f"`{message_type}`" in doc, message_type
    for code in Close:
        assert f"| {int(code)} |" in doc, code


# ----------------------------------------------------------------------------- session journal messages


def test_network_reports_are_checked_field_by_field() -> None:
    assert parse('{"v":1,"type":"ice","state":"failed"}').fields == {"state": "failed"}
    good = parse('{"v":1,"type":"quality","bitrate_kbps":640,"packet_loss_pct":2.345,"rtt_ms":null}')
    assert good.fields["quality"] == Quality(640, 2.35, None)
    assert parse('{"v":1,"type":"audio-only","on":true}').fields == {"on": True}
    assert parse('{"v":1,"type":"document"}').fields == {}
    for bad in (
        '{"v":1,"type":"ice","state":"excellent"}',
        '{"v":1,"type":"ice"}',
        '{"v":1,"type":"quality","bitrate_kbps":-1,"packet_loss_pct":0,"rtt_ms":1}',
        '{"v":1,"type":"quality","bitrate_kbps":true,"packet_loss_pct":0,"rtt_ms":1}',
        '{"v":1,"type":"quality","bitrate_kbps":10,"packet_loss_pct":101,"rtt_ms":1}',
        '{"v":1,"type":"quality","bitrate_kbps":10,"packet_loss_pct":"1","rtt_ms":1}',
        '{"v":1,"type":"quality","bitrate_kbps":10,"packet_loss_pct":1,"rtt_ms":60001}',
        '{"v":1,"type":"quality","bitrate_kbps":10,"packet_loss_pct":NaN,"rtt_ms":1}',
        '{"v":1,"type":"audio-only","on":"yes"}',
    ):
        with pytest.raises(ProtocolViolation) as refused:
            parse(bad)
        assert refused.value.close_code == Close.MALFORMED, bad

"""The signalling protocol, version 1 (docs/signalling.md): message validation, close codes, rate limit.

Every message is one JSON object with ``"v": 1`` and a ``"type"``. What a browser sends is checked field by
field here and rebuilt from the checked fields only, so nothing unexpected is ever relayed to the other
side. Pure Python: no aiohttp, no I/O; the rate limiter is given the time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from signalling.journal import ICE_STATES, InvalidQuality, Quality

VERSION = 1
#: The largest message accepted (an SDP offer with several tracks is a few KiB).
MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_CHARS = 60_000
MAX_CANDIDATE_CHARS = 2048
MAX_SHORT_FIELD = 256


class Close(IntEnum):
    """WebSocket close codes (1000-1011 are the RFC's, 4000-4999 are the application's)."""

    NORMAL = 1000  # the participant left ("leave")
    GOING_AWAY = 1001  # the server shuts down
    TOO_BIG = 1009  # a message over MAX_MESSAGE_BYTES (closed by aiohttp itself)
    MALFORMED = 4400  # not JSON, wrong version, a field missing or wrong, no join first, a second join
    JOIN_REFUSED = 4401  # the join token was refused
    SILENT = 4408  # nothing received for call_silence_seconds
    REPLACED = 4409  # the same seat joined again from another connection (a reload, a second tab)
    ROOM_CLOSED = 4410  # outside the room's hours, or the appointment is no longer booked
    RATE_LIMITED = 4429  # too many messages


#: Types a browser may send, and what the server sends.
CLIENT_TYPES = frozenset(
    {
        "join",
        "offer",
        "answer",
        "candidate",
        "mute",
        "audio-only",
        "document",
        "ice",
        "quality",
        "heartbeat",
        "leave",
    }
)
SERVER_TYPES = frozenset(
    {
        "joined",
        "peer-joined",
        "peer-left",
        "offer",
        "answer",
        "candidate",
        "mute",
        "audio-only",
        "document",
        "heartbeat",
        "error",
    }
)
#: Types relayed to the other participant; "ice" and "quality" go into the session journal instead.
RELAYED_TYPES = frozenset({"offer", "answer", "candidate", "mute", "audio-only", "document"})


class ProtocolViolation(Exception):
    """The connection must be closed with ``close_code``."""

    def __init__(self, close_code: Close, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason


class UnknownType(Exception):
    """A well-formed message of a type this version does not know: answered with an error, not closed."""

    def __init__(self, message_type: str) -> None:
        super().__init__(message_type)
        self.message_type = message_type


@dataclass(frozen=True, slots=True)
class Message:
    type: str
    fields: dict[str, Any] = field(default_factory=dict)


def _malformed(reason: str) -> ProtocolViolation:
    return ProtocolViolation(Close.MALFORMED, reason)


def _text(data: dict[str, Any], name: str, limit: int, *, optional: bool = False) -> str | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _malformed(f"{name} must be a string of at most {limit} characters")
    return value


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise _malformed(f"{name} must be true or false")
    return value


def _candidate(data: dict[str, Any]) -> dict[str, Any] | None:
    value = data.get("candidate")
    if value is None:
        return None  # the end of candidates
    if not isinstance(value, dict):
        raise _malformed("candidate must be an object or null")
    index = value.get("sdpMLineIndex")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 64):
        raise _malformed("sdpMLineIndex must be a small integer or null")
    return {
        "candidate": _text(value, "candidate", MAX_CANDIDATE_CHARS),
        "sdpMid": _text(value, "sdpMid", MAX_SHORT_FIELD, optional=True),
        "sdpMLineIndex": index,
        "usernameFragment": _text(value, "usernameFragment", MAX_SHORT_FIELD, optional=True),
    }


def parse(text: str) -> Message:
    """One message from a browser, checked. Raises :class:`ProtocolViolation` or :class:`UnknownType`."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolViolation(Close.TOO_BIG, "message too big")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _malformed("not JSON") from exc
    if not isinstance(data, dict):
        raise _malformed("not a JSON object")
    if data.get("v") != VERSION:
        raise _malformed("unsupported protocol version")
    message_type = data.get("type")
    if not isinstance(message_type, str):
        raise _malformed("type missing")
    if message_type not in CLIENT_TYPES:
        raise UnknownType(message_type[:MAX_SHORT_FIELD])
    if message_type == "join":
        return Message("join", {"token": _text(data, "token", 4096)})
    if message_type in ("offer", "answer"):
        return Message(message_type, {"sdp": _text(data, "sdp", MAX_SDP_CHARS)})
    if message_type == "candidate":
        return Message("candidate", {"candidate": _candidate(data)})
    if message_type == "mute":
        return Message("mute", {"audio": _flag(data, "audio"), "video": _flag(data, "video")})
    if message_type == "audio-only":
        return Message("audio-only", {"on": _flag(data, "on")})
    if message_type == "ice":
        state = data.get("state")
        if state not in ICE_STATES:
            raise _malformed("state must be an ICE connection state")
        return Message("ice", {"state": state})
    if message_type == "quality":
        try:
            quality = Quality.checked(
                data.get("bitrate_kbps"), data.get("packet_loss_pct"), data.get("rtt_ms")
            )
        except InvalidQuality as exc:
            raise _malformed(f"{exc} out of range") from exc
        return Message("quality", {"quality": quality})
    return Message(message_type)  # heartbeat, leave, document: no fields


def encode(message_type: str, **fields: Any) -> str:
    """A message from the server."""
    if message_type not in SERVER_TYPES:
        raise ValueError(message_type)
    return json.dumps({"v": VERSION, "type": message_type, **fields}, separators=(",", ":"))


@dataclass(slots=True)
class RateLimit:
    """A token bucket: ``burst`` messages at once (the ICE candidates of a new connection come in a burst),
    then ``per_second`` on average."""

    per_second: float = 20.0
    burst: float = 100.0
    _tokens: float = -1.0
    _at: float = 0.0

    def allow(self, now: float) -> bool:
        if self._tokens < 0:
            self._tokens, self._at = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

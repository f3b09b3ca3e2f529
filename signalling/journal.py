"""The session journal of a call (issue 6, item 7): what happened in an appointment's room, as ids and
measurements only, and what it adds up to. Pure Python: no aiohttp, no SQLAlchemy, no I/O.

Events come from two places. The server writes joins, returns after a drop (``reconnect``), leaves (with
why: hung up, dropped, silent, replaced, removed for a protocol violation) and the end of the call (when
the room empties). The browser reports its ICE connection state as it changes and, every half minute, a
quality summary from ``RTCPeerConnection.getStats()`` (inbound bitrate, packet loss, round-trip time),
which the server checks here before storing. Technical incidents (an ICE failure, a drop, a silence, a
removal, a call that ended on a timeout or a failed network) are flagged so that activity can count them.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from teleconsult.i18n import N_


class EventKind(StrEnum):
    JOIN = "join"
    RECONNECT = "reconnect"  # a participant came back to the seat kept for them after a drop
    LEAVE = "leave"
    ICE_STATE = "ice_state"
    QUALITY = "quality"
    END = "end"


class LeaveReason(StrEnum):
    NORMAL = "normal"  # hung up
    DROPPED = "dropped"  # the socket closed without a goodbye (network lost, page closed)
    TIMEOUT = "timeout"  # nothing heard for the silence delay
    REPLACED = "replaced"  # the same seat joined from another window
    REMOVED = "removed"  # closed by the server: a malformed message, too many messages


class EndReason(StrEnum):
    NORMAL = "normal"
    ICE_FAILED = "ice_failed"  # the last network state reported in the room was a failure
    TIMEOUT = "timeout"  # a dropped participant did not come back within the rejoin delay
    REMOVED = "removed"


#: The RTCIceConnectionState values a browser may report.
ICE_STATES = frozenset({"new", "checking", "connected", "completed", "disconnected", "failed", "closed"})

INCIDENT_LEAVES = frozenset({LeaveReason.DROPPED, LeaveReason.TIMEOUT, LeaveReason.REMOVED})
INCIDENT_ENDS = frozenset({EndReason.ICE_FAILED, EndReason.TIMEOUT, EndReason.REMOVED})

#: A browser sends a quality summary every QUALITY_REPORT_SECONDS; the server stores at most one per
#: connection every QUALITY_MIN_INTERVAL_SECONDS (a page that sends more is not stored more often).
QUALITY_REPORT_SECONDS = 30
QUALITY_MIN_INTERVAL_SECONDS = 10.0
MAX_BITRATE_KBPS = 100_000
MAX_RTT_MS = 60_000


class InvalidQuality(ValueError):
    """A quality summary out of range: the message is malformed."""


@dataclass(frozen=True, slots=True)
class Quality:
    bitrate_kbps: int
    packet_loss_pct: float
    rtt_ms: int | None

    @classmethod
    def checked(cls, bitrate_kbps: object, packet_loss_pct: object, rtt_ms: object) -> Quality:
        bitrate = _bounded_int(bitrate_kbps, MAX_BITRATE_KBPS, "bitrate_kbps")
        if not isinstance(packet_loss_pct, int | float) or isinstance(packet_loss_pct, bool):
            raise InvalidQuality("packet_loss_pct")
        loss = float(packet_loss_pct)
        if not math.isfinite(loss) or not 0.0 <= loss <= 100.0:
            raise InvalidQuality("packet_loss_pct")
        rtt = None if rtt_ms is None else _bounded_int(rtt_ms, MAX_RTT_MS, "rtt_ms")
        return cls(bitrate, round(loss, 2), rtt)


def _bounded_int(value: object, limit: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise InvalidQuality(name)
    return value


@dataclass(frozen=True, slots=True)
class CallEvent:
    appointment_id: UUID
    user_id: UUID | None
    kind: EventKind
    at: datetime
    detail: str | None = None
    incident: bool = False
    quality: Quality | None = None


def join_event(appointment_id: UUID, user_id: UUID | None, rejoined: bool, at: datetime) -> CallEvent:
    """A return to a kept seat is a reconnection, counted as an incident (the network dropped)."""
    kind = EventKind.RECONNECT if rejoined else EventKind.JOIN
    return CallEvent(appointment_id, user_id, kind, at, incident=rejoined)


def leave_event(appointment_id: UUID, user_id: UUID | None, reason: LeaveReason, at: datetime) -> CallEvent:
    return CallEvent(
        appointment_id, user_id, EventKind.LEAVE, at, reason.value, incident=reason in INCIDENT_LEAVES
    )


def ice_event(appointment_id: UUID, user_id: UUID | None, state: str, at: datetime) -> CallEvent:
    if state not in ICE_STATES:
        raise ValueError(state)
    return CallEvent(appointment_id, user_id, EventKind.ICE_STATE, at, state, incident=state == "failed")


def quality_event(appointment_id: UUID, user_id: UUID | None, quality: Quality, at: datetime) -> CallEvent:
    return CallEvent(appointment_id, user_id, EventKind.QUALITY, at, quality=quality)


def end_reason(first_departure: EndReason, last_ice_state: str | None) -> EndReason:
    """Why the call ended: how its first participant went, unless the network had failed last (then
    whoever hung up did so because of it)."""
    if first_departure is EndReason.NORMAL and last_ice_state == "failed":
        return EndReason.ICE_FAILED
    return first_departure


def end_event(appointment_id: UUID, reason: EndReason, at: datetime) -> CallEvent:
    return CallEvent(appointment_id, None, EventKind.END, at, reason.value, incident=reason in INCIDENT_ENDS)


# ---------------------------------------------------------------------------------------------- summary


@dataclass(frozen=True, slots=True)
class JournalSummary:
    """What the expert reads after the call."""

    started_at: datetime | None
    ended_at: datetime | None
    reconnections: int
    incidents: int
    mean_bitrate_kbps: int | None
    worst_packet_loss_pct: float | None
    median_rtt_ms: int | None
    end_reason: EndReason | None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


def summarise(events: list[CallEvent]) -> JournalSummary:
    """The journal's events in time order, added up."""
    joins = [e.at for e in events if e.kind in (EventKind.JOIN, EventKind.RECONNECT)]
    ends = [e for e in events if e.kind is EventKind.END]
    leaves = [e.at for e in events if e.kind is EventKind.LEAVE]
    qualities = [e.quality for e in events if e.quality is not None]
    rtts = [q.rtt_ms for q in qualities if q.rtt_ms is not None]
    last_end = ends[-1] if ends else None
    return JournalSummary(
        started_at=min(joins) if joins else None,
        ended_at=last_end.at if last_end else (max(leaves) if leaves else None),
        reconnections=sum(1 for e in events if e.kind is EventKind.RECONNECT),
        incidents=sum(1 for e in events if e.incident),
        mean_bitrate_kbps=round(statistics.fmean(q.bitrate_kbps for q in qualities)) if qualities else None,
        worst_packet_loss_pct=max(q.packet_loss_pct for q in qualities) if qualities else None,
        median_rtt_ms=round(statistics.median(rtts)) if rtts else None,
        end_reason=EndReason(last_end.detail) if last_end and last_end.detail else None,
    )


# ---------------------------------------------------------------------------------------------- labels

EVENT_LABELS = {
    EventKind.JOIN: N_("Joined the call"),
    EventKind.RECONNECT: N_("Came back after a connection loss"),
    EventKind.LEAVE: N_("Left the call"),
    EventKind.ICE_STATE: N_("Network state"),
    EventKind.QUALITY: N_("Connection quality"),
    EventKind.END: N_("End of the call"),
}

LEAVE_LABELS = {
    LeaveReason.NORMAL: N_("hung up"),
    LeaveReason.DROPPED: N_("connection lost"),
    LeaveReason.TIMEOUT: N_("no longer responding"),
    LeaveReason.REPLACED: N_("continued in another window"),
    LeaveReason.REMOVED: N_("disconnected by the server"),
}

END_LABELS = {
    EndReason.NORMAL: N_("normal end"),
    EndReason.ICE_FAILED: N_("network failure"),
    EndReason.TIMEOUT: N_("a participant lost their connection and did not come back"),
    EndReason.REMOVED: N_("disconnected by the server"),
}

ICE_LABELS = {
    "new": N_("starting"),
    "checking": N_("looking for a network path"),
    "connected": N_("connected"),
    "completed": N_("connected"),
    "disconnected": N_("interrupted"),
    "failed": N_("failed"),
    "closed": N_("closed"),
}

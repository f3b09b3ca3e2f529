"""The session journal's domain: which events are incidents, how a call's end reason is decided, and the
summary the expert reads."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from signalling.journal import (
    EndReason,
    InvalidQuality,
    LeaveReason,
    Quality,
    end_event,
    end_reason,
    ice_event,
    join_event,
    leave_event,
    quality_event,
    summarise,
)
from teleconsult.demo_history import demo_journal

ROOM = uuid.uuid4()
NURSE, EXPERT = uuid.uuid4(), uuid.uuid4()
T0 = datetime(2026, 12, 8, 13, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_incidents_are_the_failures_of_the_network_not_the_ordinary_comings_and_goings() -> None:
    assert not join_event(ROOM, NURSE, False, T0).incident
    assert join_event(ROOM, NURSE, True, T0).incident  # a return after a drop
    assert not leave_event(ROOM, NURSE, LeaveReason.NORMAL, T0).incident
    assert not leave_event(ROOM, NURSE, LeaveReason.REPLACED, T0).incident  # a reload, another window
    for reason in (LeaveReason.DROPPED, LeaveReason.TIMEOUT, LeaveReason.REMOVED):
        assert leave_event(ROOM, NURSE, reason, T0).incident
    assert ice_event(ROOM, NURSE, "failed", T0).incident
    assert not ice_event(ROOM, NURSE, "disconnected", T0).incident  # often comes back by itself
    with pytest.raises(ValueError):
        ice_event(ROOM, NURSE, "sunny", T0)
    assert not end_event(ROOM, EndReason.NORMAL, T0).incident
    assert end_event(ROOM, EndReason.ICE_FAILED, T0).incident


def test_a_hang_up_right_after_a_network_failure_ends_the_call_as_that_failure() -> None:
    assert end_reason(EndReason.NORMAL, "failed") is EndReason.ICE_FAILED
    assert end_reason(EndReason.NORMAL, "connected") is EndReason.NORMAL
    assert end_reason(EndReason.NORMAL, None) is EndReason.NORMAL
    assert end_reason(EndReason.TIMEOUT, "failed") is EndReason.TIMEOUT  # the drop is the first cause


def test_the_summary_adds_up_the_call() -> None:
    events = [
        join_event(ROOM, NURSE, False, at(0)),
        join_event(ROOM, EXPERT, False, at(20)),
        quality_event(ROOM, NURSE, Quality(600, 0.5, 40), at(50)),
        quality_event(ROOM, EXPERT, Quality(900, 4.0, 60), at(50)),
        leave_event(ROOM, NURSE, LeaveReason.DROPPED, at(70)),
        join_event(ROOM, NURSE, True, at(80)),
        quality_event(ROOM, NURSE, Quality(300, 12.0, None), at(110)),
        leave_event(ROOM, EXPERT, LeaveReason.NORMAL, at(700)),
        leave_event(ROOM, NURSE, LeaveReason.NORMAL, at(702)),
        end_event(ROOM, EndReason.NORMAL, at(702)),
    ]
    summary = summarise(events)
    assert summary.duration == timedelta(seconds=702)
    assert summary.reconnections == 1 and summary.incidents == 2
    assert summary.mean_bitrate_kbps == 600  # (600 + 900 + 300) / 3
    assert summary.worst_packet_loss_pct == 12.0
    assert summary.median_rtt_ms == 50  # the summary without a round trip does not count
    assert summary.end_reason is EndReason.NORMAL


def test_an_unfinished_call_has_no_end_and_no_measurement_yet() -> None:
    summary = summarise([join_event(ROOM, NURSE, False, at(0))])
    assert summary.end_reason is None and summary.duration is None
    assert summary.mean_bitrate_kbps is None and summary.median_rtt_ms is None
    assert summarise([]).started_at is None


def test_a_quality_summary_out_of_range_is_refused() -> None:
    assert Quality.checked(0, 0, None) == Quality(0, 0.0, None)
    assert Quality.checked(100_000, 100, 60_000).packet_loss_pct == 100.0
    for bad in ((-1, 0, 0), (1.5, 0, 0), (1, -0.1, 0), (1, float("inf"), 0), (1, 0, -1), (1, False, 0)):
        with pytest.raises(InvalidQuality):
            Quality.checked(*bad)


def test_the_demo_s_journals_read_like_real_calls() -> None:
    rng = random.Random(7)
    for incident in (False, True) * 20:
        events = demo_journal(rng, ROOM, EXPERT, NURSE, T0, incident)
        assert [e.at for e in events] == sorted(e.at for e in events)
        summary = summarise(events)
        assert summary.end_reason is EndReason.NORMAL
        assert timedelta(minutes=15) <= summary.duration <= timedelta(minutes=35)  # type: ignore[operator]
        assert summary.reconnections == (1 if incident else 0)
        assert summary.incidents == (2 if incident else 0)  # the drop and the return
        assert summary.mean_bitrate_kbps is not None

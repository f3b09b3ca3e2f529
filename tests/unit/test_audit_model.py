"""The audit chain's model: canonical form, hashing, and every kind of tampering found by verify_chain."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from records.audit.model import (
    GENESIS_HASH,
    AuditEvent,
    ChainHead,
    EventFields,
    InvalidAuditEvent,
    Outcome,
    canonical_bytes,
    chain_hash,
    verify_chain,
)

T0 = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
ACTOR = UUID("12345678-1234-5678-1234-567812345678")
EHPAD = UUID("abcdefab-cdef-abcd-efab-cdefabcdefab")


def make_chain(length: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    prev = GENESIS_HASH
    for seq in range(1, length + 1):
        event = AuditEvent.link(
            prev,
            EventFields(
                seq=seq,
                at=T0 + timedelta(seconds=seq),
                action="resident.read",
                outcome=Outcome.SUCCESS,
                actor_id=ACTOR,
                role="ide",
                establishment_id=EHPAD,
                object_type="resident",
                object_id=f"resident-{seq % 3}",
                request_id=f"req-{seq}",
                client_address="192.0.2.7",
            ),
        )
        events.append(event)
        prev = event.hash
    return events


def head_of(events: list[AuditEvent]) -> ChainHead:
    return ChainHead(events[-1].seq, events[-1].hash) if events else ChainHead(0, GENESIS_HASH)


def test_canonical_form_is_stable_and_pinned() -> None:
    fields = EventFields(seq=1, at=T0, action="login.failure", outcome=Outcome.FAILURE, actor_id=ACTOR)
    expected = (
        b'{"action":"login.failure","actor_id":"12345678-1234-5678-1234-567812345678",'
        b'"at":"2026-11-23T13:30:00.000000Z","client_address":null,"establishment_id":null,'
        b'"object_id":null,"object_type":null,"outcome":"failure","prev_hash":"'
        + GENESIS_HASH.encode()
        + b'","request_id":null,"role":null,"seq":1,"v":"tc-audit-1"}'
    )
    assert canonical_bytes(GENESIS_HASH, fields) == expected
    assert chain_hash(GENESIS_HASH, fields) == hashlib.sha256(expected).hexdigest()


def test_one_instant_has_one_spelling_whatever_its_zone() -> None:
    paris = timezone(timedelta(hours=1))
    in_utc = EventFields(seq=1, at=T0, action="a", outcome=Outcome.SUCCESS)
    in_paris = EventFields(seq=1, at=T0.astimezone(paris), action="a", outcome=Outcome.SUCCESS)
    assert chain_hash(GENESIS_HASH, in_utc) == chain_hash(GENESIS_HASH, in_paris)
    assert in_paris.at.tzinfo == UTC


def test_field_boundaries_cannot_be_shifted() -> None:
    a = EventFields(seq=1, at=T0, action="x", outcome=Outcome.SUCCESS, object_type="ab", object_id="c")
    b = EventFields(seq=1, at=T0, action="x", outcome=Outcome.SUCCESS, object_type="a", object_id="bc")
    none = EventFields(seq=1, at=T0, action="x", outcome=Outcome.SUCCESS, object_id=None)
    empty = EventFields(seq=1, at=T0, action="x", outcome=Outcome.SUCCESS, object_id="")
    assert chain_hash(GENESIS_HASH, a) != chain_hash(GENESIS_HASH, b)
    assert chain_hash(GENESIS_HASH, none) != chain_hash(GENESIS_HASH, empty)


def test_every_field_is_in_the_hash() -> None:
    base = make_chain(1)[0].fields
    changes: dict[str, Any] = {
        "seq": 2,
        "at": T0 + timedelta(microseconds=1),
        "action": "resident.write",
        "outcome": Outcome.DENIED,
        "actor_id": EHPAD,
        "role": "idec",
        "establishment_id": ACTOR,
        "object_type": "report",
        "object_id": "other",
        "request_id": "req-x",
        "client_address": "192.0.2.8",
    }
    assert set(changes) == {f.name for f in dataclasses.fields(EventFields)}
    reference = chain_hash(GENESIS_HASH, base)
    for name, value in changes.items():
        assert chain_hash(GENESIS_HASH, dataclasses.replace(base, **{name: value})) != reference, name
    assert chain_hash("1" * 64, base) != reference


def test_an_intact_chain_verifies_with_its_head() -> None:
    events = make_chain(10)
    assert verify_chain(events, head_of(events)) == verify_chain(events)
    result = verify_chain(events, head_of(events))
    assert result.ok and result.count == 10 and result.first_broken_seq is None


def test_an_empty_chain_verifies() -> None:
    assert verify_chain([], ChainHead(0, GENESIS_HASH)).ok


def test_a_changed_field_is_found_at_its_event() -> None:
    events = make_chain(10)
    events[4] = dataclasses.replace(events[4], object_id="resident-99")
    result = verify_chain(events, head_of(events))
    assert not result.ok and result.first_broken_seq == 5 and "hash" in (result.reason or "")


def test_a_deleted_event_is_found_where_the_gap_is() -> None:
    events = make_chain(10)
    del events[6]
    result = verify_chain(events, head_of(events))
    assert not result.ok and result.first_broken_seq == 7


def test_a_deleted_first_event_is_found() -> None:
    result = verify_chain(make_chain(5)[1:])
    assert not result.ok and result.first_broken_seq == 1


def test_deleted_last_events_are_found_by_the_head() -> None:
    events = make_chain(10)
    result = verify_chain(events[:8], head_of(events))
    assert not result.ok and result.first_broken_seq == 9


def test_reordered_events_are_found() -> None:
    events = make_chain(10)
    events[3], events[4] = events[4], events[3]
    assert verify_chain(events).first_broken_seq == 4


def test_swapped_contents_with_renumbered_seqs_are_found() -> None:
    events = make_chain(10)
    fourth, fifth = events[3], events[4]
    events[3] = dataclasses.replace(fifth, seq=4)
    events[4] = dataclasses.replace(fourth, seq=5)
    assert verify_chain(events).first_broken_seq == 4


def test_a_forged_hash_is_found() -> None:
    events = make_chain(10)
    events[2] = dataclasses.replace(events[2], hash="f" * 64)
    assert verify_chain(events).first_broken_seq == 3


def test_a_rehashed_forgery_breaks_the_next_link() -> None:
    events = make_chain(10)
    forged = AuditEvent.link(events[2].prev_hash, dataclasses.replace(events[2].fields, actor_id=None))
    events[2] = forged
    result = verify_chain(events, head_of(events))
    assert not result.ok and result.first_broken_seq == 4 and "prev_hash" in (result.reason or "")


def test_a_rehashed_last_event_is_found_by_the_head() -> None:
    events = make_chain(5)
    head = head_of(events)
    events[-1] = AuditEvent.link(events[-1].prev_hash, dataclasses.replace(events[-1].fields, role="admin"))
    result = verify_chain(events, head)
    assert not result.ok and result.first_broken_seq == 5


def test_naive_times_unknown_outcomes_and_oversized_ids_are_refused() -> None:
    with pytest.raises(InvalidAuditEvent, match="naive"):
        EventFields(seq=1, at=datetime(2026, 1, 1), action="a", outcome=Outcome.SUCCESS)
    with pytest.raises(ValueError, match="maybe"):
        EventFields(seq=1, at=T0, action="a", outcome="maybe")  # type: ignore[arg-type]
    with pytest.raises(InvalidAuditEvent, match="object_id"):
        EventFields(seq=1, at=T0, action="a", outcome=Outcome.SUCCESS, object_id="x" * 129)
    with pytest.raises(InvalidAuditEvent, match="action"):
        EventFields(seq=1, at=T0, action="", outcome=Outcome.SUCCESS)

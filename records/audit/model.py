"""The audit trail's domain: events, their hash chain and its verification. Pure Python, no I/O.

An event says who did what to which object, when, and how it ended. It carries **identifiers only, never
health data**: no names, no INS, no reasons, no free text. ``object_id`` is the id of a row (a resident's
UUID, an appointment's UUID), never a value a human would recognise. Whoever reads the audit table learns
that user U read resident R at T, not who R is.

Each event's ``hash`` is the SHA-256 of a canonical serialisation of all its other fields, including
``prev_hash``, the hash of the event before it (:data:`GENESIS_HASH` for the first). Changing, deleting,
inserting or reordering events therefore breaks the chain at the first event touched, which
:func:`verify_chain` names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

#: The ``prev_hash`` of the first event: 64 zeros (no event hashes to it but with probability 2**-256).
GENESIS_HASH = "0" * 64
#: Part of every hashed document, so a future change of the canonical form cannot collide with this one.
CANONICAL_VERSION = "tc-audit-1"

# Column sizes of the store, checked here so that both backends refuse the same events.
MAX_LENGTHS = {
    "role": 16,
    "action": 64,
    "object_type": 32,
    "object_id": 128,
    "request_id": 64,
    "client_address": 64,
}


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # the action was attempted and failed (wrong password, invalid input)
    DENIED = "denied"  # the access policy refused it


class AuditError(Exception):
    code = "audit_error"


class InvalidAuditEvent(AuditError, ValueError):
    code = "audit_invalid_event"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"audit event field {field!r}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class EventFields:
    """Everything an event records except its chain links (``prev_hash``, ``hash``)."""

    seq: int
    at: datetime
    action: str
    outcome: Outcome
    actor_id: UUID | None = None
    role: str | None = None
    establishment_id: UUID | None = None
    object_type: str | None = None
    object_id: str | None = None
    request_id: str | None = None
    client_address: str | None = None

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise InvalidAuditEvent("seq", "must be >= 1")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise InvalidAuditEvent("at", "naive datetime refused: aware UTC only")
        if self.at.utcoffset() != timedelta(0):
            object.__setattr__(self, "at", self.at.astimezone(UTC))
        if not self.action:
            raise InvalidAuditEvent("action", "empty")
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        for name, limit in MAX_LENGTHS.items():
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                raise InvalidAuditEvent(name, f"longer than {limit} characters")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One link of the chain, as stored. Ids only, never health data (see the module docstring)."""

    seq: int
    at: datetime
    actor_id: UUID | None
    role: str | None
    establishment_id: UUID | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: Outcome
    request_id: str | None
    client_address: str | None
    prev_hash: str
    hash: str

    @property
    def fields(self) -> EventFields:
        return EventFields(
            seq=self.seq,
            at=self.at,
            action=self.action,
            outcome=self.outcome,
            actor_id=self.actor_id,
            role=self.role,
            establishment_id=self.establishment_id,
            object_type=self.object_type,
            object_id=self.object_id,
            request_id=self.request_id,
            client_address=self.client_address,
        )

    @classmethod
    def link(cls, prev_hash: str, fields: EventFields) -> AuditEvent:
        """The event that follows the one whose hash is ``prev_hash``."""
        return cls(
            seq=fields.seq,
            at=fields.at,
            actor_id=fields.actor_id,
            role=fields.role,
            establishment_id=fields.establishment_id,
            action=fields.action,
            object_type=fields.object_type,
            object_id=fields.object_id,
            outcome=fields.outcome,
            request_id=fields.request_id,
            client_address=fields.client_address,
            prev_hash=prev_hash,
            hash=chain_hash(prev_hash, fields),
        )


def _format_time(at: datetime) -> str:
    # Fixed width, always UTC, always microseconds: one instant has exactly one spelling.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(prev_hash: str, fields: EventFields) -> bytes:
    """The exact bytes hashed: JSON, keys sorted, no spaces, ASCII only; UUIDs lower-case hyphenated,
    datetimes as above, absent values as null. JSON quoting makes the fields unambiguous."""
    document = {
        "v": CANONICAL_VERSION,
        "prev_hash": prev_hash,
        "seq": fields.seq,
        "at": _format_time(fields.at),
        "actor_id": str(fields.actor_id) if fields.actor_id is not None else None,
        "role": fields.role,
        "establishment_id": str(fields.establishment_id) if fields.establishment_id is not None else None,
        "action": fields.action,
        "object_type": fields.object_type,
        "object_id": fields.object_id,
        "outcome": fields.outcome.value,
        "request_id": fields.request_id,
        "client_address": fields.client_address,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def chain_hash(prev_hash: str, fields: EventFields) -> str:
    """SHA-256 (hex) of the event's canonical form, which includes the previous event's hash."""
    return hashlib.sha256(canonical_bytes(prev_hash, fields)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where the chain ends, as the head row says (``last_seq`` 0 and GENESIS_HASH when empty)."""

    last_seq: int
    last_hash: str


GENESIS_HEAD = ChainHead(0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    count: int  # events checked, including the broken one
    first_broken_seq: int | None = None
    reason: str | None = None


class ChainVerifier:
    """Checks events fed one at a time in seq order (so a whole table can be streamed in batches)."""

    def __init__(self) -> None:
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH
        self._count = 0
        self._broken: VerifyResult | None = None

    @property
    def is_broken(self) -> bool:
        return self._broken is not None

    def feed(self, event: AuditEvent) -> bool:
        """Check one more event; False once the chain is broken (later events are then ignored)."""
        if self._broken is not None:
            return False
        self._count += 1
        reason: str | None = None
        broken_seq = self._expected_seq
        if event.seq != self._expected_seq:
            # A gap is a deletion; a smaller seq is a duplicate or events out of order.
            reason = f"expected event {self._expected_seq}, found event {event.seq} (missing or out of order)"
        elif event.prev_hash != self._prev_hash:
            reason = f"prev_hash of event {event.seq} is not the hash of the event before it"
        elif chain_hash(event.prev_hash, event.fields) != event.hash:
            reason = f"event {event.seq} does not hash to its recorded hash (changed or forged)"
        if reason is not None:
            self._broken = VerifyResult(False, self._count, broken_seq, reason)
            return False
        self._expected_seq += 1
        self._prev_hash = event.hash
        return True

    def result(self, head: ChainHead | None = None) -> VerifyResult:
        """The verdict; with ``head``, also checks that the chain ends where the head row says it does
        (which catches the deletion of the last events)."""
        if self._broken is not None:
            return self._broken
        last_seq = self._expected_seq - 1
        if head is not None and (head.last_seq, head.last_hash) != (last_seq, self._prev_hash):
            if head.last_seq > last_seq:
                reason = f"the head records event {head.last_seq} but the chain stops at event {last_seq}"
                broken_seq = last_seq + 1
            elif head.last_seq < last_seq:
                reason = f"the chain goes on to event {last_seq} but the head records {head.last_seq}"
                broken_seq = head.last_seq + 1
            else:
                reason = f"the head's hash is not the hash of event {last_seq}"
                broken_seq = last_seq
            return VerifyResult(False, self._count, broken_seq, reason)
        return VerifyResult(True, self._count)


def verify_chain(events: Iterable[AuditEvent], head: ChainHead | None = None) -> VerifyResult:
    """Verify a whole chain, from its first event, given in seq order."""
    verifier = ChainVerifier()
    for event in events:
        if not verifier.feed(event):
            break
    return verifier.result(head)

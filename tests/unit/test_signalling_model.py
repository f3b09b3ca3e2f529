"""Rooms' hours and seats, and the join tokens' checks that need no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signalling.model import JoinRefused, RoomClosed, RoomHours, RoomNotOpenYet, RoomRules, Seat, seat_of
from signalling.tokens import JoinTokens, key_id
from teleconsult.identity.model import Role

START = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # 14:00 in Paris
RULES = RoomRules(opens_before=timedelta(minutes=15), grace_after=timedelta(minutes=30))
HOURS = RoomHours.of(START, START + timedelta(minutes=30), RULES)


def test_a_room_opens_15_minutes_before_and_closes_after_the_grace() -> None:
    assert not HOURS.is_open(START - timedelta(minutes=15, seconds=1))
    assert HOURS.is_open(START - timedelta(minutes=15))
    assert HOURS.is_open(START + timedelta(minutes=59))
    assert not HOURS.is_open(START + timedelta(minutes=60))


def test_joining_too_early_says_when_in_paris_time() -> None:
    with pytest.raises(RoomNotOpenYet) as early:
        HOURS.check_open(START - timedelta(hours=1))
    assert early.value.params == {"time": "13:45"}
    assert early.value.close_code == 4410
    with pytest.raises(RoomClosed):
        HOURS.check_open(START + timedelta(hours=2))


def test_seats_and_politeness() -> None:
    assert {seat_of(role) for role in (Role.IDE, Role.IDEC, Role.MEDECIN_CO)} == {Seat.CARE_HOME}
    assert seat_of(Role.EXPERT) is Seat.EXPERT
    assert Seat.CARE_HOME.is_polite and not Seat.EXPERT.is_polite
    assert Seat.EXPERT.other is Seat.CARE_HOME


def test_a_token_issued_is_verified_with_its_claims() -> None:
    tokens = JoinTokens(Ed25519PrivateKey.generate(), issuer="https://tc.example")
    user, room = uuid.uuid4(), uuid.uuid4()
    issued = tokens.issue(user, room, Seat.EXPERT, START)
    header = jwt.get_unverified_header(issued.token)
    assert header == {**header, "alg": "EdDSA", "kid": tokens.kid}
    claims = tokens.verify(issued.token, START + timedelta(seconds=30))
    assert (claims.participant_id, claims.room_id, claims.seat) == (user, room, Seat.EXPERT)
    assert claims.token_id == issued.claims.token_id


def test_a_token_is_refused_after_two_minutes_and_before_its_nbf() -> None:
    tokens = JoinTokens(Ed25519PrivateKey.generate(), issuer="https://tc.example")
    issued = tokens.issue(uuid.uuid4(), uuid.uuid4(), Seat.CARE_HOME, START)
    with pytest.raises(JoinRefused) as late:
        tokens.verify(issued.token, START + timedelta(minutes=2, seconds=6))
    assert late.value.reason == "expired"
    with pytest.raises(JoinRefused) as early:
        tokens.verify(issued.token, START - timedelta(minutes=1))
    assert early.value.reason == "not_yet_valid"


def test_a_second_verifying_key_is_accepted_by_its_kid_for_a_rotation() -> None:
    old = Ed25519PrivateKey.generate()
    token = JoinTokens(old, issuer="i").issue(uuid.uuid4(), uuid.uuid4(), Seat.EXPERT, START).token
    rotated = JoinTokens(
        Ed25519PrivateKey.generate(), issuer="i", verifying_keys={key_id(old.public_key()): old.public_key()}
    )
    assert rotated.verify(token, START).seat is Seat.EXPERT


def test_a_token_lifetime_over_two_minutes_cannot_be_configured() -> None:
    with pytest.raises(ValueError, match="two minutes"):
        JoinTokens(Ed25519PrivateKey.generate(), issuer="i", lifetime=timedelta(minutes=3))

"""Identity rules: usernames, passwords, FINESS, establishments, accounts, sessions, login throttling."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from teleconsult.errors import InvalidInput
from teleconsult.identity.model import (
    CannotDeactivateSelf,
    Establishment,
    EstablishmentKind,
    Role,
    RoleNotAllowedHere,
    Session,
    SessionPolicy,
    Specialty,
    ThrottleRule,
    ThrottleState,
    User,
    check_deactivation,
    check_finess,
    check_new_user,
    check_password_strength,
    check_username,
    normalise_username,
)

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def ehpad(**changes: object) -> Establishment:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "kind": EstablishmentKind.EHPAD,
        "name": "EHPAD Les Tilleuls",
        "finess": "789000010",
        "address": "3 rue des Essais",
        "bed_count": 80,
    }
    fields.update(changes)
    return Establishment(**fields)  # type: ignore[arg-type]


def user(role: Role, establishment: Establishment, **changes: object) -> User:
    fields: dict[str, object] = {
        "id": uuid.uuid4(),
        "username": "camille",
        "display_name": "Camille Test",
        "role": role,
        "establishment_id": establishment.id,
    }
    fields.update(changes)
    return User(**fields)  # type: ignore[arg-type]


def test_login_is_compared_without_case_accents_or_spaces() -> None:
    assert normalise_username("  Élodie.MARTIN ") == "elodie.martin"


@pytest.mark.parametrize("raw", ["ab", "with space", "a" * 65, "semi;colon", ""])
def test_unusable_logins_are_refused_with_a_field_message(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_username(raw)
    assert set(caught.value.fields) == {"username"}


def test_short_password_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_password_strength("short", "camille")
    assert "12" in caught.value.fields["password"]


def test_password_containing_the_login_is_refused() -> None:
    with pytest.raises(InvalidInput):
        check_password_strength("hello-camille-2026!", "camille")


def test_finess_accepts_corsican_departments_and_strips_spaces() -> None:
    assert check_finess(" 2a0 000 001 ") == "2A0000001"
    assert check_finess("789000010") == "789000010"


@pytest.mark.parametrize("raw", ["78900001", "7890000101", "ABCDEFGHI", "2C0000001"])
def test_malformed_finess_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        check_finess(raw)


def test_care_home_needs_finess_and_beds() -> None:
    with pytest.raises(InvalidInput) as caught:
        ehpad(finess=None, bed_count=None)
    assert set(caught.value.fields) == {"finess", "bed_count"}


def test_only_care_homes_have_a_bed_count() -> None:
    with pytest.raises(InvalidInput) as caught:
        Establishment(uuid.uuid4(), EstablishmentKind.HOSPITAL, "Hôpital", "780000001", "", 300)
    assert "bed_count" in caught.value.fields


def test_a_nurse_cannot_belong_to_a_hospital() -> None:
    hospital = Establishment(uuid.uuid4(), EstablishmentKind.HOSPITAL, "Hôpital", "780000001", "", None)
    with pytest.raises(RoleNotAllowedHere):
        check_new_user(user(Role.IDE, hospital), hospital)


def test_an_expert_needs_a_specialty_and_others_have_none() -> None:
    hospital = Establishment(uuid.uuid4(), EstablishmentKind.HOSPITAL, "Hôpital", "780000001", "", None)
    with pytest.raises(InvalidInput):
        check_new_user(user(Role.EXPERT, hospital), hospital)
    check_new_user(user(Role.EXPERT, hospital, specialties=frozenset({Specialty.GERIATRIE})), hospital)
    home = ehpad()
    with pytest.raises(InvalidInput):
        check_new_user(user(Role.IDE, home, specialties=frozenset({Specialty.PLAIES})), home)


def test_an_admin_cannot_deactivate_themselves() -> None:
    admin = user(Role.ADMIN, ehpad())
    with pytest.raises(CannotDeactivateSelf):
        check_deactivation(admin, admin)


POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


def session(created: datetime, seen: datetime, revoked: datetime | None = None) -> Session:
    return Session("h", uuid.uuid4(), created, seen, True, revoked)


def test_session_lives_until_30_idle_minutes() -> None:
    s = session(NOW, NOW)
    assert s.is_live(NOW + timedelta(minutes=29, seconds=59), POLICY)
    assert not s.is_live(NOW + timedelta(minutes=30), POLICY)


def test_session_dies_after_12_hours_even_when_active() -> None:
    s = session(NOW, NOW + timedelta(hours=11, minutes=59))
    assert s.is_live(NOW + timedelta(hours=11, minutes=59, seconds=30), POLICY)
    assert not s.is_live(NOW + timedelta(hours=12), POLICY)
    assert s.expires_at(POLICY) == NOW + timedelta(hours=12)


def test_revoked_session_is_dead_at_once() -> None:
    assert not session(NOW, NOW, revoked=NOW).is_live(NOW, POLICY)


RULE = ThrottleRule(free_failures=5, max_lock=timedelta(minutes=15))


def fail(state: ThrottleState, times: int, at: datetime = NOW) -> ThrottleState:
    for _ in range(times):
        state = state.after_failure(at, RULE)
    return state


def test_four_failures_do_not_lock() -> None:
    assert fail(ThrottleState("k"), 4).retry_after(NOW) is None


def test_fifth_failure_locks_one_minute_then_doubles() -> None:
    assert fail(ThrottleState("k"), 5).retry_after(NOW) == timedelta(minutes=1)
    assert fail(ThrottleState("k"), 6).retry_after(NOW) == timedelta(minutes=2)
    assert fail(ThrottleState("k"), 7).retry_after(NOW) == timedelta(minutes=4)


@given(st.integers(min_value=1, max_value=500))
def test_lock_never_exceeds_the_cap_whatever_the_number_of_failures(failures: int) -> None:
    wait = fail(ThrottleState("k"), failures).retry_after(NOW)
    assert wait is None or wait <= RULE.max_lock


def test_failures_are_forgotten_after_an_hour_of_quiet() -> None:
    state = fail(ThrottleState("k"), 4)
    later = NOW + timedelta(hours=1, seconds=1)
    assert state.after_failure(later, RULE).failures == 1


GENTLE = ThrottleRule(free_failures=5, max_lock=timedelta(minutes=15), escalate=False)


def test_a_gentle_rule_starts_counting_again_once_its_lock_has_run_out() -> None:
    locked = fail(ThrottleState("k"), 5)
    assert locked.retry_after(NOW) == timedelta(minutes=1)
    after_lock = NOW + timedelta(minutes=1, seconds=1)
    again = ThrottleState("k")
    for _ in range(5):
        again = again.after_failure(NOW, GENTLE)
    again = again.after_failure(after_lock, GENTLE)
    assert again.failures == 1 and again.retry_after(after_lock) is None


def test_an_escalating_rule_locks_again_at_the_first_failure_after_a_lock() -> None:
    state = fail(ThrottleState("k"), 5)
    later = NOW + timedelta(minutes=1, seconds=1)
    assert state.after_failure(later, RULE).retry_after(later) == timedelta(minutes=2)


def test_a_right_attempt_takes_back_its_count_and_the_lock_it_caused() -> None:
    counted = fail(ThrottleState("k"), 5)  # the fifth was counted before it was checked
    assert counted.retry_after(NOW) is not None
    taken_back = counted.after_success(RULE)
    assert taken_back.failures == 4 and taken_back.retry_after(NOW) is None

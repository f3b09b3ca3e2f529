"""The access policy's decisions, role by role (the route-by-route matrix lives in the integration tests)."""

from __future__ import annotations

import uuid

import pytest

from teleconsult.errors import Forbidden, NotFound
from teleconsult.identity.model import Role, User
from teleconsult.identity.policy import Action, Decision, Principal, decide, require

HOME = uuid.uuid4()
ELSEWHERE = uuid.uuid4()


def principal(role: Role, second_factor_done: bool = True, active: bool = True) -> Principal:
    return Principal(User(uuid.uuid4(), "u", "U", role, HOME, is_active=active), second_factor_done)


def test_anonymous_may_only_do_public_actions() -> None:
    assert decide(None, Action.PUBLIC) is Decision.ALLOW
    for action in Action:
        if action is not Action.PUBLIC:
            assert decide(None, action) is Decision.DENY, action


def test_half_logged_in_user_may_only_give_the_second_factor_or_leave() -> None:
    half = principal(Role.ADMIN, second_factor_done=False)
    allowed = {a for a in Action if decide(half, a) is Decision.ALLOW}
    assert allowed == {Action.PUBLIC, Action.SECOND_FACTOR, Action.SIGN_OUT}


def test_a_fully_logged_in_user_cannot_replay_the_second_factor_step() -> None:
    assert decide(principal(Role.EXPERT), Action.SECOND_FACTOR) is Decision.DENY


def test_deactivated_user_is_denied_everything_but_public() -> None:
    gone = principal(Role.ADMIN, active=False)
    assert {a for a in Action if decide(gone, a) is Decision.ALLOW} == {Action.PUBLIC}


@pytest.mark.parametrize(
    ("role", "home_action"),
    [
        (Role.IDE, Action.VIEW_CARE_HOME_HOME),
        (Role.IDEC, Action.VIEW_CARE_HOME_HOME),
        (Role.MEDECIN_CO, Action.VIEW_CARE_HOME_HOME),
        (Role.EXPERT, Action.VIEW_EXPERT_HOME),
        (Role.SECRETARIAT, Action.VIEW_EXPERT_HOME),
        (Role.COORDINATEUR, Action.VIEW_COORDINATION_HOME),
    ],
)
def test_each_role_sees_its_own_home_and_no_other(role: Role, home_action: Action) -> None:
    homes = {Action.VIEW_CARE_HOME_HOME, Action.VIEW_EXPERT_HOME, Action.VIEW_COORDINATION_HOME}
    who = principal(role)
    assert decide(who, home_action) is Decision.ALLOW
    for other in homes - {home_action}:
        assert decide(who, other) is Decision.DENY


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_admins_administer(role: Role) -> None:
    assert decide(principal(role), Action.ADMIN_USERS) is Decision.DENY
    assert decide(principal(role), Action.ADMIN_ESTABLISHMENTS) is Decision.DENY
    assert decide(principal(Role.ADMIN), Action.ADMIN_USERS) is Decision.ALLOW


def test_care_home_staff_cannot_learn_another_establishment_exists() -> None:
    nurse = principal(Role.IDE)
    assert decide(nurse, Action.VIEW_ESTABLISHMENT, HOME) is Decision.ALLOW
    assert decide(nurse, Action.VIEW_ESTABLISHMENT, ELSEWHERE) is Decision.HIDE
    with pytest.raises(NotFound):
        require(nurse, Action.VIEW_ESTABLISHMENT, ELSEWHERE)


def test_hospital_staff_are_refused_another_establishment_openly() -> None:
    expert = principal(Role.EXPERT)
    assert decide(expert, Action.VIEW_ESTABLISHMENT, ELSEWHERE) is Decision.DENY
    with pytest.raises(Forbidden):
        require(expert, Action.VIEW_ESTABLISHMENT, ELSEWHERE)
    assert decide(principal(Role.ADMIN), Action.VIEW_ESTABLISHMENT, ELSEWHERE) is Decision.ALLOW


@pytest.mark.parametrize("role", [Role.IDE, Role.IDEC, Role.MEDECIN_CO])
@pytest.mark.parametrize("action", [Action.VIEW_RESIDENTS, Action.EDIT_RESIDENTS])
def test_care_home_staff_work_on_their_own_residents_and_cannot_learn_of_others(
    role: Role, action: Action
) -> None:
    staff = principal(role)
    assert decide(staff, action) is Decision.ALLOW
    assert decide(staff, action, HOME) is Decision.ALLOW
    assert decide(staff, action, ELSEWHERE) is Decision.HIDE
    with pytest.raises(NotFound):
        require(staff, action, ELSEWHERE)


@pytest.mark.parametrize("role", [Role.EXPERT, Role.SECRETARIAT, Role.COORDINATEUR, Role.ADMIN])
@pytest.mark.parametrize("action", [Action.VIEW_RESIDENTS, Action.EDIT_RESIDENTS])
def test_everyone_else_is_refused_residents_records_openly(role: Role, action: Action) -> None:
    assert decide(principal(role), action) is Decision.DENY
    assert decide(principal(role), action, HOME) is Decision.DENY
    with pytest.raises(Forbidden):
        require(principal(role), action, ELSEWHERE)


def test_everyone_reads_their_own_notifications_only() -> None:
    for role in Role:
        someone = principal(role)
        assert decide(someone, Action.READ_OWN_NOTIFICATIONS) is Decision.ALLOW
        assert decide(someone, Action.READ_OWN_NOTIFICATIONS, someone.user.id) is Decision.ALLOW
        assert decide(someone, Action.READ_OWN_NOTIFICATIONS, uuid.uuid4()) is Decision.HIDE


def test_only_people_with_appointments_have_a_calendar_feed() -> None:
    with_calendar = {Role.IDE, Role.IDEC, Role.MEDECIN_CO, Role.EXPERT, Role.SECRETARIAT}
    for role in Role:
        expected = Decision.ALLOW if role in with_calendar else Decision.DENY
        assert decide(principal(role), Action.MANAGE_CALENDAR_FEED) is expected

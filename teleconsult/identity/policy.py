"""THE access policy: the only place that decides whether a principal may do an action on a resource.

Every route declares the action it performs (see :mod:`teleconsult.routing`); the policy middleware asks
:func:`decide` before the handler runs, and services ask :func:`require` again for object-level rules.
Handlers never look at roles themselves.

Three answers: ALLOW; DENY (403: the resource is known to exist, e.g. the admin section); HIDE (404: the
principal must not even learn that the resource exists, e.g. another care home's resident).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from uuid import UUID

from teleconsult.errors import Forbidden, NotFound
from teleconsult.identity.model import CARE_HOME_ROLES, Department, Establishment, Role, Specialty, User


class Action(StrEnum):
    PUBLIC = "public"  # login page, health checks, static files: anyone, even anonymous
    SECOND_FACTOR = "second_factor"  # enter or enrol a TOTP code after the password
    SIGN_OUT = "sign_out"  # log out, switch user: anyone with a session, even half-way through login
    VIEW_OWN_ACCOUNT = "view_own_account"
    MANAGE_OWN_CREDENTIALS = "manage_own_credentials"  # password, authenticator app
    VIEW_CARE_HOME_HOME = "view_care_home_home"
    VIEW_EXPERT_HOME = "view_expert_home"
    VIEW_COORDINATION_HOME = "view_coordination_home"
    VIEW_ESTABLISHMENT = "view_establishment"
    ADMIN_ESTABLISHMENTS = "admin_establishments"
    ADMIN_USERS = "admin_users"
    VIEW_RESIDENTS = "view_residents"  # list, search and read residents' records (object: the EHPAD id)
    EDIT_RESIDENTS = "edit_residents"  # create and edit them (object: the resident's EHPAD id)
    # Scheduling.
    # Windows and leave of an expert (object: the expert User), or a whole team's windows (a Department).
    MANAGE_AVAILABILITY = "manage_availability"
    BOOK_APPOINTMENTS = "book_appointments"  # find slots, book for a resident (object: the EHPAD id)
    VIEW_APPOINTMENT = "view_appointment"  # read one appointment and its preparation (object: AppointmentRef)
    CANCEL_APPOINTMENT = "cancel_appointment"  # either side (object: AppointmentRef)
    PREPARE_APPOINTMENT = (
        "prepare_appointment"  # the care home's checklist, reschedule (object: AppointmentRef)
    )
    MARK_NO_SHOW = "mark_no_show"  # either side, once it has started (object: AppointmentRef)
    VIEW_AGENDA = "view_agenda"  # an expert's agenda (object: the expert User)
    # Video: join the appointment's room (object: AppointmentRef): its booked expert and the care home's
    # staff; not the secretariat, who books but does not take part in the call.
    JOIN_CALL = "join_call"
    # Send one's media to the server's recorder leg (object: AppointmentRef): those who join the call; the
    # service also wants the appointment's consent to record and the user's seat held in the room.
    RECORD_CALL = "record_call"
    # List and play back an appointment's recordings (object: AppointmentRef): the booked expert and the
    # care home's médecin coordonnateur, the physicians; not the nurses nor the secretariat (ADR 0016).
    VIEW_RECORDINGS = "view_recordings"
    # Invite a participant without an account (treating physician, family, interpreter) into the room
    # (object: AppointmentRef): the booked expert, the care home's IDEC and médecin coordonnateur.
    INVITE_GUEST = "invite_guest"
    # The connection test (/connection-test): whoever takes part in calls, with or without an appointment.
    RUN_CONNECTION_TEST = "run_connection_test"
    # Comptes-rendus (object: AppointmentRef): the booked expert writes, finalises and adds addenda; the
    # expert and the care home's staff read it and its PDF. Not the secretariat (medical content), nor
    # coordinators (aggregates only).
    WRITE_REPORT = "write_report"
    READ_REPORT = "read_report"
    # Who accessed a resident's record (object: the resident's EHPAD id). The médecin coordonnateur's
    # alone: watching over medical confidentiality is a physician's duty, and the list says what each of
    # the nurses did, which their manager (the IDEC) should not get as a by-product.
    VIEW_RECORD_ACCESSES = "view_record_accesses"
    # Notifications and reminders.
    READ_OWN_NOTIFICATIONS = "read_own_notifications"  # list, mark read (object: the recipient's user id)
    MANAGE_CALENDAR_FEED = "manage_calendar_feed"  # one's own secret calendar address (those with a calendar)
    # Tele-expertise.
    REQUEST_EXPERTISE = "request_expertise"  # submit, list the care home's requests (object: the EHPAD id)
    WITHDRAW_EXPERTISE = "withdraw_expertise"  # the care home takes its request back (object: ExpertiseRef)
    VIEW_EXPERTISE_QUEUE = "view_expertise_queue"  # an expert's queue (route level; filtered by the store)
    VIEW_EXPERTISE = "view_expertise"  # read one request (object: ExpertiseRef)
    CLAIM_EXPERTISE = "claim_expertise"  # take it on with a deadline (object: ExpertiseRef)
    ANSWER_EXPERTISE = "answer_expertise"  # answer or convert into a teleconsultation (object: ExpertiseRef)
    # Activity figures (aggregates only, small counts suppressed), their exports and monthly PDF: the
    # coordinators (of a hospital: the care homes under convention with it; of the territory: all) and the
    # administrators. Route level; records.activity narrows to the care homes each may see.
    VIEW_ACTIVITY = "view_activity"


class Decision(Enum):
    ALLOW = "allow"
    DENY = "deny"
    HIDE = "hide"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the user, and whether their session has passed the second factor it needs."""

    user: User
    second_factor_done: bool

    @property
    def role(self) -> Role:
        return self.user.role


@dataclass(frozen=True, slots=True)
class AppointmentRef:
    """What the policy needs to know about an appointment (read before anything is decrypted)."""

    ehpad_id: UUID
    expert_id: UUID
    expert_establishment_id: UUID


@dataclass(frozen=True, slots=True)
class ExpertiseRef:
    """What the policy needs to know about a tele-expertise request (read before anything is decrypted)."""

    ehpad_id: UUID
    specialty: Specialty
    claimed_by: UUID | None
    #: The hospital teams the EHPAD has an active convention with: their experts may see its requests.
    convention_team_ids: frozenset[UUID]


#: Actions by role, for a principal whose login is complete. Everything not listed is denied.
_CARE_HOME_ACTIONS = frozenset(
    {
        Action.VIEW_CARE_HOME_HOME,
        Action.VIEW_RESIDENTS,
        Action.EDIT_RESIDENTS,
        Action.BOOK_APPOINTMENTS,
        Action.VIEW_APPOINTMENT,
        Action.CANCEL_APPOINTMENT,
        Action.PREPARE_APPOINTMENT,
        Action.MARK_NO_SHOW,
        Action.JOIN_CALL,
        Action.RECORD_CALL,
        Action.READ_REPORT,
        Action.MANAGE_CALENDAR_FEED,
        Action.REQUEST_EXPERTISE,
        Action.WITHDRAW_EXPERTISE,
        Action.VIEW_EXPERTISE,
    }
)
_HOSPITAL_ACTIONS = frozenset(
    {
        Action.VIEW_EXPERT_HOME,
        Action.MANAGE_AVAILABILITY,
        Action.VIEW_AGENDA,
        Action.VIEW_APPOINTMENT,
        Action.CANCEL_APPOINTMENT,
        Action.MARK_NO_SHOW,
        Action.MANAGE_CALENDAR_FEED,
    }
)
#: Tele-expertise is answered by the experts themselves, not by their secretariat.
_EXPERT_ONLY_ACTIONS = frozenset(
    {
        Action.VIEW_EXPERTISE_QUEUE,
        Action.VIEW_EXPERTISE,
        Action.CLAIM_EXPERTISE,
        Action.ANSWER_EXPERTISE,
        Action.JOIN_CALL,
        Action.RECORD_CALL,
        Action.VIEW_RECORDINGS,
        Action.WRITE_REPORT,
        Action.READ_REPORT,
    }
)
#: Connection test and invitations (issue 6): who takes part in calls tests; the call's leads invite.
_CALL_EXTRAS = frozenset({Action.RUN_CONNECTION_TEST})
_CALL_LEADS = _CALL_EXTRAS | {Action.INVITE_GUEST}
_ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.IDE: _CARE_HOME_ACTIONS | _CALL_EXTRAS,
    Role.IDEC: _CARE_HOME_ACTIONS | _CALL_LEADS,
    Role.MEDECIN_CO: _CARE_HOME_ACTIONS | {Action.VIEW_RECORD_ACCESSES, Action.VIEW_RECORDINGS} | _CALL_LEADS,
    Role.EXPERT: _HOSPITAL_ACTIONS | _EXPERT_ONLY_ACTIONS | _CALL_LEADS,
    Role.SECRETARIAT: _HOSPITAL_ACTIONS,
    Role.COORDINATEUR: frozenset({Action.VIEW_COORDINATION_HOME, Action.VIEW_ACTIVITY}),
    Role.ADMIN: frozenset({Action.ADMIN_ESTABLISHMENTS, Action.ADMIN_USERS, Action.VIEW_ACTIVITY}),
}

#: Actions on one EHPAD's residents: the object is the EHPAD's id (a resident's ``ehpad_id``).
_RESIDENT_ACTIONS = frozenset(
    {
        Action.VIEW_RESIDENTS,
        Action.EDIT_RESIDENTS,
        Action.BOOK_APPOINTMENTS,
        Action.VIEW_RECORD_ACCESSES,
        Action.REQUEST_EXPERTISE,
    }
)
#: Actions on one appointment: the object is an AppointmentRef.
_APPOINTMENT_ACTIONS = frozenset(
    {
        Action.VIEW_APPOINTMENT,
        Action.CANCEL_APPOINTMENT,
        Action.PREPARE_APPOINTMENT,
        Action.MARK_NO_SHOW,
        Action.JOIN_CALL,
        Action.RECORD_CALL,
        Action.VIEW_RECORDINGS,
        Action.INVITE_GUEST,
        Action.WRITE_REPORT,
        Action.READ_REPORT,
    }
)
#: Actions on one tele-expertise request: the object is an ExpertiseRef.
_EXPERTISE_ACTIONS = frozenset(
    {Action.WITHDRAW_EXPERTISE, Action.VIEW_EXPERTISE, Action.CLAIM_EXPERTISE, Action.ANSWER_EXPERTISE}
)
#: Actions on one expert's time: the object is the expert (a User).
_EXPERT_ACTIONS = frozenset({Action.MANAGE_AVAILABILITY, Action.VIEW_AGENDA})

#: Actions every logged-in principal may do.
_EVERY_USER = frozenset({Action.SIGN_OUT, Action.VIEW_OWN_ACCOUNT, Action.MANAGE_OWN_CREDENTIALS})

#: What a principal may do between the password and the second factor.
_HALF_LOGGED_IN = frozenset({Action.SIGN_OUT, Action.SECOND_FACTOR})

#: Where each role lands after login (route names).
HOME_ROUTE: dict[Role, str] = {
    Role.IDE: "home.care_home",
    Role.IDEC: "home.care_home",
    Role.MEDECIN_CO: "home.care_home",
    Role.EXPERT: "home.expert",
    Role.SECRETARIAT: "home.expert",
    Role.COORDINATEUR: "home.coordination",
    Role.ADMIN: "admin.index",
}


def decide(principal: Principal | None, action: Action, resource: object = None) -> Decision:
    """The decision for ``principal`` doing ``action`` on ``resource`` (None for route-level checks)."""
    if action is Action.PUBLIC:
        return Decision.ALLOW
    if principal is None or not principal.user.is_active:
        return Decision.DENY
    if not principal.second_factor_done:
        return Decision.ALLOW if action in _HALF_LOGGED_IN else Decision.DENY
    if action is Action.SECOND_FACTOR:
        return Decision.DENY
    if action in _EVERY_USER:
        return Decision.ALLOW
    if action is Action.READ_OWN_NOTIFICATIONS:
        # Everyone has notifications; nobody may learn that another person's exist.
        return Decision.ALLOW if resource is None or resource == principal.user.id else Decision.HIDE
    if action is Action.VIEW_ESTABLISHMENT:
        return _decide_establishment(principal.user, resource)
    if action in _RESIDENT_ACTIONS:
        return _decide_residents(principal.user, action, resource)
    if action in _APPOINTMENT_ACTIONS:
        return _decide_appointment(principal.user, action, resource)
    if action in _EXPERT_ACTIONS:
        return _decide_expert_time(principal.user, action, resource)
    if action in _EXPERTISE_ACTIONS:
        return _decide_expertise(principal.user, action, resource)
    if action in _ROLE_ACTIONS[principal.role]:
        return Decision.ALLOW
    return Decision.DENY


def _decide_residents(user: User, action: Action, resource: object) -> Decision:
    if action not in _ROLE_ACTIONS[user.role]:
        return Decision.DENY
    if resource is None or resource == user.establishment_id:
        # resource None is the route-level question: "may this user work on some residents?" (their own).
        return Decision.ALLOW
    # Staff of one care home must not learn that a resident of another one exists.
    return Decision.HIDE


def _decide_appointment(user: User, action: Action, resource: object) -> Decision:
    if action not in _ROLE_ACTIONS[user.role]:
        return Decision.DENY
    if resource is None:  # route level: "may this user work on some appointments?"
        return Decision.ALLOW
    if not isinstance(resource, AppointmentRef):
        return Decision.DENY
    if user.role in CARE_HOME_ROLES:
        allowed = resource.ehpad_id == user.establishment_id
    elif user.role is Role.EXPERT:
        allowed = resource.expert_id == user.id
    else:  # the secretariat works for every expert of its hospital
        allowed = resource.expert_establishment_id == user.establishment_id
    # Whoever the appointment is not addressed to must not learn that it exists.
    return Decision.ALLOW if allowed else Decision.HIDE


def reaches(expert: User, ref: ExpertiseRef) -> bool:
    """The request is addressed to this expert's queue: their specialty, from a care home whose convention
    reaches their team."""
    return (
        expert.role is Role.EXPERT
        and ref.specialty in expert.specialties
        and expert.department_id is not None
        and expert.department_id in ref.convention_team_ids
    )


def _decide_expertise(user: User, action: Action, resource: object) -> Decision:
    if action not in _ROLE_ACTIONS[user.role]:
        return Decision.DENY
    if resource is None:  # route level: "may this user work on some requests?"
        return Decision.ALLOW
    if not isinstance(resource, ExpertiseRef):
        return Decision.DENY
    if user.role in CARE_HOME_ROLES:
        allowed = resource.ehpad_id == user.establishment_id
    elif resource.claimed_by is not None:
        # Once taken on, a request is the claiming expert's; the others may still try to claim it (and
        # learn it was taken: 409), as they saw it in their queue.
        allowed = resource.claimed_by == user.id or (
            action is Action.CLAIM_EXPERTISE and reaches(user, resource)
        )
    else:
        # Not taken on: every expert it reaches may read and claim it. Answering it is allowed here too, so
        # that the model's rule "claim it first" answers 409 rather than 404.
        allowed = reaches(user, resource)
    # Whoever the request is not addressed to must not learn that it exists.
    return Decision.ALLOW if allowed else Decision.HIDE


def _decide_expert_time(user: User, action: Action, resource: object) -> Decision:
    if action not in _ROLE_ACTIONS[user.role]:
        return Decision.DENY
    if resource is None:
        return Decision.ALLOW
    if isinstance(resource, Department):
        # A whole team's availability: its hospital's secretariat (an expert publishes their own only).
        if action is not Action.MANAGE_AVAILABILITY or user.role is not Role.SECRETARIAT:
            return Decision.DENY
        return Decision.ALLOW if resource.hospital_id == user.establishment_id else Decision.HIDE
    if not isinstance(resource, User) or resource.role is not Role.EXPERT:
        return Decision.HIDE
    if user.role is Role.EXPERT:
        return Decision.ALLOW if resource.id == user.id else Decision.DENY
    return Decision.ALLOW if resource.establishment_id == user.establishment_id else Decision.HIDE


def _decide_establishment(user: User, resource: object) -> Decision:
    if user.role is Role.ADMIN or resource is None:
        # resource None is the route-level question "may this user view some establishment?": their own.
        return Decision.ALLOW
    establishment_id = resource.id if isinstance(resource, Establishment) else resource
    if isinstance(establishment_id, UUID) and establishment_id == user.establishment_id:
        return Decision.ALLOW
    # Staff of one care home must not learn which other establishments exist on the platform.
    return Decision.HIDE if user.role in CARE_HOME_ROLES else Decision.DENY


# ------------------------------------------------------------------------------------- invited guests


@dataclass(frozen=True, slots=True)
class GuestPrincipal:
    """Someone without an account who opened a valid invitation link (signalling.invitations): they may
    join that one appointment's room, nothing else."""

    invitation_id: UUID
    appointment_id: UUID


def decide_guest(guest: GuestPrincipal, action: Action, resource: object = None) -> Decision:
    """A guest may join the room of the appointment (its id) they were invited to; everything else is
    refused, and another appointment is hidden."""
    if action is Action.PUBLIC:
        return Decision.ALLOW
    if action is not Action.JOIN_CALL:
        return Decision.DENY
    return Decision.ALLOW if resource == guest.appointment_id else Decision.HIDE


def require_guest(guest: GuestPrincipal, action: Action, resource: object = None) -> None:
    decision = decide_guest(guest, action, resource)
    if decision is Decision.HIDE:
        raise AccessHidden()
    if decision is Decision.DENY:
        raise AccessDenied()


class AccessDenied(Forbidden):
    """The policy refused (403); audited as an authorisation failure."""


class AccessHidden(NotFound):
    """The policy refused and hides that the resource exists (404); audited as well."""


def require_unless_operator(principal: Principal | None, action: Action, resource: object = None) -> None:
    """For use cases the command line runs too: ``None`` is the host's operator (who already has the
    database and the keys); any principal asks the policy. Routes always pass their principal."""
    if principal is not None:
        require(principal, action, resource)


def require(principal: Principal | None, action: Action, resource: object = None) -> None:
    """Raise :class:`Forbidden` (403) or :class:`NotFound` (404) unless the policy allows."""
    decision = decide(principal, action, resource)
    if decision is Decision.HIDE:
        raise AccessHidden()
    if decision is Decision.DENY:
        raise AccessDenied()

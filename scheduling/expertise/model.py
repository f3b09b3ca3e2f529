"""The tele-expertise domain: a care home's request to a specialty queue, its claim by an expert (with the
response deadline the expert accepts, as HAS asks), the structured answer, withdrawal, and conversion into a
teleconsultation. Pure Python: no aiohttp, no SQLAlchemy, no I/O; ``now`` is always a parameter.

Every state change is a function that takes a request and returns the changed copy, or raises a typed error:

    submitted --claim--> claimed --answer--> answered
        |                   |----convert---> converted
        +----withdraw-------+--withdraw----> withdrawn
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import IntEnum, StrEnum
from uuid import UUID

from scheduling.model import (
    MAX_FREE_TEXT,
    MAX_PERSON_NAME,
    Attendee,
    Consent,
    ConsentGiver,
    PhysicianAgreement,
    Qualification,
    Reason,
    Urgency,
)
from teleconsult.errors import Conflict, InvalidInput
from teleconsult.i18n import N_
from teleconsult.identity.model import Role, Specialty

#: The question and its context become the details of a teleconsultation booked from the request, which
#: hold at most MAX_FREE_TEXT characters: the two limits are chosen so that they always fit.
DETAILS_SEPARATOR = "\n\n"
MAX_QUESTION = 500
MAX_CONTEXT = MAX_FREE_TEXT - MAX_QUESTION - len(DETAILS_SEPARATOR)
MAX_ANSWER = 4000
#: How far ahead a wished or accepted deadline may be.
MAX_DEADLINE_AHEAD = timedelta(days=60)

# ------------------------------------------------------------------------------------------- vocabulary


class Level(IntEnum):
    """Level 1: a question answerable from the request alone; level 2: a complex case needing a thorough
    study of the file (the two levels of tele-expertise of the French convention)."""

    ONE = 1
    TWO = 2


class ExpertiseUrgency(StrEnum):
    NON_URGENT = "non_urgente"
    URGENT = "urgente"

    @property
    def booking_urgency(self) -> Urgency:
        """The urgency of a teleconsultation booked from such a request."""
        return Urgency.SEMI_URGENTE if self is ExpertiseUrgency.URGENT else Urgency.PROGRAMMEE


class ExpertiseStatus(StrEnum):
    SUBMITTED = "submitted"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"
    CONVERTED = "converted"


#: Statuses in which the request still waits for something from the hospital.
OPEN_STATUSES = frozenset({ExpertiseStatus.SUBMITTED, ExpertiseStatus.CLAIMED})


class AnswerOutcome(StrEnum):
    """The structured outcome of an answer (counted by the coordinators' reports)."""

    AVIS_CONSEILS = "avis_conseils"
    MODIFICATION_THERAPEUTIQUE = "modification_therapeutique"
    DEMANDE_TELECONSULTATION = "demande_teleconsultation"
    CONSULTATION_PHYSIQUE = "consultation_physique"
    ORIENTATION_URGENCES = "orientation_urgences"
    AUTRE = "autre"


class NotificationKind(StrEnum):
    """What the requester is told about: each change the hospital makes to their request."""

    CLAIMED = "claimed"
    ANSWERED = "answered"
    CONVERTED = "converted"


# ----------------------------------------------------------------------------------------------- errors


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    message = N_("This request has just been taken on by another expert.")


class NotClaimed(Conflict):
    code = "not_claimed"
    message = N_("Take this request on before answering it.")


class NotOpen(Conflict):
    code = "expertise_closed"
    message = N_("This request is no longer open: it has been answered, withdrawn or converted.")


class StaleExpertise(Conflict):
    code = "stale_expertise"
    message = N_("Someone changed this request at the same time. Reload the page to see the current state.")


# ---------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: AnswerOutcome
    text: str  # health data: sealed
    by: UUID
    at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    expert_id: UUID
    at: datetime
    deadline: datetime  # the response deadline the expert accepts


@dataclass(frozen=True, slots=True)
class Withdrawal:
    by: UUID
    at: datetime


@dataclass(frozen=True, slots=True)
class ExpertiseRequest:
    id: UUID
    ehpad_id: UUID
    resident_id: UUID
    specialty: Specialty
    level: Level
    urgency: ExpertiseUrgency
    reason: Reason
    wished_deadline: datetime
    question: str  # health data: sealed
    context: str  # health data: sealed
    consent: Consent  # the patient's consent to the tele-expertise (and to a teleconsultation from it)
    agreement: PhysicianAgreement
    requested_by: UUID
    requester_role: Role
    requested_at: datetime
    status: ExpertiseStatus = ExpertiseStatus.SUBMITTED
    claim: Claim | None = None
    answer: Answer | None = None
    withdrawal: Withdrawal | None = None
    appointment_id: UUID | None = None  # the teleconsultation it was turned into
    version: int = 1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def deadline(self) -> datetime:
        """The deadline that counts: the one the expert accepted, else the one the care home wished."""
        return self.claim.deadline if self.claim else self.wished_deadline

    def is_late(self, now: datetime) -> bool:
        """Its deadline has passed and the hospital has not answered yet."""
        return self.is_open and now > self.deadline


# ------------------------------------------------------------------------------------------------ rules


def _text_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return N_("This text is too long.")
    if any(ord(char) < 32 and char not in "\n\r\t" for char in value):
        return N_("This text contains characters that are not allowed.")
    return None


def _deadline_problem(deadline: datetime, now: datetime) -> str | None:
    if deadline <= now:
        return N_("The deadline must be in the future.")
    if deadline > now + MAX_DEADLINE_AHEAD:
        return N_("The deadline must be within 60 days.")
    return None


def check_submission(request: ExpertiseRequest, now: datetime, today: date) -> None:
    """Every rule of a complete request, each failure named on its field (422)."""
    fields: dict[str, str] = {}
    if not request.question.strip():
        fields["question"] = N_("Write the question you ask the expert.")
    elif problem := _text_problem(request.question, MAX_QUESTION):
        fields["question"] = problem
    if problem := _text_problem(request.context, MAX_CONTEXT):
        fields["context"] = problem
    if problem := _deadline_problem(request.wished_deadline, now):
        fields["wished_deadline"] = problem
    consent = request.consent
    if consent.given_by is not ConsentGiver.RESIDENT and not consent.person_name.strip():
        fields["consent_person"] = N_("Give the name of the person who consented for the resident.")
    if problem := _text_problem(consent.person_name, MAX_PERSON_NAME):
        fields["consent_person"] = problem
    if consent.given_on > today:
        fields["consent_given_on"] = N_("The consent cannot be dated in the future.")
    if not request.agreement.obtained and not request.agreement.note.strip():
        fields["physician_note"] = N_("Say why the treating physician's agreement could not be obtained.")
    if problem := _text_problem(request.agreement.note, MAX_FREE_TEXT):
        fields["physician_note"] = problem
    if fields:
        raise InvalidInput(fields)


def claimed(
    request: ExpertiseRequest, expert_id: UUID, deadline: datetime, now: datetime
) -> ExpertiseRequest:
    """The expert takes the request on and commits to answer by ``deadline``."""
    if request.status is ExpertiseStatus.CLAIMED:
        raise AlreadyClaimed()
    if request.status is not ExpertiseStatus.SUBMITTED:
        raise NotOpen()
    if problem := _deadline_problem(deadline, now):
        raise InvalidInput({"deadline": problem})
    return replace(
        request,
        status=ExpertiseStatus.CLAIMED,
        claim=Claim(expert_id, now, deadline),
        version=request.version + 1,
    )


def answered(request: ExpertiseRequest, answer: Answer) -> ExpertiseRequest:
    if request.status is ExpertiseStatus.SUBMITTED:
        raise NotClaimed()
    if request.status is not ExpertiseStatus.CLAIMED:
        raise NotOpen()
    fields: dict[str, str] = {}
    if not answer.text.strip():
        fields["text"] = N_("Write your answer for the care home.")
    elif problem := _text_problem(answer.text, MAX_ANSWER):
        fields["text"] = problem
    if fields:
        raise InvalidInput(fields)
    return replace(request, status=ExpertiseStatus.ANSWERED, answer=answer, version=request.version + 1)


def withdrawn(request: ExpertiseRequest, by: UUID, now: datetime) -> ExpertiseRequest:
    """The care home no longer needs an answer (the resident's state changed, the question was settled)."""
    if not request.is_open:
        raise NotOpen()
    return replace(
        request,
        status=ExpertiseStatus.WITHDRAWN,
        withdrawal=Withdrawal(by, now),
        version=request.version + 1,
    )


def check_convertible(request: ExpertiseRequest) -> None:
    """Only a request taken on and not answered yet can become a teleconsultation."""
    if request.status is ExpertiseStatus.SUBMITTED:
        raise NotClaimed()
    if request.status is not ExpertiseStatus.CLAIMED:
        raise NotOpen()


def converted(request: ExpertiseRequest, appointment_id: UUID) -> ExpertiseRequest:
    """The expert who took the request on answers it with a teleconsultation instead."""
    check_convertible(request)
    return replace(
        request,
        status=ExpertiseStatus.CONVERTED,
        appointment_id=appointment_id,
        version=request.version + 1,
    )


_ATTENDEE_OF_ROLE = {Role.IDE: Attendee.IDE, Role.IDEC: Attendee.IDEC, Role.MEDECIN_CO: Attendee.MEDECIN_CO}


def booking_qualification(request: ExpertiseRequest) -> Qualification:
    """What a teleconsultation booked from the request is about: its reason, question and context (whole),
    its urgency; the person who asked is expected beside the resident."""
    details = request.question.strip()
    if request.context.strip():
        details += DETAILS_SEPARATOR + request.context.strip()
    return Qualification(
        specialty=request.specialty,
        reason=request.reason,
        details=details,
        urgency=request.urgency.booking_urgency,
        attendees=frozenset({_ATTENDEE_OF_ROLE.get(request.requester_role, Attendee.IDE)}),
    )

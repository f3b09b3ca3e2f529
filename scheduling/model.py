"""The scheduling domain: availability windows, the slots they produce, and appointments with their
qualification, consent and preparation. Pure Python: no aiohttp, no SQLAlchemy, no I/O; the clock and the
public holidays are passed in.

Times: every instant is an aware datetime in UTC; windows are written in Europe/Paris wall-clock time and
turned into instants day by day through zoneinfo, so a window "14:00-17:30" stays 14:00-17:30 on the days
daylight-saving time changes. Recurrence is dateutil's rrule, never hand-rolled.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from uuid import UUID
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule, weekday

from teleconsult.errors import Conflict, DomainError, InvalidInput
from teleconsult.i18n import N_
from teleconsult.identity.model import Specialty, User

PARIS = ZoneInfo("Europe/Paris")

#: The defaults of DOMAIN.md: afternoons, 30 min consultation + 15 min report.
DEFAULT_START = time(14, 0)
DEFAULT_END = time(17, 30)
DEFAULT_CONSULTATION_MINUTES = 30
DEFAULT_REPORT_MINUTES = 15
MIN_CONSULTATION_MINUTES = 10
MAX_UNIT_MINUTES = 240
#: No appointment lasts longer: each is one slot, and a slot is one unit. The store refuses longer rows, so
#: that a search for the appointments overlapping a period need only look at those that start at most this
#: long before it (an index range, instead of every appointment of the past).
MAX_APPOINTMENT_LENGTH = timedelta(minutes=MAX_UNIT_MINUTES)
#: How far ahead the nurse's slot search looks.
SEARCH_HORIZON = timedelta(days=42)
#: A slot must start at least this long after "now" to be bookable (time to prepare, and no booking of a
#: slot that is already under way).
MIN_LEAD_TIME = timedelta(minutes=15)
MAX_FREE_TEXT = 2000
MAX_PERSON_NAME = 200

# ------------------------------------------------------------------------------------------- vocabulary


class Urgency(StrEnum):
    PROGRAMMEE = "programmee"
    SEMI_URGENTE = "semi_urgente"


class Reason(StrEnum):
    """Why a teleconsultation is asked for (DOMAIN.md's needs survey), plus "autre"."""

    AVIS_GERIATRIQUE = "avis_geriatrique"
    TROUBLES_COMPORTEMENT = "troubles_comportement"
    SITUATION_URGENTE = "situation_urgente"
    PLAIE = "plaie"
    DOULEUR = "douleur"
    DENUTRITION = "denutrition"
    MEDICAMENTS = "conciliation_medicamenteuse"
    CHUTES = "chutes"
    DECISION_ETHIQUE = "decision_ethique"
    AUTRE = "autre"


class Attendee(StrEnum):
    """Who will be beside the resident during the call."""

    IDE = "ide"
    IDEC = "idec"
    MEDECIN_CO = "medecin_co"
    FAMILY = "famille"
    TREATING_PHYSICIAN = "medecin_traitant"


class ConsentGiver(StrEnum):
    RESIDENT = "resident"
    FAMILY = "famille"
    LEGAL_REPRESENTATIVE = "representant_legal"
    TRUSTED_PERSON = "personne_de_confiance"


class ConsentMethod(StrEnum):
    ORAL = "oral"
    WRITTEN = "ecrit"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"
    DONE = "done"


#: Statuses that hold the expert's time and the resident's (the exclusion constraints use the same list).
ACTIVE_STATUSES = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.NO_SHOW, AppointmentStatus.DONE})


class CancelledBy(StrEnum):
    CARE_HOME = "care_home"
    HOSPITAL = "hospital"


class ChecklistItem(StrEnum):
    """The preparation checklist of DOMAIN.md's good practice, in the order the nurse works through it."""

    CONSTANTES = "constantes"
    TRAITEMENT = "traitement"
    DLU = "dlu"
    PHOTOS = "photos"
    CONSENTEMENT = "consentement"
    TEST_CONNEXION = "test_connexion"


class Readiness(StrEnum):
    READY = "ready"
    INCOMPLETE = "incomplete"
    NOT_STARTED = "not_started"


# ----------------------------------------------------------------------------------------------- errors


class SlotTaken(Conflict):
    """Somebody else booked this slot first; ``alternatives`` are the next free ones."""

    code = "slot_taken"
    message = N_("This slot has just been booked by someone else. Choose one of the next free slots.")

    def __init__(self, alternatives: Sequence[SlotOffer] = ()) -> None:
        super().__init__()
        self.alternatives = list(alternatives)


class ResidentBusy(Conflict):
    code = "resident_busy"
    message = N_("This resident already has an appointment at that time. Choose another slot.")


class SlotInPast(DomainError):
    code = "slot_in_past"
    message = N_("This slot has already started or is too close. Choose a later slot.")


class OutsideAvailability(DomainError):
    code = "outside_availability"
    message = N_("This slot is not in the expert's availability. Choose a slot from the list.")


class NoConvention(DomainError):
    code = "no_convention"
    message = N_(
        "Your care home has no convention with this expert's team. Choose an expert from the list, "
        "or ask your administrator to sign a convention."
    )


class NotBookable(Conflict):
    code = "not_bookable"
    message = N_("This appointment can no longer be changed: it is cancelled or already over.")


class StaleAppointment(Conflict):
    code = "stale_appointment"
    message = N_(
        "Someone changed this appointment at the same time. Reload the page to see the current state."
    )


# ---------------------------------------------------------------------------------------- availability

_WEEKDAYS: tuple[weekday, ...] = tuple(weekday(n) for n in range(7))


@dataclass(frozen=True, slots=True)
class Window:
    """A recurring weekly availability of one expert for one specialty, in Paris wall-clock time.

    A secretariat may publish a window for a whole hospital team: each expert of the team who practises
    the specialty then gets a copy of their own (the same ``team_window_id``), so that the slot search and
    the booking see only experts' windows; each copy can be removed alone (an expert who is not there on
    Thursdays), or all of them at once."""

    id: UUID
    expert_id: UUID
    specialty: Specialty
    weekdays: frozenset[int]  # 0 = Monday ... 6 = Sunday
    start: time
    end: time
    valid_from: date
    valid_until: date | None = None
    consultation_minutes: int = DEFAULT_CONSULTATION_MINUTES
    report_minutes: int = DEFAULT_REPORT_MINUTES
    #: Published for the whole team (one id for all its experts' copies), or None: for this expert alone.
    team_window_id: UUID | None = None
    team_id: UUID | None = None

    def __post_init__(self) -> None:
        check_window(self)
        if (self.team_window_id is None) != (self.team_id is None):
            raise ValueError("a team's window names both the team and the publication")

    @property
    def unit(self) -> timedelta:
        return timedelta(minutes=self.consultation_minutes + self.report_minutes)

    def local_starts(self, day: date) -> Iterator[datetime]:
        """The wall-clock starts of this window's slots on ``day`` (Paris time, aware): start, start + unit,
        start + 2 units... as long as the slot ends by the window's end.

        On the nights daylight-saving time changes, a slot is left out when its start or its end falls in
        the hour the clocks skip (spring) or repeat (autumn), or when it spans the change: such a slot would
        last less (or more) than its unit, or overlap its neighbour, or be ambiguous on the wall. Every
        slot given here therefore lasts exactly its unit, on the wall clock and in real time alike.
        """
        cursor = datetime.combine(day, self.start, tzinfo=PARIS)
        last = datetime.combine(day, self.end, tzinfo=PARIS)
        while cursor + self.unit <= last:  # aware + timedelta: wall-clock arithmetic
            end = cursor + self.unit
            if _happens_once(cursor) and _happens_once(end) and cursor.utcoffset() == end.utcoffset():
                yield cursor
            cursor = end

    def days(self, first: date, last: date) -> list[date]:
        """The days in [first, last] on which this window applies (rrule over the weekdays)."""
        first = max(first, self.valid_from)
        if self.valid_until is not None:
            last = min(last, self.valid_until)
        if first > last:
            return []
        return list(_weekly_days(self.weekdays, first, last))


@lru_cache(maxsize=1024)
def _weekly_days(weekdays: frozenset[int], first: date, last: date) -> tuple[date, ...]:
    """The days in [first, last] that fall on ``weekdays``: keyed by these only, so the many windows of a
    team that share the same days pay the rrule once per search, not once each."""
    rule = rrule(
        WEEKLY,
        dtstart=datetime.combine(first, time()),
        until=datetime.combine(last, time()),
        byweekday=[_WEEKDAYS[n] for n in sorted(weekdays)],
    )
    return tuple(moment.date() for moment in rule)


def _happens_once(local: datetime) -> bool:
    """Whether this Paris wall-clock time occurs exactly once: not skipped by the spring-forward gap, not
    repeated by the autumn fold (in both cases zoneinfo gives the two folds different offsets)."""
    return local.utcoffset() == local.replace(fold=1).utcoffset()


def check_window(window: Window) -> None:
    fields: dict[str, str] = {}
    if not window.weekdays or not window.weekdays <= set(range(7)):
        fields["weekdays"] = N_("Tick at least one day of the week.")
    if window.consultation_minutes < MIN_CONSULTATION_MINUTES:
        fields["consultation_minutes"] = N_("A consultation lasts at least 10 minutes.")
    if window.report_minutes < 0:
        fields["report_minutes"] = N_("The time for the report cannot be negative.")
    if window.consultation_minutes + window.report_minutes > MAX_UNIT_MINUTES:
        fields["consultation_minutes"] = N_("A slot lasts at most 4 hours.")
    if window.start >= window.end:
        fields["end"] = N_("The end must come after the start.")
    elif not fields and datetime.combine(date.min, window.start) + window.unit > datetime.combine(
        date.min, window.end
    ):
        fields["end"] = N_("The window is too short for one slot.")
    if window.valid_until is not None and window.valid_until < window.valid_from:
        fields["valid_until"] = N_("The last day must come after the first day.")
    if fields:
        raise InvalidInput(fields)


@dataclass(frozen=True, slots=True)
class Leave:
    """An exception to an expert's availability (leave, training, meeting): no slot overlaps it."""

    id: UUID
    expert_id: UUID
    starts_at: datetime
    ends_at: datetime
    label: str = ""

    def __post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise InvalidInput({"ends_at": N_("The end must come after the start.")})


@dataclass(frozen=True, slots=True, order=True)
class Slot:
    """A bookable unit of one expert's time: consultation then report, as UTC instants."""

    starts_at: datetime
    expert_id: UUID
    ends_at: datetime
    specialty: Specialty
    consultation_ends_at: datetime

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(PARIS)


@dataclass(frozen=True, slots=True)
class SlotOffer:
    """A free slot as the nurse sees it: with the expert who holds it."""

    slot: Slot
    expert: User


#: A function saying whether a day is a public holiday (built from the ``holidays`` library by the caller).
HolidayCheck = Callable[[date], bool]
Busy = Mapping[UUID, Sequence[tuple[datetime, datetime]]]


def _overlaps(start: datetime, end: datetime, periods: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in periods)


@lru_cache(maxsize=4096)
def _slot_times(
    day: date, start: time, end: time, consultation_minutes: int, report_minutes: int
) -> tuple[tuple[datetime, datetime, datetime], ...]:
    """(starts_at, ends_at, consultation_ends_at) in UTC of the slots of a window of this shape on ``day``.
    Pure and keyed by the shape only: the many experts of a team who share the same afternoons pay the
    time-zone arithmetic once per day, not once each."""
    shape = Window(
        _SHAPE_ID,
        _SHAPE_ID,
        Specialty.GERIATRIE,  # irrelevant to the times
        frozenset({day.weekday()}),
        start,
        end,
        day,
        None,
        consultation_minutes,
        report_minutes,
    )
    found = []
    for local in shape.local_starts(day):
        starts_at = local.astimezone(UTC)
        # local_starts gives only slots that do not cross a change of offset: the unit is the same on the
        # wall and in real time.
        found.append((starts_at, starts_at + shape.unit, starts_at + timedelta(minutes=consultation_minutes)))
    return tuple(found)


_SHAPE_ID = UUID(int=0)


def window_slots(window: Window, day: date) -> list[Slot]:
    """The slots ``window`` offers on ``day``, regardless of bookings, leave and holidays."""
    times = _slot_times(day, window.start, window.end, window.consultation_minutes, window.report_minutes)
    return [
        Slot(starts_at, window.expert_id, ends_at, window.specialty, consultation_ends_at)
        for starts_at, ends_at, consultation_ends_at in times
    ]


def free_slots(
    windows: Iterable[Window],
    leaves: Iterable[Leave],
    busy: Busy,
    *,
    start: datetime,
    end: datetime,
    is_holiday: HolidayCheck,
    specialty: Specialty | None = None,
    limit: int | None = None,
) -> list[Slot]:
    """Free slots starting at or after ``start`` and ending by ``end``, earliest first (then by expert).

    A slot is free when it lies in one of its expert's windows on a day that is not a public holiday, does
    not overlap the expert's leave, and does not overlap any of the expert's active appointments (``busy``).
    Two windows of the same expert that overlap never produce overlapping slots: the earlier slot wins.
    """
    leaves_by_expert: dict[UUID, list[tuple[datetime, datetime]]] = {}
    for leave in leaves:
        leaves_by_expert.setdefault(leave.expert_id, []).append((leave.starts_at, leave.ends_at))
    first_day = start.astimezone(PARIS).date()
    last_day = end.astimezone(PARIS).date()
    by_day: dict[date, list[Window]] = {}
    for window in windows:
        if specialty is None or window.specialty is specialty:
            for day in window.days(first_day, last_day):
                by_day.setdefault(day, []).append(window)
    chosen: list[Slot] = []
    # Day by day, earliest first: a slot starts and ends on its own Paris day, so every slot of a day comes
    # before every slot of the next, and slots of different days never overlap. The search can then stop
    # on the day the limit is reached instead of building the whole horizon of every expert.
    for day in sorted(by_day):
        if is_holiday(day):
            continue
        taken: dict[UUID, list[tuple[datetime, datetime]]] = {}
        # Within the day, the candidates come in Slot order (start, then expert...) without being built
        # and sorted all at once: the search stops at the limit having looked at the first few start times
        # only, whatever the number of experts.
        for slot in _day_candidates(by_day[day], day, start, end):
            away, held = leaves_by_expert.get(slot.expert_id), busy.get(slot.expert_id)
            if (away and _overlaps(slot.starts_at, slot.ends_at, away)) or (
                held and _overlaps(slot.starts_at, slot.ends_at, held)
            ):
                continue
            mine = taken.setdefault(slot.expert_id, [])
            if _overlaps(slot.starts_at, slot.ends_at, mine):
                continue
            mine.append((slot.starts_at, slot.ends_at))
            chosen.append(slot)
            if limit is not None and len(chosen) >= limit:
                return chosen
    return chosen


def _day_candidates(windows: Sequence[Window], day: date, start: datetime, end: datetime) -> Iterator[Slot]:
    """The slots of ``windows`` on ``day`` within [start, end], lazily, in Slot order.

    Windows of the same shape (hours and unit) have the same slot times: for each start time, its windows'
    slots are produced expert by expert from the windows sorted once; the start times of all shapes are
    visited in order, and at one start time the shapes' runs (each already in order) are merged."""
    shapes: dict[tuple[time, time, int, int], list[Window]] = {}
    for window in windows:
        shape = (window.start, window.end, window.consultation_minutes, window.report_minutes)
        shapes.setdefault(shape, []).append(window)
    runs: dict[datetime, list[Iterator[Slot]]] = {}
    for shape, group in shapes.items():
        group.sort(key=lambda window: (window.expert_id, window.specialty))
        for starts_at, ends_at, consultation_ends_at in _slot_times(day, *shape):
            if start <= starts_at and ends_at <= end:
                runs.setdefault(starts_at, []).append(_run(group, starts_at, ends_at, consultation_ends_at))
    for starts_at in sorted(runs):
        at_start = runs[starts_at]
        yield from at_start[0] if len(at_start) == 1 else heapq.merge(*at_start)


def _run(
    group: Sequence[Window], starts_at: datetime, ends_at: datetime, consultation_ends_at: datetime
) -> Iterator[Slot]:
    for window in group:
        yield Slot(starts_at, window.expert_id, ends_at, window.specialty, consultation_ends_at)


def offered_slot(
    windows: Iterable[Window],
    leaves: Iterable[Leave],
    is_holiday: HolidayCheck,
    expert_id: UUID,
    starts_at: datetime,
    specialty: Specialty,
) -> Slot:
    """The slot of ``expert_id`` starting at ``starts_at`` if their availability offers it (bookings
    aside); raises OutsideAvailability otherwise."""
    day = starts_at.astimezone(PARIS).date()
    if is_holiday(day):
        raise OutsideAvailability()
    for window in windows:
        if (
            window.expert_id != expert_id
            or window.specialty is not specialty
            or day not in window.days(day, day)
        ):
            continue
        for slot in window_slots(window, day):
            if slot.starts_at == starts_at:
                on_leave = _overlaps(
                    slot.starts_at,
                    slot.ends_at,
                    [(leave.starts_at, leave.ends_at) for leave in leaves if leave.expert_id == expert_id],
                )
                if on_leave:
                    raise OutsideAvailability()
                return slot
    raise OutsideAvailability()


def check_bookable_time(slot: Slot, now: datetime) -> None:
    if slot.starts_at < now + MIN_LEAD_TIME:
        raise SlotInPast()


# --------------------------------------------------------------------------------------- the request


@dataclass(frozen=True, slots=True)
class Qualification:
    """What the nurse says about the problem when booking (health data: sealed by records/)."""

    specialty: Specialty
    reason: Reason
    details: str
    urgency: Urgency
    attendees: frozenset[Attendee]
    record_call: bool = False  # consent to record the video call (the recorder of the video issue)


@dataclass(frozen=True, slots=True)
class Consent:
    given_by: ConsentGiver
    given_on: date
    method: ConsentMethod
    person_name: str = ""  # who, when it is not the resident (family, legal representative, trusted person)


@dataclass(frozen=True, slots=True)
class PhysicianAgreement:
    """The treating physician's agreement, or why it could not be obtained."""

    obtained: bool
    note: str = ""


def _text_problem(value: str, limit: int) -> str | None:
    if len(value) > limit:
        return N_("This text is too long.")
    if any(ord(char) < 32 and char not in "\n\r\t" for char in value):
        return N_("This text contains characters that are not allowed.")
    return None


def check_request(
    qualification: Qualification, consent: Consent, agreement: PhysicianAgreement, today: date
) -> None:
    """Every rule of a complete request, each failure named on its field (422)."""
    fields: dict[str, str] = {}
    if not qualification.attendees:
        fields["attendees"] = N_("Say who will be beside the resident during the call.")
    if qualification.reason is Reason.AUTRE and not qualification.details.strip():
        fields["details"] = N_("Describe the reason in a few words.")
    if problem := _text_problem(qualification.details, MAX_FREE_TEXT):
        fields["details"] = problem
    if consent.given_by is not ConsentGiver.RESIDENT and not consent.person_name.strip():
        fields["consent_person"] = N_("Give the name of the person who consented for the resident.")
    if problem := _text_problem(consent.person_name, MAX_PERSON_NAME):
        fields["consent_person"] = problem
    if consent.given_on > today:
        fields["consent_given_on"] = N_("The consent cannot be dated in the future.")
    if not agreement.obtained and not agreement.note.strip():
        fields["physician_note"] = N_("Say why the treating physician's agreement could not be obtained.")
    if problem := _text_problem(agreement.note, MAX_FREE_TEXT):
        fields["physician_note"] = problem
    if fields:
        raise InvalidInput(fields)


# -------------------------------------------------------------------------------------- appointments


@dataclass(frozen=True, slots=True)
class Cancellation:
    by: CancelledBy
    user_id: UUID
    at: datetime
    reason: str  # free text: sealed


@dataclass(frozen=True, slots=True)
class Appointment:
    id: UUID
    expert_id: UUID
    ehpad_id: UUID
    resident_id: UUID
    specialty: Specialty
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    qualification: Qualification
    consent: Consent
    agreement: PhysicianAgreement
    created_by: UUID
    created_at: datetime
    version: int = 1
    cancellation: Cancellation | None = None
    rescheduled_from: UUID | None = None
    checklist: Mapping[ChecklistItem, datetime] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status is AppointmentStatus.BOOKED

    @property
    def local_start(self) -> datetime:
        return self.starts_at.astimezone(PARIS)

    def readiness(self) -> Readiness:
        return readiness(self.checklist)

    def missing(self) -> list[ChecklistItem]:
        return [item for item in ChecklistItem if item not in self.checklist]


def readiness(checklist: Mapping[ChecklistItem, datetime]) -> Readiness:
    if not checklist:
        return Readiness.NOT_STARTED
    return Readiness.READY if all(item in checklist for item in ChecklistItem) else Readiness.INCOMPLETE


def check_reason_text(reason: str) -> None:
    fields: dict[str, str] = {}
    if not reason.strip():
        fields["reason"] = N_("Say why, in a few words: the other side will read it.")
    elif problem := _text_problem(reason, MAX_FREE_TEXT):
        fields["reason"] = problem
    if fields:
        raise InvalidInput(fields)


def cancelled(appointment: Appointment, cancellation: Cancellation) -> Appointment:
    if not appointment.is_open:
        raise NotBookable()
    check_reason_text(cancellation.reason)
    return replace(
        appointment,
        status=AppointmentStatus.CANCELLED,
        cancellation=cancellation,
        version=appointment.version + 1,
    )


def marked_no_show(appointment: Appointment, now: datetime) -> Appointment:
    """Only once the appointment has started can the resident be marked absent."""
    if not appointment.is_open:
        raise NotBookable()
    if now < appointment.starts_at:
        raise InvalidInput({"status": N_("An appointment can be marked missed only once it has started.")})
    return replace(appointment, status=AppointmentStatus.NO_SHOW, version=appointment.version + 1)

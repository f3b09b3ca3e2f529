"""Use cases of scheduling: publish availability, find slots, book, cancel, reschedule, mark missed, prepare,
and the agendas of both sides.

Each use case asks the access policy, runs in one transaction, writes its audit event (ids only) in that
transaction, and seals the health fields through records/ under the resident's dossier key. Booking relies
on the database's constraints for the last word on double booking; the checks before it are there to give
the nurse a precise message, not to be trusted alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

import holidays
from sqlalchemy.exc import IntegrityError

from records.audit.model import Outcome
from records.residents import service as residents
from records.residents.fields import SealingKeys
from records.residents.model import Resident
from records.sealing import DossierKey
from scheduling.model import (
    MIN_LEAD_TIME,
    PARIS,
    SEARCH_HORIZON,
    Appointment,
    AppointmentStatus,
    Cancellation,
    CancelledBy,
    ChecklistItem,
    Consent,
    Leave,
    NoConvention,
    NotBookable,
    OutsideAvailability,
    PhysicianAgreement,
    Qualification,
    ResidentBusy,
    Slot,
    SlotOffer,
    SlotTaken,
    StaleAppointment,
    Window,
    cancelled,
    check_bookable_time,
    check_request,
    free_slots,
    marked_no_show,
    offered_slot,
)
from scheduling.notifications import NotificationKind
from scheduling.notifications_service import notify
from scheduling.store import Bookable, SchedulingStore, appointments
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.model import CARE_HOME_ROLES, Department, Role, Specialty, User
from teleconsult.identity.policy import Action, AppointmentRef, Decision, Principal
from teleconsult.identity.service.trail import audit
from teleconsult.identity.store import IdentityStore

OBJECT_TYPE = "appointment"
SLOT_SEARCH_LIMIT = 12
ALTERNATIVES = 3

_FRENCH_HOLIDAYS = holidays.country_holidays("FR")


def is_french_holiday(day: date) -> bool:
    """National public holidays of France (the ``holidays`` library; Alsace-Moselle's extra days are not
    applied: the windows of a hospital there can simply leave them out)."""
    return day in _FRENCH_HOLIDAYS


# ------------------------------------------------------------------------------------------ availability


async def _expert(uow: UnitOfWork, expert_id: UUID) -> User:
    expert = await uow.store(IdentityStore).get_user(expert_id)
    if expert is None or expert.role is not Role.EXPERT or not expert.is_active:
        raise NotFound()
    return expert


@dataclass(frozen=True, slots=True)
class Availability:
    expert: User
    windows: list[Window]
    leaves: list[Leave]
    #: The expert's team, when the actor may publish windows for all of it (its hospital's secretariat).
    team: Department | None = None
    #: The team's windows this expert has no copy of (joined the team later, or had it removed), for the
    #: specialties they practise: the secretariat can give them one.
    team_missing: tuple[Window, ...] = ()


async def experts_i_manage(uow: UnitOfWork, actor: Principal) -> list[User]:
    """The experts whose availability the actor publishes: an expert themself, a secretariat all of its
    hospital's."""
    policy.require(actor, Action.MANAGE_AVAILABILITY)
    async with uow.reading():
        if actor.role is Role.EXPERT:
            return [actor.user]
        staff = await uow.store(IdentityStore).list_users(actor.user.establishment_id)
    return [user for user in staff if user.role is Role.EXPERT and user.is_active]


async def availability(uow: UnitOfWork, actor: Principal, expert_id: UUID, now: datetime) -> Availability:
    async with uow.reading():
        expert = await _expert(uow, expert_id)
        policy.require(actor, Action.MANAGE_AVAILABILITY, expert)
        store = uow.store(SchedulingStore)
        today = now.astimezone(PARIS).date()
        windows = await store.windows([expert_id], today, date.max)
        leaves = await store.leaves([expert_id], now, datetime.max.replace(tzinfo=now.tzinfo))
        team = await _department_of(uow, expert)
    if team is None or policy.decide(actor, Action.MANAGE_AVAILABILITY, team) is not Decision.ALLOW:
        return Availability(expert, windows, leaves)
    async with uow.reading():
        publications = await uow.store(SchedulingStore).team_windows(team.id, today)
    held = {w.team_window_id for w in publications if w.expert_id == expert_id}
    missing: dict[UUID, Window] = {}
    for window in publications:
        publication = window.team_window_id
        if publication is not None and publication not in held and window.specialty in expert.specialties:
            missing.setdefault(publication, window)
    return Availability(expert, windows, leaves, team, tuple(missing.values()))


async def apply_team_window(
    uow: UnitOfWork,
    actor: Principal,
    expert_id: UUID,
    team_window_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> Window:
    """Give an expert a copy of one of their team's windows (a geriatrician who joined the team after it
    was published). Raises NotFound (no such window in force for the expert's team), InvalidInput (the
    expert does not practise its specialty, or has it already)."""
    async with uow:
        expert = await _expert(uow, expert_id)
        policy.require(actor, Action.MANAGE_AVAILABILITY, expert)
        team = await _team_of(uow, expert)
        policy.require(actor, Action.MANAGE_AVAILABILITY, team)
        store = uow.store(SchedulingStore)
        today = now.astimezone(PARIS).date()
        copies = [w for w in await store.team_windows(team.id, today) if w.team_window_id == team_window_id]
        if not copies:
            raise NotFound()
        if any(w.expert_id == expert_id for w in copies):
            raise InvalidInput({"team": N_("This expert has this team window already.")})
        if copies[0].specialty not in expert.specialties:
            raise InvalidInput({"specialty": N_("This expert does not practise this specialty.")})
        window = replace(copies[0], id=uuid.uuid4(), expert_id=expert_id)
        await _add_windows(uow, actor, [window], now, client_address)
        await uow.commit()
    return window


async def _add_windows(
    uow: UnitOfWork, actor: Principal, windows: list[Window], now: datetime, client_address: str | None
) -> None:
    """Store windows (an expert's, or a team's copies) and audit each, in the caller's transaction."""
    await uow.store(SchedulingStore).add_windows(windows, actor.user.id, now)
    await _audit_windows(uow, actor, "availability.window.add", [w.id for w in windows], now, client_address)


async def _audit_windows(
    uow: UnitOfWork,
    actor: Principal,
    action: str,
    window_ids: list[UUID],
    now: datetime,
    client_address: str | None,
) -> None:
    for window_id in window_ids:
        await audit(uow, now, action, Outcome.SUCCESS, actor.user, client_address, "window", window_id)


async def publish_window(
    uow: UnitOfWork,
    actor: Principal,
    expert_id: UUID,
    specialty: Specialty,
    weekdays: frozenset[int],
    start: time,
    end: time,
    valid_from: date,
    valid_until: date | None,
    consultation_minutes: int,
    report_minutes: int,
    now: datetime,
    client_address: str | None = None,
    *,
    for_team: bool = False,
) -> Window:
    """Publish a window for the expert; ``for_team``: for every active expert of the expert's team who
    practises the specialty (the secretariat's choice: the team's afternoons in one go), each getting a
    copy. Returns the expert's window (their copy)."""
    async with uow:
        expert = await _expert(uow, expert_id)
        policy.require(actor, Action.MANAGE_AVAILABILITY, expert)
        if specialty not in expert.specialties:
            raise InvalidInput({"specialty": N_("This expert does not practise this specialty.")})
        shape = Window(
            uuid.uuid4(),
            expert_id,
            specialty,
            weekdays,
            start,
            end,
            valid_from,
            valid_until,
            consultation_minutes,
            report_minutes,
        )
        windows = [shape]
        if for_team:
            team = await _team_of(uow, expert)
            policy.require(actor, Action.MANAGE_AVAILABILITY, team)
            members = await uow.store(IdentityStore).list_users(team.hospital_id)
            colleagues = [
                user
                for user in members
                if user.department_id == team.id
                and user.role is Role.EXPERT
                and user.is_active
                and specialty in user.specialties
            ]
            publication = uuid.uuid4()
            windows = [
                replace(
                    shape, id=uuid.uuid4(), expert_id=user.id, team_window_id=publication, team_id=team.id
                )
                for user in sorted(colleagues, key=lambda user: user.id != expert_id)  # the expert's first
            ]
        await _add_windows(uow, actor, windows, now, client_address)
        await uow.commit()
    return windows[0]


async def _department_of(uow: UnitOfWork, expert: User) -> Department | None:
    if expert.department_id is None:
        return None
    return await uow.store(IdentityStore).get_department(expert.department_id)


async def _team_of(uow: UnitOfWork, expert: User) -> Department:
    team = await _department_of(uow, expert)
    if team is None:
        raise InvalidInput({"team": N_("This expert belongs to no hospital team.")})
    return team


async def remove_window(
    uow: UnitOfWork,
    actor: Principal,
    window_id: UUID,
    now: datetime,
    client_address: str | None = None,
    *,
    for_team: bool = False,
) -> None:
    """Remove a window: future slots disappear; appointments already booked in it stay booked. ``for_team``
    (a window published for the team): every expert's copy of it."""
    async with uow:
        store = uow.store(SchedulingStore)
        window = await store.get_window(window_id)
        if window is None:
            raise NotFound()
        policy.require(actor, Action.MANAGE_AVAILABILITY, await _expert(uow, window.expert_id))
        removed = [window_id]
        if for_team:
            if window.team_window_id is None or window.team_id is None:
                raise InvalidInput({"team": N_("This window was published for this expert alone.")})
            team = await uow.store(IdentityStore).get_department(window.team_id)
            if team is None:
                raise NotFound()
            policy.require(actor, Action.MANAGE_AVAILABILITY, team)
            copies = await store.team_window_copies(window.team_window_id)
            await store.remove_team_window(window.team_window_id, now)
            removed = copies
        else:
            await store.remove_window(window_id, now)
        await _audit_windows(uow, actor, "availability.window.remove", removed, now, client_address)
        await uow.commit()


async def add_leave(
    uow: UnitOfWork,
    actor: Principal,
    expert_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
    label: str,
    now: datetime,
    client_address: str | None = None,
) -> Leave:
    """Leave, training, a meeting: no slot is offered during it. Appointments already booked in it are
    not cancelled silently: they are listed on the availability page for the secretariat to move."""
    async with uow:
        expert = await _expert(uow, expert_id)
        policy.require(actor, Action.MANAGE_AVAILABILITY, expert)
        leave = Leave(uuid.uuid4(), expert_id, starts_at, ends_at, label.strip()[:100])
        await uow.store(SchedulingStore).add_leave(leave, actor.user.id, now)
        await audit(
            uow, now, "availability.leave.add", Outcome.SUCCESS, actor.user, client_address, "leave", leave.id
        )
        await uow.commit()
    return leave


async def remove_leave(
    uow: UnitOfWork, actor: Principal, leave_id: UUID, now: datetime, client_address: str | None = None
) -> None:
    async with uow:
        store = uow.store(SchedulingStore)
        leave = await store.get_leave(leave_id)
        if leave is None:
            raise NotFound()
        policy.require(actor, Action.MANAGE_AVAILABILITY, await _expert(uow, leave.expert_id))
        await store.remove_leave(leave_id)
        await audit(
            uow,
            now,
            "availability.leave.remove",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            "leave",
            leave_id,
        )
        await uow.commit()


# ------------------------------------------------------------------------------------------ slot search


async def _free_slots(
    uow: UnitOfWork,
    ehpad_id: UUID,
    specialty: Specialty | None,
    start: datetime,
    end: datetime,
    limit: int,
    expert_id: UUID | None = None,
) -> list[SlotOffer]:
    store = uow.store(SchedulingStore)
    first, last = start.astimezone(PARIS).date(), end.astimezone(PARIS).date()
    # The experts under the care home's conventions are a subquery of each read: only those whose slots
    # are offered are loaded, at the end.
    experts = Bookable(ehpad_id, specialty, expert_id)
    windows = await store.bookable_windows(experts, first, last)
    if not windows:
        return []
    leaves = await store.bookable_leaves(experts, start, end)
    slots: list[Slot] = []
    # The horizon is read a stretch at a time (1 day, then 2, 4...), cut at Paris midnights: slots never
    # cross midnight, so each stretch's free slots depend only on the bookings inside it. The first
    # stretch usually fills the page: the appointments of the weeks after it are never read.
    stretch_start, days = start, 1
    while stretch_start < end and len(slots) < limit:
        midnight = datetime.combine(stretch_start.astimezone(PARIS).date() + timedelta(days=days), time())
        stretch_end = min(end, midnight.replace(tzinfo=PARIS).astimezone(UTC))
        busy = await store.bookable_busy(experts, stretch_start, stretch_end)
        slots += free_slots(
            windows,
            leaves,
            busy,
            start=stretch_start,
            end=stretch_end,
            is_holiday=is_french_holiday,
            specialty=specialty,
            limit=limit - len(slots),
        )
        stretch_start, days = stretch_end, days * 2
    users = {
        user.id: user
        for user in await uow.store(IdentityStore).get_users(sorted({slot.expert_id for slot in slots}))
    }
    return [SlotOffer(slot, users[slot.expert_id]) for slot in slots if slot.expert_id in users]


async def find_slots(
    uow: UnitOfWork,
    actor: Principal,
    specialty: Specialty | None,
    now: datetime,
    *,
    after: datetime | None = None,
    limit: int = SLOT_SEARCH_LIMIT,
    expert_id: UUID | None = None,
) -> list[SlotOffer]:
    """The next free slots for the actor's care home, across the experts its conventions reach, earliest
    first. No health data is involved: nothing to audit."""
    ehpad_id = actor.user.establishment_id
    policy.require(actor, Action.BOOK_APPOINTMENTS, ehpad_id)
    start = max(now + MIN_LEAD_TIME, after or now)
    async with uow.reading():
        return await _free_slots(uow, ehpad_id, specialty, start, start + SEARCH_HORIZON, limit, expert_id)


async def specialties_available(uow: UnitOfWork, actor: Principal) -> list[Specialty]:
    """The specialties the actor's care home can ask for (through its conventions)."""
    ehpad_id = actor.user.establishment_id
    policy.require(actor, Action.BOOK_APPOINTMENTS, ehpad_id)
    async with uow.reading():
        experts = await uow.store(IdentityStore).experts_under_convention(ehpad_id)
    return sorted({specialty for expert in experts for specialty in expert.specialties})


# ---------------------------------------------------------------------------------------------- booking


@dataclass(frozen=True, slots=True)
class BookingRequest:
    resident_id: UUID
    expert_id: UUID
    starts_at: datetime
    qualification: Qualification
    consent: Consent
    agreement: PhysicianAgreement


@dataclass(frozen=True, slots=True)
class Booked:
    appointment: Appointment
    created: bool  # False: an idempotent retry found the booking made the first time


async def book(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request: BookingRequest,
    now: datetime,
    *,
    idempotency_key: str | None = None,
    client_address: str | None = None,
) -> Booked:
    """Book a slot for a resident of the actor's care home; everything it writes (the appointment, the
    resident's activity, the audit event, the expert's notification) in one transaction.

    Raises NotFound (resident unknown or of another care home), NoConvention, InvalidInput (qualification,
    consent, agreement), OutsideAvailability, SlotInPast, ResidentBusy, and SlotTaken with the next free
    slots when another booking won (whether the checks before the insert saw it or the database did).

    The checks read first, without a transaction: a request refused for any reason, a loser in a burst on
    one slot above all, answers without queueing for the SQLite write lock or holding a PostgreSQL
    transaction. The transaction then only writes; its insert re-checks the overlaps in the same statement
    (SQLite serialises it; on PostgreSQL the exclusion constraints have the last word, ADR 0012).
    """
    taken: SlotTaken | None = None
    existing: UUID | None = None
    async with uow.reading():
        store = uow.store(SchedulingStore)
        if idempotency_key is not None:
            existing = await store.id_for_idempotency_key(actor.user.id, idempotency_key)
            if existing is not None:
                return Booked(await _load(uow, keys, existing), created=False)
        try:
            checked = await _check(uow, keys, actor, request, now)
        except (SlotTaken, ResidentBusy) as seen:
            # A retry whose first attempt committed between the two reads above finds its booking.
            if idempotency_key is not None:
                existing = await store.id_for_idempotency_key(actor.user.id, idempotency_key)
            if existing is not None:
                return Booked(await _load(uow, keys, existing), created=False)
            if isinstance(seen, ResidentBusy):
                raise
            taken = seen
    if taken is not None:
        # The next free slots are looked up with nothing held: a burst of losers must not hold the SQLite
        # write lock, or a PostgreSQL transaction, for a 6-week search each.
        specialty = request.qualification.specialty
        raise SlotTaken(await _alternatives(uow, actor, specialty, request, now)) from taken
    lost: Exception
    try:
        async with uow:
            booked = await _write(uow, actor, checked, now, idempotency_key, client_address)
            await uow.commit()
            return booked
    except _Overlapped as exc:
        lost = exc  # booked by someone else since the checks: find out which, with a fresh look
    except IntegrityError as exc:
        lost = exc  # another transaction won a constraint: find out which, with a fresh look
    async with uow:
        store = uow.store(SchedulingStore)
        if idempotency_key is not None:
            existing = await store.id_for_idempotency_key(actor.user.id, idempotency_key)
            if existing is not None:
                return Booked(await _load(uow, keys, existing), created=False)
        end = request.starts_at + timedelta(hours=4)
        if await store.overlapping(
            resident_id=request.resident_id, start=request.starts_at, end=end
        ) and not (await store.overlapping(expert_id=request.expert_id, start=request.starts_at, end=end)):
            raise ResidentBusy() from lost
    raise SlotTaken(await _alternatives(uow, actor, request.qualification.specialty, request, now)) from lost


async def _alternatives(
    uow: UnitOfWork, actor: Principal, specialty: Specialty | None, request: BookingRequest, now: datetime
) -> list[SlotOffer]:
    """The next free slots after the one asked for, read in a unit of their own (no transaction open)."""
    return await find_slots(uow, actor, specialty, now, after=request.starts_at, limit=ALTERNATIVES)


class _Overlapped(Exception):
    """The insert found an overlapping appointment the checks before it had not seen."""


@dataclass(frozen=True, slots=True)
class _Checked:
    """A booking that passed every check: what the transaction writes."""

    appointment: Appointment
    key: DossierKey
    expert: User


async def _check(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request: BookingRequest,
    now: datetime,
    rescheduled_from: UUID | None = None,
    permission: tuple[Action, object] | None = None,
) -> _Checked:
    """Every rule of a booking, in the order its errors take precedence. Four reads: the dossier key (which
    says the resident's EHPAD), the expert, and in one query whether the care home may book the expert,
    the expert's windows that day and what overlaps the slot. ``permission``: the policy question that
    allows this booking, when it is not the care home's BOOK_APPOINTMENTS for the resident's EHPAD (an
    expert converting a tele-expertise request)."""
    # The key row also says the resident's EHPAD: read once for both. The key is opened before the policy
    # is asked but used only once it allowed: nothing of the dossier is decrypted for a refused request.
    key = await residents.dossier_key_in(uow, keys, request.resident_id)
    ehpad_id = key.ehpad_id
    policy.require(actor, *(permission or (Action.BOOK_APPOINTMENTS, ehpad_id)))
    q = request.qualification
    expert = await uow.store(IdentityStore).get_user(request.expert_id)
    day = request.starts_at.astimezone(PARIS).date()
    context = await uow.store(SchedulingStore).booking_context(
        Bookable(ehpad_id, None, request.expert_id), request.resident_id, day, request.starts_at
    )
    if expert is None or not context.is_bookable:
        raise NoConvention()
    if q.specialty not in expert.specialties:
        raise InvalidInput({"specialty": N_("This expert does not practise this specialty.")})
    check_request(q, request.consent, request.agreement, now.astimezone(PARIS).date())
    slot = offered_slot(context.windows, (), is_french_holiday, expert.id, request.starts_at, q.specialty)
    kinds = {kind for kind, start, end in context.conflicts if start < slot.ends_at and slot.starts_at < end}
    if "leave" in kinds:
        raise OutsideAvailability()
    check_bookable_time(slot, now)
    if "expert" in kinds:
        raise SlotTaken()  # the callers add the next free slots once this transaction is closed
    if "resident" in kinds:
        raise ResidentBusy()
    appointment = Appointment(
        id=uuid.uuid4(),
        expert_id=expert.id,
        ehpad_id=ehpad_id,
        resident_id=request.resident_id,
        specialty=q.specialty,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        status=AppointmentStatus.BOOKED,
        qualification=q,
        consent=request.consent,
        agreement=request.agreement,
        created_by=actor.user.id,
        created_at=now,
        rescheduled_from=rescheduled_from,
    )
    return _Checked(appointment, key, expert)


async def _write(
    uow: UnitOfWork,
    actor: Principal,
    checked: _Checked,
    now: datetime,
    idempotency_key: str | None,
    client_address: str | None,
) -> Booked:
    """The writes of a checked booking, in the caller's transaction: the insert (with its overlap
    re-check), the resident's activity, the audit event, the expert's notification. Raises _Overlapped
    when the insert found an overlap."""
    appointment = checked.appointment
    store = uow.store(SchedulingStore)
    if not await store.add_if_free(appointment, checked.key, idempotency_key, now):
        raise _Overlapped()
    await residents.record_activity_in(uow, appointment.resident_id, now)
    await audit(
        uow, now, "appointment.book", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, appointment.id
    )
    kind = NotificationKind.RESCHEDULED if appointment.rescheduled_from else NotificationKind.BOOKED
    await notify(uow, appointment, kind, actor.user, now, expert=checked.expert)
    return Booked(appointment, created=True)


async def _book(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request: BookingRequest,
    now: datetime,
    client_address: str | None,
    rescheduled_from: UUID | None = None,
    permission: tuple[Action, object] | None = None,
) -> Booked:
    """Check and write a booking inside the caller's open transaction (reschedule, tele-expertise)."""
    checked = await _check(uow, keys, actor, request, now, rescheduled_from, permission)
    try:
        return await _write(uow, actor, checked, now, None, client_address)
    except _Overlapped as exc:
        raise SlotTaken() from exc


async def book_for_expertise(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request: BookingRequest,
    permission: tuple[Action, object],
    now: datetime,
    client_address: str | None = None,
) -> Appointment:
    """For tele-expertise: the expert who took a request on books one of their own free slots for its
    resident, inside the caller's open unit of work (so the conversion and the booking commit together).
    ``permission`` is the policy question that allows it (the expert's right to answer that request); every
    booking rule applies as for the care home. Raises as ``book`` does; the database's IntegrityError on a
    lost race is left to the caller, whose transaction it ends."""
    booked = await _book(uow, keys, actor, request, now, client_address, permission=permission)
    return booked.appointment


async def expert_slots_in(
    uow: UnitOfWork, ehpad_id: UUID, expert_id: UUID, specialty: Specialty, now: datetime, limit: int
) -> list[SlotOffer]:
    """One expert's next free slots for this care home and specialty, inside the caller's open unit of work,
    once the policy has allowed the caller's use case (no health data: nothing to audit)."""
    start = now + MIN_LEAD_TIME
    return await _free_slots(uow, ehpad_id, specialty, start, start + SEARCH_HORIZON, limit, expert_id)


async def _load(uow: UnitOfWork, keys: SealingKeys, appointment_id: UUID) -> Appointment:
    store = uow.store(SchedulingStore)
    header = await store.header(appointment_id)
    if header is None:
        raise NotFound()
    key = await residents.dossier_key_in(uow, keys, header.resident_id)
    appointment = await store.get(appointment_id, {header.resident_id: key})
    if appointment is None:
        raise NotFound()
    return appointment


async def _ref(uow: UnitOfWork, appointment_id: UUID) -> tuple[AppointmentRef, int]:
    header = await uow.store(SchedulingStore).header(appointment_id)
    if header is None:
        raise NotFound()
    expert = await uow.store(IdentityStore).get_user(header.expert_id)
    if expert is None:
        raise NotFound()
    return AppointmentRef(header.ehpad_id, header.expert_id, expert.establishment_id), header.version


@dataclass(frozen=True, slots=True)
class AppointmentTimes:
    """What another package's use case may know of an appointment: the policy's ref, status and times
    (plaintext columns only: no health data, nothing to audit)."""

    ref: AppointmentRef
    status: AppointmentStatus
    starts_at: datetime
    ends_at: datetime


async def appointment_times(uow: UnitOfWork, appointment_id: UUID) -> AppointmentTimes:
    """Inside the caller's open unit of work, which asks the policy with ``ref`` before using the rest.
    Raises NotFound for an unknown appointment."""
    ref, _version = await _ref(uow, appointment_id)
    header = await uow.store(SchedulingStore).header(appointment_id)
    if header is None:  # deleted in between (its resident's dossier shredded)
        raise NotFound()
    return AppointmentTimes(ref, AppointmentStatus(header.status), header.starts_at, header.ends_at)


# -------------------------------------------------------------------------------------- changing it


def _side(actor: Principal) -> CancelledBy:
    return CancelledBy.CARE_HOME if actor.role in CARE_HOME_ROLES else CancelledBy.HOSPITAL


async def _save(
    uow: UnitOfWork, keys: SealingKeys, changed: Appointment, expected_version: int, now: datetime
) -> None:
    key = await residents.dossier_key_in(uow, keys, changed.resident_id)
    if not await uow.store(SchedulingStore).save_status(changed, expected_version, key, now):
        raise StaleAppointment()


async def _change(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    action: Action,
    change: Callable[[Appointment], Appointment],
    event: str,
    kind: NotificationKind,
    now: datetime,
    client_address: str | None,
    expected_version: int | None = None,
) -> Appointment:
    """One status change of an appointment: policy, optimistic version check, save, audit event and the
    other side's notification, in one transaction."""
    async with uow:
        ref, version = await _ref(uow, appointment_id)
        policy.require(actor, action, ref)
        if expected_version is not None and expected_version != version:
            raise StaleAppointment()
        current = await _load(uow, keys, appointment_id)
        changed = change(current)
        await _save(uow, keys, changed, current.version, now)
        await audit(uow, now, event, Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, appointment_id)
        await notify(uow, changed, kind, actor.user, now)
        await uow.commit()
    return changed


async def cancel(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    reason: str,
    now: datetime,
    *,
    expected_version: int | None = None,
    client_address: str | None = None,
) -> Appointment:
    """Either side cancels, saying why; the slot is free again at once."""
    cancellation = Cancellation(_side(actor), actor.user.id, now, reason.strip())
    return await _change(
        uow,
        keys,
        actor,
        appointment_id,
        Action.CANCEL_APPOINTMENT,
        lambda current: cancelled(current, cancellation),
        "appointment.cancel",
        NotificationKind.CANCELLED,
        now,
        client_address,
        expected_version,
    )


async def mark_no_show(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> Appointment:
    """Either side marks a started appointment as missed."""
    return await _change(
        uow,
        keys,
        actor,
        appointment_id,
        Action.MARK_NO_SHOW,
        lambda current: marked_no_show(current, now),
        "appointment.no_show",
        NotificationKind.NO_SHOW,
        now,
        client_address,
    )


async def reschedule(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    expert_id: UUID,
    starts_at: datetime,
    now: datetime,
    *,
    client_address: str | None = None,
) -> Appointment:
    """Move an appointment to another slot, atomically: in one transaction the new slot is booked (with the
    same qualification, consent and agreement) and the old one cancelled; if the new slot is taken, nothing
    changes and the old appointment stands. When the two overlap (moved by less than its length, same
    expert) the old one is released first inside that transaction, which is just as atomic."""
    specialty: Specialty | None = None
    try:
        async with uow:
            ref, _version = await _ref(uow, appointment_id)
            policy.require(actor, Action.PREPARE_APPOINTMENT, ref)
            old = await _load(uow, keys, appointment_id)
            specialty = old.specialty
            if not old.is_open:
                raise NotBookable()
            request = BookingRequest(
                old.resident_id, expert_id, starts_at, old.qualification, old.consent, old.agreement
            )
            released = cancelled(
                old, Cancellation(_side(actor), actor.user.id, now, "Reporté (nouveau rendez-vous pris)")
            )
            overlaps = starts_at < old.ends_at and old.starts_at < starts_at + (old.ends_at - old.starts_at)
            if overlaps:
                await _save(uow, keys, released, old.version, now)
            booked = await _book(uow, keys, actor, request, now, client_address, rescheduled_from=old.id)
            if not overlaps:
                await _save(uow, keys, released, old.version, now)
            await audit(
                uow,
                now,
                "appointment.reschedule",
                Outcome.SUCCESS,
                actor.user,
                client_address,
                OBJECT_TYPE,
                old.id,
            )
            await uow.commit()
            return booked.appointment
    except (SlotTaken, IntegrityError) as exc:
        raise SlotTaken(
            await find_slots(uow, actor, specialty, now, after=starts_at, limit=ALTERNATIVES)
        ) from exc


async def set_checklist_item(
    uow: UnitOfWork,
    actor: Principal,
    appointment_id: UUID,
    item: ChecklistItem,
    done: bool,
    now: datetime,
    client_address: str | None = None,
) -> None:
    async with uow:
        ref, _version = await _ref(uow, appointment_id)
        policy.require(actor, Action.PREPARE_APPOINTMENT, ref)
        header = await uow.store(SchedulingStore).header(appointment_id)
        if header is None or header.status != AppointmentStatus.BOOKED.value:
            raise NotBookable()
        store = uow.store(SchedulingStore)
        await store.set_checklist_item(appointment_id, item, done, actor.user.id, now)
        await store.touch(appointment_id, now)
        await audit(
            uow,
            now,
            "appointment.prepare",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            appointment_id,
        )
        await uow.commit()


async def save_checklist(
    uow: UnitOfWork,
    actor: Principal,
    appointment_id: UUID,
    done: frozenset[ChecklistItem],
    now: datetime,
    client_address: str | None = None,
) -> None:
    """The care home's whole checklist at once (the preparation page's form): ticked items are done."""
    async with uow:
        ref, _version = await _ref(uow, appointment_id)
        policy.require(actor, Action.PREPARE_APPOINTMENT, ref)
        store = uow.store(SchedulingStore)
        header = await store.header(appointment_id)
        if header is None or header.status != AppointmentStatus.BOOKED.value:
            raise NotBookable()
        for item in ChecklistItem:
            await store.set_checklist_item(
                appointment_id, item, item in done, actor.user.id, now, keep_date=True
            )
        await store.touch(appointment_id, now)
        await audit(
            uow,
            now,
            "appointment.prepare",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            appointment_id,
        )
        await uow.commit()


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class AppointmentView:
    """An appointment with what each side's screens show beside it."""

    appointment: Appointment
    resident: Resident | None  # None when its dossier is unreadable (shredded)
    expert: User | None
    ehpad_name: str


async def _views(
    uow: UnitOfWork, keys: SealingKeys, where: object, known: Sequence[User] = ()
) -> list[AppointmentView]:
    """The appointments matching ``where`` with their residents, experts and care homes' names, in a fixed
    number of queries whatever their number: rows and checklists, dossier keys, residents, the experts not
    ``known`` already, the care homes' names."""
    store = uow.store(SchedulingStore)
    sealed = await store.sealed_where(where)
    if not sealed:
        return []
    resident_ids = sorted({one.resident_id for one in sealed})
    found = store.opened(sealed, await residents.dossier_keys_in(uow, keys, resident_ids))
    people = await residents.residents_in(uow, keys, resident_ids)
    identity = uow.store(IdentityStore)
    experts = {user.id: user for user in known}
    missing = sorted({a.expert_id for a in found} - experts.keys())
    experts.update((user.id, user) for user in await identity.get_users(missing))
    names = await identity.establishment_names(sorted({a.ehpad_id for a in found}))
    return [
        AppointmentView(a, people.get(a.resident_id), experts.get(a.expert_id), names.get(a.ehpad_id, ""))
        for a in found
    ]


async def view_appointment(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    appointment_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> AppointmentView:
    async with uow:
        ref, _version = await _ref(uow, appointment_id)
        policy.require(actor, Action.VIEW_APPOINTMENT, ref)
        views = await _views(uow, keys, appointments.c.id == appointment_id)
        await audit(
            uow,
            now,
            "appointment.read",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            appointment_id,
        )
        await uow.commit()
    return views[0]


async def care_home_appointments(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    now: datetime,
    *,
    days: int = 30,
    client_address: str | None = None,
) -> list[AppointmentView]:
    """The care home's appointments from the start of today (Paris) for ``days`` days, cancelled ones too
    (so that the nurse sees that a cancellation happened)."""
    ehpad_id = actor.user.establishment_id
    policy.require(actor, Action.BOOK_APPOINTMENTS, ehpad_id)
    today = datetime.combine(now.astimezone(PARIS).date(), time(), tzinfo=PARIS)
    where = (
        (appointments.c.ehpad_id == ehpad_id)
        & (appointments.c.starts_at >= today)
        & (appointments.c.starts_at < today + timedelta(days=days))
    )
    async with uow:
        views = await _views(uow, keys, where)
        await audit(
            uow,
            now,
            "appointment.list",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            "establishment",
            ehpad_id,
        )
        await uow.commit()
    return views


async def expert_agenda(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    expert_id: UUID,
    start: date,
    days: int,
    now: datetime,
    client_address: str | None = None,
) -> list[AppointmentView]:
    """An expert's appointments from ``start`` (a Paris date) for ``days`` days."""
    async with uow:
        expert = await _expert(uow, expert_id)
        policy.require(actor, Action.VIEW_AGENDA, expert)
        first = datetime.combine(start, time(), tzinfo=PARIS)
        last = datetime.combine(start + timedelta(days=days), time(), tzinfo=PARIS)
        where = (
            (appointments.c.expert_id == expert_id)
            & (appointments.c.starts_at >= first)
            & (appointments.c.starts_at < last)
        )
        views = await _views(uow, keys, where, known=[expert])
        await audit(uow, now, "agenda.read", Outcome.SUCCESS, actor.user, client_address, "expert", expert_id)
        await uow.commit()
    return views


async def appointment_dossier_key(uow: UnitOfWork, keys: SealingKeys, appointment_id: UUID) -> DossierKey:
    """Inside the caller's open unit of work, after it asked the policy with :func:`appointment_times`'s
    ref: the dossier key of the appointment's resident, for another package that seals data about the
    appointment (signalling's invitations). Raises NotFound for an unknown appointment."""
    header = await uow.store(SchedulingStore).header(appointment_id)
    if header is None:
        raise NotFound()
    return await residents.dossier_key_in(uow, keys, header.resident_id)


# ------------------------------------------------------------------------------ for other packages


async def appointment_in(uow: UnitOfWork, keys: SealingKeys, appointment_id: UUID) -> AppointmentView:
    """One appointment with its resident and expert, in the caller's open unit of work, for another
    package's use case that has asked the policy about it (via :func:`appointment_times`) and audits."""
    views = await _views(uow, keys, appointments.c.id == appointment_id)
    if not views:
        raise NotFound()
    return views[0]


async def mark_held_in(uow: UnitOfWork, keys: SealingKeys, appointment_id: UUID, now: datetime) -> None:
    """The consultation took place (its report was finalised): a booked or missed appointment becomes held,
    in the caller's transaction. A cancelled one stays cancelled; a held one is left as it is."""
    current = await _load(uow, keys, appointment_id)
    if current.status in (AppointmentStatus.BOOKED, AppointmentStatus.NO_SHOW):
        held = replace(current, status=AppointmentStatus.DONE, version=current.version + 1)
        await _save(uow, keys, held, current.version, now)


async def resident_appointments_in(
    uow: UnitOfWork, keys: SealingKeys, resident_id: UUID
) -> list[AppointmentView]:
    """The resident's appointments, in the caller's open unit of work, for another package's use case that
    has asked the policy about the resident (the resident's timeline) and audits its read."""
    return await _views(uow, keys, appointments.c.resident_id == resident_id)

"""The demo's past: twelve months of teleconsultations and tele-expertise requests, so that the coordinators'
activity page means something at first launch.

About 35 teleconsultations a month across the demo care homes (DOMAIN.md: 30-40 a month for one hospital and
25 care homes), booked a few days to a few weeks ahead, mostly held, some cancelled and some missed; about 15
tele-expertise requests a month, mostly answered; a technical incident in the call journal of a few percent
of the consultations held. The appointments are spread over the experts and their afternoon slots (14:00,
14:45, 15:30, 16:15, Paris time) so that no expert and no resident is booked twice at one time: the
database's constraints hold for this history as for live bookings.

Appointments and requests are written through their packages' stores (``SchedulingStore.add_many``,
``ExpertiseStore.add``), sealed under each resident's dossier key exactly as live ones; the call journal
has no sealed column. The finalised reports of the past consultations are seeded by records.reports.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from records.residents import service as residents_service
from records.residents.fields import SealingKeys
from records.residents.store import residents
from records.sealing import DossierKey
from scheduling.expertise.model import (
    Answer,
    AnswerOutcome,
    Claim,
    ExpertiseRequest,
    ExpertiseStatus,
    ExpertiseUrgency,
    Level,
    Withdrawal,
)
from scheduling.expertise.store import ExpertiseStore
from scheduling.model import (
    PARIS,
    Appointment,
    AppointmentStatus,
    Attendee,
    Cancellation,
    CancelledBy,
    Consent,
    ConsentGiver,
    ConsentMethod,
    PhysicianAgreement,
    Qualification,
    Reason,
    Urgency,
)
from scheduling.service import is_french_holiday
from scheduling.store import SchedulingStore, appointments
from signalling.journal import (
    CallEvent,
    EndReason,
    LeaveReason,
    Quality,
    end_event,
    ice_event,
    join_event,
    leave_event,
    quality_event,
)
from signalling.store import SignallingStore
from teleconsult.db import UnitOfWork
from teleconsult.identity.model import Establishment, EstablishmentKind, Role, Specialty, User
from teleconsult.identity.store import IdentityStore

SEED = 20261201
MONTHS = 12
CONSULTATIONS_PER_MONTH = (30, 40)
EXPERTISE_PER_MONTH = (12, 18)
INCIDENT_SHARE = 0.04
SLOTS = (time(14, 0), time(14, 45), time(15, 30), time(16, 15))

_DETAILS = {
    Reason.TROUBLES_COMPORTEMENT: "Agitation en fin de journée, refus de soins.",
    Reason.PLAIE: "Plaie du talon qui ne cicatrise pas.",
    Reason.DENUTRITION: "Perte de poids depuis deux mois.",
    Reason.MEDICAMENTS: "Somnolence depuis un changement de traitement.",
    Reason.CHUTES: "Chutes nocturnes répétées.",
    Reason.AVIS_GERIATRIQUE: "Déclin de l'autonomie, avis sur la prise en charge.",
}
_CANCEL_REASONS = ("Résident hospitalisé entre-temps.", "Indisponibilité du médecin.", "Famille absente.")


@dataclass(frozen=True, slots=True)
class Visit:
    """One past teleconsultation to write: who, where, when, and how it ended."""

    expert_id: uuid.UUID
    ehpad_id: uuid.UUID
    resident_id: uuid.UUID
    specialty: Specialty
    starts_at: datetime
    created_at: datetime
    status: AppointmentStatus
    booked_by: uuid.UUID


def past_appointment(
    visit: Visit, reason: Reason = Reason.AVIS_GERIATRIQUE, cancel_reason: str = ""
) -> Appointment:
    """The appointment of a past visit, as the scheduling store keeps one (cancelled ones say by whom)."""
    cancellation = (
        Cancellation(
            CancelledBy.CARE_HOME, visit.booked_by, visit.starts_at - timedelta(days=1), cancel_reason
        )
        if visit.status is AppointmentStatus.CANCELLED
        else None
    )
    return Appointment(
        id=uuid.uuid4(),
        expert_id=visit.expert_id,
        ehpad_id=visit.ehpad_id,
        resident_id=visit.resident_id,
        specialty=visit.specialty,
        starts_at=visit.starts_at,
        ends_at=visit.starts_at + timedelta(minutes=45),
        status=visit.status,
        qualification=Qualification(
            visit.specialty, reason, _DETAILS.get(reason, ""), Urgency.PROGRAMMEE, frozenset({Attendee.IDEC})
        ),
        consent=Consent(
            ConsentGiver.RESIDENT, visit.created_at.astimezone(PARIS).date(), ConsentMethod.ORAL, ""
        ),
        agreement=PhysicianAgreement(True),
        created_by=visit.booked_by,
        created_at=visit.created_at,
        cancellation=cancellation,
    )


def past_request(
    ehpad_id: uuid.UUID,
    resident_id: uuid.UUID,
    specialty: Specialty,
    requested_at: datetime,
    requested_by: uuid.UUID,
    expert_id: uuid.UUID,
    status: ExpertiseStatus,
    outcome: AnswerOutcome = AnswerOutcome.AVIS_CONSEILS,
) -> ExpertiseRequest:
    """A past tele-expertise request, answered (by ``expert_id``, two days later) or withdrawn."""
    claim = answer = withdrawal = None
    if status is ExpertiseStatus.ANSWERED:
        claim = Claim(expert_id, requested_at + timedelta(hours=4), requested_at + timedelta(days=3))
        answer = Answer(
            outcome,
            "Avis rendu : conduite à tenir transmise à l'équipe.",
            expert_id,
            requested_at + timedelta(days=2),
        )
    elif status is ExpertiseStatus.WITHDRAWN:
        withdrawal = Withdrawal(requested_by, requested_at + timedelta(days=1))
    return ExpertiseRequest(
        id=uuid.uuid4(),
        ehpad_id=ehpad_id,
        resident_id=resident_id,
        specialty=specialty,
        level=Level.ONE,
        urgency=ExpertiseUrgency.NON_URGENT,
        reason=Reason.PLAIE if specialty is Specialty.PLAIES else Reason.AVIS_GERIATRIQUE,
        wished_deadline=requested_at + timedelta(days=5),
        question="Conduite à tenir ?",
        context="Photos jointes au dossier.",
        consent=Consent(ConsentGiver.RESIDENT, requested_at.astimezone(PARIS).date(), ConsentMethod.ORAL, ""),
        agreement=PhysicianAgreement(True),
        requested_by=requested_by,
        requester_role=Role.IDEC,
        requested_at=requested_at,
        status=status,
        claim=claim,
        answer=answer,
        withdrawal=withdrawal,
    )


async def write_history(
    new_uow: Callable[[], UnitOfWork],
    keys: SealingKeys,
    visits: Sequence[Appointment],
    requests: Sequence[ExpertiseRequest],
    incidents: Sequence[uuid.UUID],
    now: datetime,
) -> None:
    """Write appointments and requests sealed under their residents' keys, and the call journal of each
    held consultation (a lost connection and a return in those of ``incidents``), in one transaction."""
    async with new_uow() as uow:
        resident_ids = sorted({a.resident_id for a in visits} | {r.resident_id for r in requests})
        dossier: dict[uuid.UUID, DossierKey] = await residents_service.dossier_keys_in(
            uow, keys, resident_ids
        )
        await uow.store(SchedulingStore).add_many([(a, dossier[a.resident_id]) for a in visits], now)
        expertise = uow.store(ExpertiseStore)
        for request in requests:
            # Added as sent, then moved to its final state, as the tele-expertise service does.
            key = dossier[request.resident_id]
            sent = replace(
                request, status=ExpertiseStatus.SUBMITTED, claim=None, answer=None, withdrawal=None
            )
            await expertise.add(replace(sent, version=1), key, now)
            if request.status is not ExpertiseStatus.SUBMITTED:
                await expertise.save(replace(request, version=2), ExpertiseStatus.SUBMITTED, 1, key, now)
        rng = random.Random(SEED + 1)  # noqa: S311 - fictitious activity, not secrets
        chosen = set(incidents)
        journal = [
            event
            for a in visits
            if a.status is AppointmentStatus.DONE
            for event in demo_journal(rng, a.id, a.expert_id, a.created_by, a.starts_at, a.id in chosen)
        ]
        await uow.store(SignallingStore).add_events(journal)
        await uow.commit()


def demo_journal(
    rng: random.Random,
    appointment_id: uuid.UUID,
    expert_id: uuid.UUID,
    nurse_id: uuid.UUID,
    starts_at: datetime,
    incident: bool,
) -> list[CallEvent]:
    """What the call pages and the server write during a 15 to 30 minute call (signalling.journal): the
    nurse joins first, the expert at the start, both networks connect, a quality summary every five minutes
    (the pages send one every 30 s; fewer keep the demo light), and, with ``incident``, the tablet's Wi-Fi
    drops once and the nurse comes back."""
    at = starts_at - timedelta(seconds=rng.randint(60, 240))
    events = [join_event(appointment_id, nurse_id, False, at)]
    at = starts_at + timedelta(seconds=rng.randint(0, 90))
    events.append(join_event(appointment_id, expert_id, False, at))

    def connect(moment: datetime) -> None:
        for who in (nurse_id, expert_id):
            events.append(ice_event(appointment_id, who, "checking", moment))
            events.append(ice_event(appointment_id, who, "connected", moment + timedelta(seconds=1)))

    connect(at + timedelta(seconds=1))
    minutes = rng.randint(15, 30)
    drop_at = rng.randint(4, minutes - 4) if incident else -1
    for minute in range(0, minutes, 5):
        dropping = minute <= drop_at < minute + 5  # the summary before the drop says the network was poor
        for who in (nurse_id, expert_id) if minute else ():
            quality = Quality(
                rng.randint(250, 500) if dropping else rng.randint(600, 1400),
                round(rng.uniform(6, 14) if dropping else rng.uniform(0, 2), 2),
                rng.randint(150, 400) if dropping else rng.randint(20, 90),
            )
            events.append(quality_event(appointment_id, who, quality, at + timedelta(minutes=minute)))
        if dropping:
            lost = at + timedelta(minutes=drop_at)
            events.append(leave_event(appointment_id, nurse_id, LeaveReason.DROPPED, lost))
            back = lost + timedelta(seconds=rng.randint(8, 40))
            events.append(join_event(appointment_id, nurse_id, True, back))
            connect(back + timedelta(seconds=1))
    end = at + timedelta(minutes=minutes)
    events.append(leave_event(appointment_id, expert_id, LeaveReason.NORMAL, end))
    events.append(leave_event(appointment_id, nurse_id, LeaveReason.NORMAL, end + timedelta(seconds=3)))
    events.append(end_event(appointment_id, EndReason.NORMAL, end + timedelta(seconds=3)))
    return sorted(events, key=lambda event: event.at)


def _working_days(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        if day.weekday() < 5 and not is_french_holiday(day):
            days.append(day)
        day += timedelta(days=1)
    return days


async def seed_demo_history(
    new_uow: Callable[[], UnitOfWork], keys: SealingKeys, now: datetime, months: int = MONTHS
) -> int:
    """Write ``months`` months of past activity for the demo territory, unless some appointment before
    ``now`` exists already (then nothing). Returns how many appointments were written."""
    async with new_uow().reading() as uow:
        if await uow.session.scalar(select(appointments.c.id).where(appointments.c.starts_at < now).limit(1)):
            return 0
        identity = uow.store(IdentityStore)
        hospitals = await identity.list_establishments(EstablishmentKind.HOSPITAL)
        experts = [u for h in hospitals for u in await identity.list_users(h.id) if u.role is Role.EXPERT]
        homes = await identity.list_establishments(EstablishmentKind.EHPAD)
        reached = {(c.ehpad_id, c.department_id) for c in await identity.list_conventions() if c.is_active}
        nurses: dict[uuid.UUID, User] = {}
        for home in homes:
            found = [u for u in await identity.list_users(home.id) if u.role is Role.IDEC]
            if found:
                nurses[home.id] = found[0]
        # Plaintext ids only (the residents' sealed fields are not read).
        rows = (await uow.session.execute(select(residents.c.id, residents.c.ehpad_id))).all()
    people: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in rows:
        people.setdefault(row.ehpad_id, []).append(row.id)
    homes = [home for home in homes if people.get(home.id) and home.id in nurses]
    if not homes or not experts:
        return 0
    rng = random.Random(SEED)  # noqa: S311 - fictitious activity, not secrets
    today = now.astimezone(PARIS).date()
    first_month = date(today.year, today.month, 1)
    for _ in range(months):
        first_month = (first_month - timedelta(days=1)).replace(day=1)
    visits: list[Appointment] = []
    requests: list[ExpertiseRequest] = []
    taken: set[tuple[uuid.UUID, datetime]] = set()
    month = first_month
    while month < date(today.year, today.month, 1) or month <= today:
        following = (month + timedelta(days=32)).replace(day=1)
        days = [d for d in _working_days(month, following - timedelta(days=1)) if d < today]
        if not days:
            break
        for _ in range(rng.randint(*CONSULTATIONS_PER_MONTH)):
            visit = _draw_visit(rng, days, homes, experts, reached, people, nurses, taken)
            if visit is not None:
                visits.append(_appointment_of(rng, visit))
        for _ in range(rng.randint(*EXPERTISE_PER_MONTH)):
            requests.append(_draw_request(rng, days, homes, experts, reached, people, nurses))
        month = following
    held = [a.id for a in visits if a.status is AppointmentStatus.DONE]
    incidents = [appointment_id for appointment_id in held if rng.random() < INCIDENT_SHARE]
    await write_history(new_uow, keys, visits, requests, incidents, now)
    return len(visits)


def _expert_for(
    rng: random.Random,
    ehpad_id: uuid.UUID,
    experts: Sequence[User],
    reached: set[tuple[uuid.UUID, uuid.UUID]],
) -> tuple[User, Specialty] | None:
    allowed = [e for e in experts if e.department_id is not None and (ehpad_id, e.department_id) in reached]
    if not allowed:
        return None
    expert = rng.choice(allowed)
    return expert, rng.choice(sorted(expert.specialties))


def _draw_visit(
    rng: random.Random,
    days: Sequence[date],
    homes: Sequence[Establishment],
    experts: Sequence[User],
    reached: set[tuple[uuid.UUID, uuid.UUID]],
    people: dict[uuid.UUID, list[uuid.UUID]],
    nurses: dict[uuid.UUID, User],
    taken: set[tuple[uuid.UUID, datetime]],
) -> Visit | None:
    for _attempt in range(20):
        home = rng.choice(homes)
        ehpad_id = home.id
        chosen = _expert_for(rng, ehpad_id, experts, reached)
        if chosen is None:
            continue
        expert, specialty = chosen
        day = rng.choice(days)
        start = datetime.combine(day, rng.choice(SLOTS), tzinfo=PARIS).astimezone(UTC)
        resident = rng.choice(people[ehpad_id])
        if (expert.id, start) in taken or (resident, start) in taken:
            continue
        taken.update({(expert.id, start), (resident, start)})
        draw = rng.random()
        status = (
            AppointmentStatus.DONE
            if draw < 0.85
            else AppointmentStatus.CANCELLED
            if draw < 0.94
            else AppointmentStatus.NO_SHOW
        )
        lead = timedelta(days=min(45.0, 2 + rng.expovariate(1 / 9)), hours=rng.randint(0, 6))
        nurse = nurses[ehpad_id]
        return Visit(expert.id, ehpad_id, resident, specialty, start, start - lead, status, nurse.id)
    return None


def _appointment_of(rng: random.Random, visit: Visit) -> Appointment:
    return past_appointment(visit, rng.choice(sorted(_DETAILS)), rng.choice(_CANCEL_REASONS))


def _draw_request(
    rng: random.Random,
    days: Sequence[date],
    homes: Sequence[Establishment],
    experts: Sequence[User],
    reached: set[tuple[uuid.UUID, uuid.UUID]],
    people: dict[uuid.UUID, list[uuid.UUID]],
    nurses: dict[uuid.UUID, User],
) -> ExpertiseRequest:
    while True:
        home = rng.choice(homes)
        ehpad_id = home.id
        chosen = _expert_for(rng, ehpad_id, experts, reached)
        if chosen is not None:
            break
    expert, specialty = chosen
    at = datetime.combine(rng.choice(days), time(rng.randint(8, 18), rng.randint(0, 59)), tzinfo=PARIS)
    nurse = nurses[ehpad_id]
    status = ExpertiseStatus.ANSWERED if rng.random() < 0.85 else ExpertiseStatus.WITHDRAWN
    outcome = rng.choice((AnswerOutcome.AVIS_CONSEILS, AnswerOutcome.MODIFICATION_THERAPEUTIQUE))
    return past_request(
        ehpad_id,
        rng.choice(people[ehpad_id]),
        specialty,
        at.astimezone(UTC),
        nurse.id,
        expert.id,
        status,
        outcome,
    )

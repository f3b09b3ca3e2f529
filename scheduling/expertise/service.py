"""Use cases of tele-expertise: submit, list the care home's requests, the expert's queue, claim, answer,
withdraw, view one, and convert into a teleconsultation.

Each use case asks the access policy (teleconsult.identity.policy: care-home staff of the request's EHPAD;
experts whose specialty it is and whose team the EHPAD's convention reaches; the claiming expert alone to
answer), runs in one transaction, writes its audit event (ids only) in that transaction, and seals the health
fields under the resident's dossier key. Every change the hospital makes also leaves a notification for the
person who asked, shown on the care home's list until they have seen it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError

from records.audit.model import Outcome
from records.residents import service as residents
from records.residents.fields import SealingKeys
from records.residents.model import Resident
from records.sealing import DossierKey
from scheduling import service as scheduling
from scheduling.expertise.model import (
    AlreadyClaimed,
    Answer,
    AnswerOutcome,
    ExpertiseRequest,
    ExpertiseStatus,
    ExpertiseUrgency,
    Level,
    NotificationKind,
    StaleExpertise,
    answered,
    booking_qualification,
    check_convertible,
    check_submission,
    claimed,
    converted,
    withdrawn,
)
from scheduling.expertise.store import ExpertiseStore, expertise_requests
from scheduling.model import PARIS, Appointment, Consent, PhysicianAgreement, Reason, SlotOffer, SlotTaken
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.model import Specialty, User
from teleconsult.identity.policy import Action, ExpertiseRef, Principal
from teleconsult.identity.service.trail import audit
from teleconsult.identity.store import IdentityStore

OBJECT_TYPE = "expertise"
CONVERSION_SLOTS = 8
#: How many of the care home's requests its list shows (newest first), and of an expert's answered ones.
CARE_HOME_LIST_LIMIT = 200
ANSWERED_LIST_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Submission:
    """What the care home sends to a specialty queue."""

    resident_id: UUID
    specialty: Specialty
    level: Level
    urgency: ExpertiseUrgency
    reason: Reason
    wished_deadline: datetime
    question: str
    context: str
    consent: Consent
    agreement: PhysicianAgreement


@dataclass(frozen=True, slots=True)
class ExpertiseView:
    """A request with what the screens of both sides show beside it."""

    request: ExpertiseRequest
    resident: Resident | None  # None when its dossier is unreadable (shredded)
    ehpad_name: str
    requester: User | None
    expert: User | None
    is_late: bool
    #: What happened since the person looking last saw the list (their own requests only).
    news: list[NotificationKind] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Queue:
    """An expert's screen: the open requests addressed to them, the ones they took on, the last answered."""

    waiting: list[ExpertiseView]
    mine: list[ExpertiseView]
    answered: list[ExpertiseView]


# ------------------------------------------------------------------------------------------------ helpers


async def _ref(uow: UnitOfWork, request_id: UUID) -> ExpertiseRef:
    header = await uow.store(ExpertiseStore).header(request_id)
    if header is None:
        raise NotFound()
    conventions = await uow.store(IdentityStore).list_conventions(header.ehpad_id)
    return ExpertiseRef(
        ehpad_id=header.ehpad_id,
        specialty=Specialty(header.specialty),
        claimed_by=header.claimed_by,
        convention_team_ids=frozenset(c.department_id for c in conventions if c.is_active),
    )


async def _load(uow: UnitOfWork, keys: SealingKeys, request_id: UUID) -> tuple[ExpertiseRequest, DossierKey]:
    store = uow.store(ExpertiseStore)
    header = await store.header(request_id)
    if header is None:
        raise NotFound()
    key = await residents.dossier_key_in(uow, keys, header.resident_id)
    found = await store.list_where(expertise_requests.c.id == request_id, {header.resident_id: key})
    if not found:
        raise NotFound()
    return found[0], key


async def _save(
    uow: UnitOfWork,
    changed: ExpertiseRequest,
    current: ExpertiseRequest,
    key: DossierKey,
    now: datetime,
    lost: type[Exception] = StaleExpertise,
) -> None:
    if not await uow.store(ExpertiseStore).save(changed, current.status, current.version, key, now):
        raise lost()


async def _views(
    uow: UnitOfWork,
    keys: SealingKeys,
    where: Any,
    now: datetime,
    *,
    order_by: tuple[Any, ...] = (),
    limit: int = 500,
    news: dict[UUID, list[NotificationKind]] | None = None,
) -> list[ExpertiseView]:
    store = uow.store(ExpertiseStore)
    resident_ids = await store.resident_ids(where)
    dossier = await residents.dossier_keys_in(uow, keys, resident_ids)
    found = await store.list_where(where, dossier, order_by=order_by, limit=limit)
    people = await residents.residents_in(uow, keys, resident_ids)
    identity = uow.store(IdentityStore)
    user_ids = {r.requested_by for r in found} | {r.claim.expert_id for r in found if r.claim}
    users = {user.id: user for user in await identity.get_users(sorted(user_ids))}
    names = {e.id: e.name for e in await identity.list_establishments()}
    return [
        ExpertiseView(
            request=r,
            resident=people.get(r.resident_id),
            ehpad_name=names.get(r.ehpad_id, ""),
            requester=users.get(r.requested_by),
            expert=users.get(r.claim.expert_id) if r.claim else None,
            is_late=r.is_late(now),
            news=(news or {}).get(r.id, []),
        )
        for r in found
    ]


async def _audit(
    uow: UnitOfWork, now: datetime, action: str, actor: Principal, client_address: str | None, object_id: UUID
) -> None:
    await audit(uow, now, action, Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, object_id)


# --------------------------------------------------------------------------------------- the care home


async def specialties_for_expertise(uow: UnitOfWork, actor: Principal) -> list[Specialty]:
    """The specialties the actor's care home can send a request to: those of the experts its conventions
    reach."""
    ehpad_id = actor.user.establishment_id
    policy.require(actor, Action.REQUEST_EXPERTISE, ehpad_id)
    async with uow.reading():
        experts = await uow.store(IdentityStore).experts_under_convention(ehpad_id)
    return sorted({specialty for expert in experts for specialty in expert.specialties})


async def submit(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    submission: Submission,
    now: datetime,
    client_address: str | None = None,
) -> ExpertiseRequest:
    """Care-home staff send a request about a resident of their EHPAD to a specialty's queue, with the
    resident's consent and the treating physician's agreement. Raises NotFound (resident unknown or of
    another care home) and InvalidInput (a rule of the request, or no expert of that specialty reachable)."""
    async with uow:
        ehpad_id = await residents.ehpad_of_in(uow, submission.resident_id)
        if ehpad_id is None:
            raise NotFound()
        policy.require(actor, Action.REQUEST_EXPERTISE, ehpad_id)
        request = ExpertiseRequest(
            id=uuid.uuid4(),
            ehpad_id=ehpad_id,
            resident_id=submission.resident_id,
            specialty=submission.specialty,
            level=submission.level,
            urgency=submission.urgency,
            reason=submission.reason,
            wished_deadline=submission.wished_deadline,
            question=submission.question.strip(),
            context=submission.context.strip(),
            consent=submission.consent,
            agreement=submission.agreement,
            requested_by=actor.user.id,
            requester_role=actor.role,
            requested_at=now,
        )
        check_submission(request, now, now.astimezone(PARIS).date())
        experts = await uow.store(IdentityStore).experts_under_convention(ehpad_id)
        if not any(submission.specialty in expert.specialties for expert in experts):
            raise InvalidInput(
                {
                    "specialty": N_(
                        "No hospital team under convention with your care home offers this specialty."
                    )
                }
            )
        key = await residents.dossier_key_in(uow, keys, submission.resident_id)
        await uow.store(ExpertiseStore).add(request, key, now)
        await _audit(uow, now, "expertise.submit", actor, client_address, request.id)
        await uow.commit()
    return request


async def care_home_requests(
    uow: UnitOfWork, keys: SealingKeys, actor: Principal, now: datetime, client_address: str | None = None
) -> list[ExpertiseView]:
    """The requests of the actor's care home, newest first, with their status, late flag and answer; the
    actor's unseen notifications come with them and count as seen from then on."""
    ehpad_id = actor.user.establishment_id
    policy.require(actor, Action.REQUEST_EXPERTISE, ehpad_id)
    async with uow:
        store = uow.store(ExpertiseStore)
        news = await store.unseen(actor.user.id)
        views = await _views(
            uow,
            keys,
            expertise_requests.c.ehpad_id == ehpad_id,
            now,
            order_by=(expertise_requests.c.requested_at.desc(),),
            limit=CARE_HOME_LIST_LIMIT,
            news=news,
        )
        await store.mark_seen(actor.user.id, now)
        await audit(
            uow, now, "expertise.list", Outcome.SUCCESS, actor.user, client_address, "establishment", ehpad_id
        )
        await uow.commit()
    return views


async def withdraw(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> ExpertiseRequest:
    """Care-home staff of the request's EHPAD take back a request that is still open (claimed or not)."""
    async with uow:
        policy.require(actor, Action.WITHDRAW_EXPERTISE, await _ref(uow, request_id))
        current, key = await _load(uow, keys, request_id)
        changed = withdrawn(current, actor.user.id, now)
        await _save(uow, changed, current, key, now)
        await _audit(uow, now, "expertise.withdraw", actor, client_address, request_id)
        await uow.commit()
    return changed


# ------------------------------------------------------------------------------------------ both sides


async def view(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> ExpertiseView:
    """Care-home staff of the request's EHPAD, the experts whose queue it reaches while nobody has taken it
    on, and the expert who took it on, read it; the read is audited."""
    async with uow:
        policy.require(actor, Action.VIEW_EXPERTISE, await _ref(uow, request_id))
        views = await _views(uow, keys, expertise_requests.c.id == request_id, now)
        await _audit(uow, now, "expertise.read", actor, client_address, request_id)
        await uow.commit()
    return views[0]


async def view_in(
    uow: UnitOfWork, keys: SealingKeys, actor: Principal, request_id: UUID, now: datetime
) -> ExpertiseView:
    """The request as :func:`view` gives it, in the caller's open unit of work, once the policy allowed
    VIEW_EXPERTISE: for another package's use case (the answer's PDF in records.reports) that writes its
    own audit event."""
    policy.require(actor, Action.VIEW_EXPERTISE, await _ref(uow, request_id))
    views = await _views(uow, keys, expertise_requests.c.id == request_id, now)
    if not views:
        raise NotFound()
    return views[0]


# ------------------------------------------------------------------------------------------- the expert


async def queue(
    uow: UnitOfWork, keys: SealingKeys, actor: Principal, now: datetime, client_address: str | None = None
) -> Queue:
    """An expert's queue: the requests nobody has taken on yet in their specialties, from the care homes
    whose convention reaches their team, oldest deadline first (late ones flagged); then the requests they
    took on (nearest accepted deadline first) and the last ones they answered."""
    policy.require(actor, Action.VIEW_EXPERTISE_QUEUE)
    expert = actor.user
    async with uow:
        conventions = await uow.store(IdentityStore).list_conventions()
        ehpads = sorted(
            {c.ehpad_id for c in conventions if c.is_active and c.department_id == expert.department_id}
        )
        c = expertise_requests.c
        waiting = await _views(
            uow,
            keys,
            (c.status == ExpertiseStatus.SUBMITTED.value)
            & c.specialty.in_(sorted(s.value for s in expert.specialties))
            & c.ehpad_id.in_(ehpads),
            now,
            order_by=(c.wished_deadline,),
        )
        mine = await _views(
            uow,
            keys,
            (c.claimed_by == expert.id) & (c.status == ExpertiseStatus.CLAIMED.value),
            now,
            order_by=(c.accepted_deadline,),
        )
        done = await _views(
            uow,
            keys,
            (c.claimed_by == expert.id)
            & c.status.in_([ExpertiseStatus.ANSWERED.value, ExpertiseStatus.CONVERTED.value]),
            now,
            order_by=(c.updated_at.desc(),),
            limit=ANSWERED_LIST_LIMIT,
        )
        await audit(uow, now, "expertise.queue", Outcome.SUCCESS, expert, client_address, "expert", expert.id)
        await uow.commit()
    return Queue(waiting, mine, done)


async def claim(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request_id: UUID,
    deadline: datetime,
    now: datetime,
    client_address: str | None = None,
) -> ExpertiseRequest:
    """An expert the request reaches takes it on, committing to answer by ``deadline``. Atomic: of two
    experts claiming at once exactly one wins; the other gets AlreadyClaimed (409)."""
    async with uow:
        policy.require(actor, Action.CLAIM_EXPERTISE, await _ref(uow, request_id))
        current, key = await _load(uow, keys, request_id)
        changed = claimed(current, actor.user.id, deadline, now)
        await _save(uow, changed, current, key, now, lost=AlreadyClaimed)
        await uow.store(ExpertiseStore).notify(
            request_id, current.requested_by, NotificationKind.CLAIMED, now
        )
        await _audit(uow, now, "expertise.claim", actor, client_address, request_id)
        await uow.commit()
    return changed


async def answer(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request_id: UUID,
    outcome: AnswerOutcome,
    text: str,
    now: datetime,
    client_address: str | None = None,
) -> ExpertiseRequest:
    """The expert who took the request on answers it with a structured outcome and a free text. Raises
    NotClaimed (409) for a request nobody has taken on yet."""
    async with uow:
        policy.require(actor, Action.ANSWER_EXPERTISE, await _ref(uow, request_id))
        current, key = await _load(uow, keys, request_id)
        changed = answered(current, Answer(outcome, text.strip(), actor.user.id, now))
        await _save(uow, changed, current, key, now)
        await uow.store(ExpertiseStore).notify(
            request_id, current.requested_by, NotificationKind.ANSWERED, now
        )
        await _audit(uow, now, "expertise.answer", actor, client_address, request_id)
        await uow.commit()
    return changed


async def conversion_slots(
    uow: UnitOfWork, actor: Principal, request_id: UUID, now: datetime
) -> list[SlotOffer]:
    """The expert's own next free slots a request they took on could become a teleconsultation in."""
    async with uow.reading():
        ref = await _ref(uow, request_id)
        policy.require(actor, Action.ANSWER_EXPERTISE, ref)
        return await scheduling.expert_slots_in(
            uow, ref.ehpad_id, actor.user.id, ref.specialty, now, CONVERSION_SLOTS
        )


@dataclass(frozen=True, slots=True)
class Conversion:
    request: ExpertiseRequest
    appointment: Appointment


async def convert(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    request_id: UUID,
    starts_at: datetime,
    now: datetime,
    client_address: str | None = None,
) -> Conversion:
    """The expert who took the request on books one of their free slots for its resident instead of
    answering in writing. In one transaction: the appointment is booked through scheduling (its details are
    the request's question and context, its consent and physician's agreement those given with the
    request) and the request is marked converted. Raises NotClaimed/NotOpen (409), the booking's errors,
    and SlotTaken with the expert's next free slots when the slot went meanwhile."""
    try:
        async with uow:
            ref = await _ref(uow, request_id)
            policy.require(actor, Action.ANSWER_EXPERTISE, ref)
            current, key = await _load(uow, keys, request_id)
            check_convertible(current)
            booking = scheduling.BookingRequest(
                resident_id=current.resident_id,
                expert_id=actor.user.id,
                starts_at=starts_at,
                qualification=booking_qualification(current),
                consent=current.consent,
                agreement=current.agreement,
            )
            appointment = await scheduling.book_for_expertise(
                uow, keys, actor, booking, (Action.ANSWER_EXPERTISE, ref), now, client_address
            )
            changed = converted(current, appointment.id)
            await _save(uow, changed, current, key, now)
            await uow.store(ExpertiseStore).notify(
                request_id, current.requested_by, NotificationKind.CONVERTED, now
            )
            await _audit(uow, now, "expertise.convert", actor, client_address, request_id)
            await uow.commit()
            return Conversion(changed, appointment)
    except (IntegrityError, SlotTaken) as exc:
        # The slot went meanwhile (seen before the insert, or by the database): offer the expert's next ones.
        raise SlotTaken(await conversion_slots(uow, actor, request_id, now)) from exc


async def resident_requests_in(
    uow: UnitOfWork, keys: SealingKeys, resident_id: UUID
) -> list[ExpertiseRequest]:
    """The resident's tele-expertise requests, in the caller's open unit of work, for another package's use
    case that has asked the policy about the resident (the resident's timeline) and audits its read."""
    key = await residents.dossier_key_in(uow, keys, resident_id)
    return await uow.store(ExpertiseStore).list_where(
        expertise_requests.c.resident_id == resident_id, {resident_id: key}
    )

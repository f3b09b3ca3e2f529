"""The demo's schedule: every demo expert's weekly afternoons, and a few bookings so that the nurse's and
the geriatrician's pages mean something at first launch. Written through the scheduling service, as their
users would (windows by the hospital's secretariat, bookings by each care home's coordinating nurse), so
that everything is sealed and audited like real data."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, time
from uuid import UUID

from records.residents import service as residents_service
from records.residents.fields import SealingKeys
from scheduling import service
from scheduling.model import (
    PARIS,
    Attendee,
    ChecklistItem,
    Consent,
    ConsentGiver,
    ConsentMethod,
    PhysicianAgreement,
    Qualification,
    Reason,
    SlotOffer,
    Urgency,
)
from scheduling.store import availability_windows
from teleconsult.db import UnitOfWork
from teleconsult.demo import DEMO_EHPAD_NAMES
from teleconsult.errors import DomainError
from teleconsult.identity.model import EstablishmentKind, Role, User
from teleconsult.identity.policy import Principal
from teleconsult.identity.store import IdentityStore

SEED = 20261123
#: Bookings made for the first demo care home (the demo nurse's), then for a few others.
FIRST_HOME_BOOKINGS = 6
OTHER_HOME_BOOKINGS = 2
OTHER_HOMES = 6

_DETAILS = {
    Reason.TROUBLES_COMPORTEMENT: "Agitation en fin de journée depuis dix jours, refus de soins.",
    Reason.PLAIE: "Escarre talon droit stade 2, évolution défavorable malgré les pansements.",
    Reason.DENUTRITION: "Perte de 4 kg en deux mois, albumine basse.",
    Reason.MEDICAMENTS: "Douze médicaments, somnolence depuis l'ajout d'un antalgique.",
    Reason.CHUTES: "Trois chutes nocturnes ce mois-ci, sans fracture.",
    Reason.AVIS_GERIATRIQUE: "Déclin rapide de l'autonomie, avis sur la suite de la prise en charge.",
}


async def seed_demo_schedule(new_uow: Callable[[], UnitOfWork], keys: SealingKeys, now: datetime) -> int:
    """Publish the demo experts' windows and book a few teleconsultations, unless some availability
    exists already (then nothing: the demo keeps what its users did). Returns how many were booked."""
    async with new_uow().reading() as uow:
        if await uow.session.scalar(availability_windows.select().limit(1)) is not None:
            return 0
        identity = uow.store(IdentityStore)
        hospitals = await identity.list_establishments(EstablishmentKind.HOSPITAL)
        staff = [user for hospital in hospitals for user in await identity.list_users(hospital.id)]
    secretariats = {u.establishment_id: u for u in staff if u.role is Role.SECRETARIAT}
    for expert in (u for u in staff if u.role is Role.EXPERT):
        author = secretariats.get(expert.establishment_id, expert)
        await _publish(new_uow, Principal(author, True), expert, now)
    return await _book_some(new_uow, keys, now)


async def _publish(new_uow: Callable[[], UnitOfWork], author: Principal, expert: User, now: datetime) -> None:
    """Monday to Friday afternoons for the first specialty; a second specialty gets Thursday mornings."""
    today = now.astimezone(PARIS).date()
    specialties = sorted(expert.specialties)
    plans = [(specialties[0], frozenset(range(5)), time(14, 0), time(17, 30))]
    if len(specialties) > 1:
        plans.append((specialties[1], frozenset({3}), time(9, 0), time(11, 15)))
    for specialty, weekdays, start, end in plans:
        await service.publish_window(
            new_uow(), author, expert.id, specialty, weekdays, start, end, today, None, 30, 15, now
        )


async def _book_some(new_uow: Callable[[], UnitOfWork], keys: SealingKeys, now: datetime) -> int:
    rng = random.Random(SEED)  # noqa: S311 - fictitious bookings, not secrets
    async with new_uow().reading() as uow:
        identity = uow.store(IdentityStore)
        homes = {e.name: e for e in await identity.list_establishments(EstablishmentKind.EHPAD)}
    booked = 0
    for index, name in enumerate(DEMO_EHPAD_NAMES[: 1 + OTHER_HOMES]):
        home = homes.get(name)
        if home is None:
            continue
        async with new_uow().reading() as uow:
            nurses = [u for u in await uow.store(IdentityStore).list_users(home.id) if u.role is Role.IDEC]
        if not nurses:
            continue
        nurse = Principal(nurses[0], True)
        residents = await residents_service.search_residents(new_uow(), keys, nurse, None, now)
        wanted = FIRST_HOME_BOOKINGS if index == 0 else OTHER_HOME_BOOKINGS
        offers = await service.find_slots(new_uow(), nurse, None, now, limit=40)
        rng.shuffle(offers)
        for resident, offer in zip(rng.sample(residents, min(wanted, len(residents))), offers, strict=False):
            booked += await _book_one(new_uow, keys, nurse, resident.id, offer, rng, now)
    return booked


async def _book_one(
    new_uow: Callable[[], UnitOfWork],
    keys: SealingKeys,
    nurse: Principal,
    resident_id: UUID,
    offer: SlotOffer,
    rng: random.Random,
    now: datetime,
) -> int:
    reason = rng.choice(sorted(_DETAILS))
    family = rng.random() < 0.5
    request = service.BookingRequest(
        resident_id=resident_id,
        expert_id=offer.expert.id,
        starts_at=offer.slot.starts_at,
        qualification=Qualification(
            specialty=offer.slot.specialty,
            reason=reason,
            details=_DETAILS[reason],
            urgency=Urgency.SEMI_URGENTE if rng.random() < 0.25 else Urgency.PROGRAMMEE,
            attendees=frozenset({Attendee.IDEC, *([Attendee.FAMILY] if family else [])}),
            record_call=rng.random() < 0.5,
        ),
        consent=Consent(
            ConsentGiver.FAMILY if family else ConsentGiver.RESIDENT,
            now.astimezone(PARIS).date(),
            ConsentMethod.ORAL,
            "Famille Exemple (fille)" if family else "",
        ),
        agreement=PhysicianAgreement(True),
    )
    try:
        booked = await service.book(new_uow(), keys, nurse, request, now)
    except DomainError:
        return 0  # two demo homes drew the same slot: the second simply does without
    done = frozenset(rng.sample(list(ChecklistItem), rng.randint(0, len(ChecklistItem))))
    if done:
        await service.save_checklist(new_uow(), nurse, booked.appointment.id, done, now)
    return 1

"""Use cases of the residents registry: create, view, edit, list and search one EHPAD's residents.

Each one asks the access policy (care-home staff of the resident's EHPAD only; staff of another EHPAD get
404 so that a resident's existence does not leak), runs in one transaction and writes its audit event
(ids only) in that same transaction. Nothing is decrypted before the policy has allowed it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from records.audit.service import accesses_to
from records.documents.store import DocumentStore
from records.residents.fields import SealingKeys, ins_index, token_index
from records.residents.model import (
    RecordAccess,
    RecordAccesses,
    Resident,
    ResidentDetails,
    check_details,
    looks_like_ins,
    lookup_tokens,
    matches_name_query,
    name_words,
    normalise_nir,
)
from records.residents.store import ResidentStore
from records.sealing import DossierKey
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.directory import names_of
from teleconsult.identity.service.trail import audit

OBJECT_TYPE = "resident"
LIST_LIMIT = 500
SEARCH_LIMIT = 50
ACCESSES_PAGE = 50
MAX_QUERY_WORDS = 5


async def create_resident(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    details: ResidentDetails,
    now: datetime,
    client_address: str | None = None,
) -> Resident:
    """Care-home staff create a resident of their own EHPAD. Raises InvalidInput (traits, INS key, INS
    against traits) and InsTaken (this EHPAD already has a resident with this INS)."""
    ehpad_id = actor.user.establishment_id
    policy.require(actor, Action.EDIT_RESIDENTS, ehpad_id)
    check_details(details, now.date())
    resident = Resident(uuid.uuid4(), ehpad_id, details, version=1, created_at=now, updated_at=now)
    async with uow:
        await uow.store(ResidentStore).add(resident, keys, now)
        await audit(
            uow, now, "resident.create", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, resident.id
        )
        await uow.commit()
    return resident


async def import_residents(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal | None,
    ehpad_id: UUID,
    details: Sequence[ResidentDetails],
    now: datetime,
) -> list[Resident]:
    """Create many residents of one EHPAD at once (the demo's residents; later, imports): the host's
    operator (``actor`` None) or that EHPAD's staff. Each resident gets its own data key and its own
    "resident.create" audit event, as with :func:`create_resident`; all or none are saved. Raises
    InvalidInput (the first wrong one) and InsTaken (an INS twice, or already in the EHPAD)."""
    policy.require_unless_operator(actor, Action.EDIT_RESIDENTS, ehpad_id)
    for one in details:
        check_details(one, now.date())
    residents = [Resident(uuid.uuid4(), ehpad_id, one, 1, now, now) for one in details]
    who = actor.user if actor else None
    async with uow:
        await uow.store(ResidentStore).add_many(residents, keys, now)
        for resident in residents:
            await audit(uow, now, "resident.create", Outcome.SUCCESS, who, None, OBJECT_TYPE, resident.id)
        await uow.commit()
    return residents


async def count_residents(uow: UnitOfWork) -> int:
    """How many residents the database holds, every EHPAD together: for the host's operator (the demo
    adds its residents only to an empty registry). Reads no health data."""
    async with uow.reading():
        return await uow.store(ResidentStore).count()


async def view_resident(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    resident_id: UUID,
    now: datetime,
    client_address: str | None = None,
) -> Resident:
    """Care-home staff of the resident's EHPAD read the record; the read is audited."""
    async with uow:
        store = uow.store(ResidentStore)
        ehpad_id = await store.ehpad_of(resident_id)
        if ehpad_id is None:
            raise NotFound()
        policy.require(actor, Action.VIEW_RESIDENTS, ehpad_id)
        resident = await store.get(resident_id, keys)
        if resident is None:
            raise NotFound()
        await audit(
            uow, now, "resident.read", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, resident.id
        )
        await uow.commit()
    return resident


async def list_record_accesses(
    uow: UnitOfWork,
    actor: Principal,
    resident_id: UUID,
    now: datetime,
    client_address: str | None = None,
    older_than: int | None = None,
    page_size: int = ACCESSES_PAGE,
) -> RecordAccesses:
    """The médecin coordonnateur of the resident's EHPAD reads who accessed the record (creations, reads,
    edits, and these very lists), newest first, ``page_size`` at a time (``older_than``: the page after
    the one that ended there). Staff of another EHPAD get 404, anyone else 403. This read is audited
    first, so it is the first line of what it shows. Nothing about the resident is decrypted."""
    async with uow:
        ehpad_id = await uow.store(ResidentStore).ehpad_of(resident_id)
        if ehpad_id is None:
            raise NotFound()
        policy.require(actor, Action.VIEW_RECORD_ACCESSES, ehpad_id)
        await audit(
            uow,
            now,
            "resident.accesses",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            OBJECT_TYPE,
            resident_id,
        )
        await uow.commit()
    events = await accesses_to(uow, OBJECT_TYPE, str(resident_id), page_size + 1, older_than)
    shown = events[:page_size]
    async with uow.reading():
        names = await names_of(
            uow,
            {e.actor_id for e in shown if e.actor_id is not None},
            {e.establishment_id for e in shown if e.establishment_id is not None},
        )
    accesses = []
    for event in shown:
        user = names.users.get(event.actor_id) if event.actor_id else None
        accesses.append(
            RecordAccess(
                at=event.at,
                action=event.action,
                outcome=event.outcome.value,
                user_id=event.actor_id,
                user_name=user.display_name if user else None,
                role=event.role,
                establishment_id=event.establishment_id,
                establishment_name=names.establishments.get(event.establishment_id)
                if event.establishment_id
                else None,
            )
        )
    return RecordAccesses(resident_id, accesses, shown[-1].seq if len(events) > page_size else None)


async def edit_resident(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    resident_id: UUID,
    expected_version: int,
    details: ResidentDetails,
    now: datetime,
    client_address: str | None = None,
) -> Resident:
    """Care-home staff of the resident's EHPAD replace its details, if nobody saved since
    ``expected_version`` (else StaleResident, 409). Raises InvalidInput and InsTaken as creation does."""
    async with uow:
        store = uow.store(ResidentStore)
        ehpad_id = await store.ehpad_of(resident_id)
        if ehpad_id is None:
            raise NotFound()
        policy.require(actor, Action.EDIT_RESIDENTS, ehpad_id)
        check_details(details, now.date())
        current = await store.get(resident_id, keys)
        if current is None:
            raise NotFound()
        edited = replace(current, details=details, version=expected_version + 1, updated_at=now)
        await store.update(edited, expected_version, keys)
        await audit(
            uow, now, "resident.update", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE, resident_id
        )
        await uow.commit()
    return edited


async def search_residents(
    uow: UnitOfWork,
    keys: SealingKeys,
    actor: Principal,
    query: str | None,
    now: datetime,
    client_address: str | None = None,
) -> list[Resident]:
    """Care-home staff list their EHPAD's residents (``query`` empty), or search them by INS (exact) or by
    the beginnings of words of their birth or used names ("dup mar" finds DUPONT-MARTIN). Sorted by name.
    One audit event per search (the residents shown are not named in it)."""
    ehpad_id = actor.user.establishment_id
    policy.require(actor, Action.VIEW_RESIDENTS, ehpad_id)
    query = (query or "").strip()
    async with uow:
        store = uow.store(ResidentStore)
        if not query:
            found = await store.list_for_ehpad(ehpad_id, keys, LIST_LIMIT)
        elif looks_like_ins(query):
            ids = await store.ids_by_ins(ehpad_id, ins_index(keys.index_key, ehpad_id, normalise_nir(query)))
            found = await store.get_many(ids, keys)
        else:
            words = name_words(query)[:MAX_QUERY_WORDS]
            if not words:
                raise InvalidInput({"q": N_("Type the beginning of a name, or an INS.")})
            hashes = {token_index(keys.index_key, ehpad_id, token) for token in lookup_tokens(words)}
            candidates = await store.get_many(
                await store.ids_with_all_tokens(ehpad_id, hashes, LIST_LIMIT), keys
            )
            found = [r for r in candidates if matches_name_query(r.details.traits, words)][:SEARCH_LIMIT]
        await audit(uow, now, "resident.search", Outcome.SUCCESS, actor.user, client_address, OBJECT_TYPE)
        await uow.commit()
    return sorted(found, key=_sort_key)


def _sort_key(resident: Resident) -> tuple[str, str, str]:
    traits = resident.details.traits
    return (
        " ".join(name_words(traits.used_name or traits.birth_name)),
        " ".join(name_words(" ".join(traits.first_names))),
        str(resident.id),
    )


async def residents_inactive_since(uow: UnitOfWork, before: datetime, limit: int) -> tuple[int, list[UUID]]:
    """How many residents (of every EHPAD) had no activity on their record since ``before``, and the ids
    of the ``limit`` oldest. For the retention job only (an operator command): no user, no policy; ids
    only, nothing decrypted."""
    async with uow.reading():
        store = uow.store(ResidentStore)
        return await store.count_inactive_since(before), await store.ids_inactive_since(before, limit)


async def shred_residents(uow: UnitOfWork, resident_ids: list[UUID], now: datetime) -> list[UUID]:
    """Crypto-shred these residents' records in one transaction: their data keys are deleted (so their
    ciphertexts can never be read again, from any copy), then their rows and name tokens; one audit event
    ``resident.shred`` per record (its id only). For the retention job only. Returns the ids shredded."""
    async with uow:
        # The dossier's documents have data keys of their own: shredded first. Its appointments (and any
        # other part sealed under the resident's own key) go with the resident's row (ON DELETE CASCADE).
        await uow.store(DocumentStore).shred_for_residents(list(resident_ids))
        shredded = await uow.store(ResidentStore).shred(resident_ids)
        for resident_id in shredded:
            await audit(uow, now, "resident.shred", Outcome.SUCCESS, None, None, OBJECT_TYPE, resident_id)
        await uow.commit()
    return shredded


# ------------------------------------------------------------------------------------------------------
# For other packages' services, inside their own open unit of work, once the access policy has allowed
# their use case (an appointment addressed to this expert, a request of this EHPAD...).


async def dossier_key_in(uow: UnitOfWork, keys: SealingKeys, resident_id: UUID) -> DossierKey:
    """The resident's dossier key, to seal or open the health fields another package keeps about them;
    raises NotFound for an unknown resident and UnreadableRecord for a shredded one."""
    key = await uow.store(ResidentStore).dossier_key(resident_id, keys)
    if key is None:
        raise NotFound()
    return key


async def dossier_keys_in(
    uow: UnitOfWork, keys: SealingKeys, resident_ids: Sequence[UUID]
) -> dict[UUID, DossierKey]:
    """The dossier keys of several residents at once (for listings); unknown residents are left out."""
    return await uow.store(ResidentStore).dossier_keys(sorted(set(resident_ids)), keys)


async def ehpad_of_in(uow: UnitOfWork, resident_id: UUID) -> UUID | None:
    """The resident's EHPAD (None: unknown), read without decrypting anything."""
    return await uow.store(ResidentStore).ehpad_of(resident_id)


async def residents_in(uow: UnitOfWork, keys: SealingKeys, ids: Sequence[UUID]) -> dict[UUID, Resident]:
    """The residents named by ``ids`` (unknown ones are left out), decrypted for display."""
    found = await uow.store(ResidentStore).get_many(sorted(set(ids)), keys)
    return {resident.id: resident for resident in found}


async def record_activity_in(uow: UnitOfWork, resident_id: UUID, now: datetime) -> None:
    """Something happened in the resident's dossier (a booking, a report): its retention period restarts."""
    await uow.store(ResidentStore).touch_activity(resident_id, now)

"""Use cases of the residents registry: create, view, edit, list and search one EHPAD's residents.

Each one asks the access policy (care-home staff of the resident's EHPAD only; staff of another EHPAD get
404 so that a resident's existence does not leak), runs in one transaction and writes its audit event
(ids only) in that same transaction. Nothing is decrypted before the policy has allowed it.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from records.residents.fields import SealingKeys, ins_index, token_index
from records.residents.model import (
    Resident,
    ResidentDetails,
    check_details,
    looks_like_ins,
    matches_name_query,
    name_words,
    normalise_nir,
    query_token,
)
from records.residents.store import ResidentStore
from teleconsult.db import UnitOfWork
from teleconsult.errors import InvalidInput, NotFound
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit

OBJECT_TYPE = "resident"
LIST_LIMIT = 500
SEARCH_LIMIT = 50
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
            hashes = {token_index(keys.index_key, ehpad_id, query_token(word)) for word in words}
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
        shredded = await uow.store(ResidentStore).shred(resident_ids)
        for resident_id in shredded:
            await audit(uow, now, "resident.shred", Outcome.SUCCESS, None, None, OBJECT_TYPE, resident_id)
        await uow.commit()
    return shredded

"""Use cases of the audit trail: record an event in the caller's transaction, verify the chain, list who
touched an object."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from records.audit.model import AuditEvent, ChainVerifier, Outcome, VerifyResult
from records.audit.store import AuditStore
from teleconsult.db import UnitOfWork

VERIFY_BATCH = 2000
ACCESSES_LIMIT = 1000


async def record_event(
    uow: UnitOfWork,
    *,
    at: datetime,
    action: str,
    outcome: Outcome,
    actor_id: UUID | None = None,
    role: str | None = None,
    establishment_id: UUID | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    request_id: str | None = None,
    client_address: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside ``uow``'s open (writing) transaction, before ``uow.commit()``.

    Any service may call it; it checks no policy. The event commits or rolls back with the action it
    records. Pass ids only, never health data (no names, INS, reasons or free text). While the transaction
    lasts it holds the chain's head, so other writers of audit events wait: commit promptly.
    """
    return await uow.store(AuditStore).append(
        at=at,
        action=action,
        outcome=outcome,
        actor_id=actor_id,
        role=role,
        establishment_id=establishment_id,
        object_type=object_type,
        object_id=object_id,
        request_id=request_id,
        client_address=client_address,
    )


async def verify(uow: UnitOfWork, batch_size: int = VERIFY_BATCH) -> VerifyResult:
    """Check the whole chain, streamed in batches, against the head; names the first broken link.

    For administrators (``teleconsult audit verify``). Opens its own reading unit of work: it takes no lock
    and appends keep going; events appended after the head was read are left for the next run.
    """
    verifier = ChainVerifier()
    async with uow.reading():
        store = uow.store(AuditStore)
        head = await store.head()
        async for batch in store.chain(head.last_seq, batch_size):
            for event in batch:
                if not verifier.feed(event):
                    return verifier.result()
    return verifier.result(head)


async def accesses_to(
    uow: UnitOfWork,
    object_type: str,
    object_id: str,
    limit: int = ACCESSES_LIMIT,
    before_seq: int | None = None,
) -> list[AuditEvent]:
    """The latest events about one object (e.g. every read of one resident's record), newest first; with
    ``before_seq``, those older than that event (the next page).

    The caller has already checked the access policy (e.g. the médecin coordonnateur of the resident's
    EHPAD). Opens its own reading unit of work.
    """
    async with uow.reading():
        return await uow.store(AuditStore).events_for(object_type, object_id, limit, before_seq)

"""What identity writes to the audit trail: logins, second factors, logouts, account and establishment
changes, and refused accesses. Ids only: never a login typed by someone, never a name."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from records.audit.model import Outcome
from records.audit.service import record_event
from teleconsult.db import UnitOfWork
from teleconsult.identity.model import User
from teleconsult.logs import request_id_var


async def audit(
    uow: UnitOfWork,
    now: datetime,
    action: str,
    outcome: Outcome,
    actor: User | None = None,
    client_address: str | None = None,
    object_type: str | None = None,
    object_id: UUID | str | None = None,
) -> None:
    """Append one event inside ``uow``'s open writing transaction (it commits with the action)."""
    request_id = request_id_var.get()  # the id the logs carry for this request ("-" outside one)
    await record_event(
        uow,
        at=now,
        action=action,
        outcome=outcome,
        actor_id=actor.id if actor else None,
        role=actor.role.value if actor else None,
        establishment_id=actor.establishment_id if actor else None,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        request_id=None if request_id == "-" else request_id,
        client_address=client_address,
    )


async def audit_alone(
    uow: UnitOfWork,
    now: datetime,
    action: str,
    outcome: Outcome,
    actor: User | None = None,
    client_address: str | None = None,
    object_type: str | None = None,
    object_id: UUID | str | None = None,
) -> None:
    """The same in a transaction of its own, for failures that change nothing else."""
    async with uow:
        await audit(uow, now, action, outcome, actor, client_address, object_type, object_id)
        await uow.commit()

"""Persistence of tele-expertise: the requests (question, context, consent person, physician's note and the
answer sealed under the resident's dossier key) and the requester's notifications.

Every state change is one conditional UPDATE (``WHERE id = ... AND status = ... AND version = ...``) whose
row count says whether it won: the same on SQLite and PostgreSQL, so two experts claiming one request at the
same instant get one success and one refusal whatever the backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Uuid,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from records.sealing import DossierKey
from scheduling.expertise.model import (
    Answer,
    AnswerOutcome,
    Claim,
    ExpertiseRequest,
    ExpertiseStatus,
    ExpertiseUrgency,
    Level,
    NotificationKind,
    Withdrawal,
)
from scheduling.model import Consent, ConsentGiver, ConsentMethod, PhysicianAgreement, Reason
from teleconsult.db import UTCDateTime, metadata
from teleconsult.identity.model import Role, Specialty

TABLE = "expertise_requests"
SEALED_COLUMNS = ("question", "context", "consent_person", "physician_note", "answer_text")

_STATUSES = ", ".join(f"'{status.value}'" for status in ExpertiseStatus)
_KINDS = ", ".join(f"'{kind.value}'" for kind in NotificationKind)

expertise_requests = Table(
    TABLE,
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("ehpad_id", Uuid, ForeignKey("establishments.id"), nullable=False),
    # Shredding a resident's dossier deletes its requests (sealed under its key) and their notifications.
    Column("resident_id", Uuid, ForeignKey("residents.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("specialty", String(32), nullable=False),
    Column("level", Integer, nullable=False),
    Column("urgency", String(16), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("wished_deadline", UTCDateTime, nullable=False),
    Column("consent_given_by", String(32), nullable=False),
    Column("consent_given_on", Date, nullable=False),
    Column("consent_method", String(16), nullable=False),
    Column("physician_agreement", Boolean, nullable=False),
    Column("requested_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("requester_role", String(16), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_by", Uuid, ForeignKey("users.id"), nullable=True),
    Column("claimed_at", UTCDateTime, nullable=True),
    Column("accepted_deadline", UTCDateTime, nullable=True),
    Column("answer_outcome", String(32), nullable=True),
    Column("answered_by", Uuid, ForeignKey("users.id"), nullable=True),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("withdrawn_by", Uuid, ForeignKey("users.id"), nullable=True),
    Column("withdrawn_at", UTCDateTime, nullable=True),
    Column("appointment_id", Uuid, ForeignKey("appointments.id"), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    *(Column(name, LargeBinary, nullable=False) for name in SEALED_COLUMNS),
    CheckConstraint(f"status IN ({_STATUSES})", name="status"),
    CheckConstraint("level IN (1, 2)", name="level"),
    CheckConstraint("version >= 1", name="version"),
    # A request taken on always names its expert and the deadline they accepted; an answered one its
    # outcome; a converted one its appointment.
    CheckConstraint(
        "status NOT IN ('claimed', 'answered', 'converted') "
        "OR (claimed_by IS NOT NULL AND accepted_deadline IS NOT NULL)",
        name="claim",
    ),
    CheckConstraint("status <> 'answered' OR answer_outcome IS NOT NULL", name="answer"),
    CheckConstraint("status <> 'converted' OR appointment_id IS NOT NULL", name="conversion"),
    Index("ix_expertise_requests_ehpad_id_requested_at", "ehpad_id", "requested_at"),
    Index("ix_expertise_requests_status_specialty", "status", "specialty"),
    Index("ix_expertise_requests_claimed_by_status", "claimed_by", "status"),
)

expertise_notifications = Table(
    "expertise_notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "request_id",
        Uuid,
        ForeignKey("expertise_requests.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("recipient_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=True),
    CheckConstraint(f"kind IN ({_KINDS})", name="kind"),
    Index("ix_expertise_notifications_recipient_id_seen_at", "recipient_id", "seen_at"),
)


def activity_requests() -> Select[tuple[Any, ...]]:
    """(id, ehpad_id, specialty, status, requested_at, answered_at) of every tele-expertise request, for the
    coordinators' activity figures (records/activity): plaintext columns only, nothing sealed."""
    return select(
        expertise_requests.c.id,
        expertise_requests.c.ehpad_id,
        expertise_requests.c.specialty,
        expertise_requests.c.status,
        expertise_requests.c.requested_at,
        expertise_requests.c.answered_at,
    )


class ExpertiseStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, request: ExpertiseRequest, key: DossierKey, now: datetime) -> None:
        consent = request.consent
        await self._session.execute(
            insert(expertise_requests).values(
                id=request.id,
                ehpad_id=request.ehpad_id,
                resident_id=request.resident_id,
                specialty=request.specialty.value,
                level=int(request.level),
                urgency=request.urgency.value,
                reason=request.reason.value,
                wished_deadline=request.wished_deadline,
                consent_given_by=consent.given_by.value,
                consent_given_on=consent.given_on,
                consent_method=consent.method.value,
                physician_agreement=request.agreement.obtained,
                requested_by=request.requested_by,
                requester_role=request.requester_role.value,
                requested_at=request.requested_at,
                status=request.status.value,
                updated_at=now,
                version=request.version,
                **self._sealed(request, key),
            )
        )

    async def save(
        self,
        request: ExpertiseRequest,
        expected: ExpertiseStatus,
        expected_version: int,
        key: DossierKey,
        now: datetime,
    ) -> bool:
        """Write a state change if the row is still in ``expected`` status at ``expected_version``: False
        when another transaction changed it first (the caller then refuses; nothing was written)."""
        claim, answer, withdrawal = request.claim, request.answer, request.withdrawal
        result = await self._session.execute(
            update(expertise_requests)
            .where(
                expertise_requests.c.id == request.id,
                expertise_requests.c.status == expected.value,
                expertise_requests.c.version == expected_version,
            )
            .values(
                status=request.status.value,
                version=request.version,
                updated_at=now,
                claimed_by=claim.expert_id if claim else None,
                claimed_at=claim.at if claim else None,
                accepted_deadline=claim.deadline if claim else None,
                answer_outcome=answer.outcome.value if answer else None,
                answered_by=answer.by if answer else None,
                answered_at=answer.at if answer else None,
                withdrawn_by=withdrawal.by if withdrawal else None,
                withdrawn_at=withdrawal.at if withdrawal else None,
                appointment_id=request.appointment_id,
                **self._sealed(request, key),
            )
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    @staticmethod
    def _sealed(request: ExpertiseRequest, key: DossierKey) -> dict[str, bytes]:
        return key.seal(
            TABLE,
            request.id,
            {
                "question": request.question,
                "context": request.context,
                "consent_person": request.consent.person_name,
                "physician_note": request.agreement.note,
                "answer_text": request.answer.text if request.answer else "",
            },
        )

    async def header(self, request_id: UUID) -> Any | None:
        """The plaintext columns the access policy looks at before anything is decrypted."""
        query = select(
            expertise_requests.c.id,
            expertise_requests.c.ehpad_id,
            expertise_requests.c.resident_id,
            expertise_requests.c.specialty,
            expertise_requests.c.status,
            expertise_requests.c.claimed_by,
        ).where(expertise_requests.c.id == request_id)
        return (await self._session.execute(query)).one_or_none()

    async def resident_ids(self, where: Any) -> list[UUID]:
        query = select(expertise_requests.c.resident_id).where(where).distinct()
        return list((await self._session.scalars(query)).all())

    async def list_where(
        self, where: Any, keys: dict[UUID, DossierKey], *, order_by: Iterable[Any] = (), limit: int = 500
    ) -> list[ExpertiseRequest]:
        query = select(expertise_requests).where(where)
        query = query.order_by(*order_by, expertise_requests.c.requested_at).limit(limit)
        rows = (await self._session.execute(query)).all()
        return [self._request(row, keys[row.resident_id]) for row in rows]

    @staticmethod
    def _request(row: Any, key: DossierKey) -> ExpertiseRequest:
        plain = key.open(TABLE, row.id, {column: getattr(row, column) for column in SEALED_COLUMNS})
        return ExpertiseRequest(
            id=row.id,
            ehpad_id=row.ehpad_id,
            resident_id=row.resident_id,
            specialty=Specialty(row.specialty),
            level=Level(row.level),
            urgency=ExpertiseUrgency(row.urgency),
            reason=Reason(row.reason),
            wished_deadline=row.wished_deadline,
            question=plain["question"],
            context=plain["context"],
            consent=Consent(
                ConsentGiver(row.consent_given_by),
                row.consent_given_on,
                ConsentMethod(row.consent_method),
                plain["consent_person"],
            ),
            agreement=PhysicianAgreement(row.physician_agreement, plain["physician_note"]),
            requested_by=row.requested_by,
            requester_role=Role(row.requester_role),
            requested_at=row.requested_at,
            status=ExpertiseStatus(row.status),
            claim=(Claim(row.claimed_by, row.claimed_at, row.accepted_deadline) if row.claimed_by else None),
            answer=(
                Answer(
                    AnswerOutcome(row.answer_outcome), plain["answer_text"], row.answered_by, row.answered_at
                )
                if row.answer_outcome
                else None
            ),
            withdrawal=Withdrawal(row.withdrawn_by, row.withdrawn_at) if row.withdrawn_by else None,
            appointment_id=row.appointment_id,
            version=row.version,
        )

    # ------------------------------------------------------------------------------------ notifications

    async def notify(
        self, request_id: UUID, recipient_id: UUID, kind: NotificationKind, now: datetime
    ) -> None:
        await self._session.execute(
            insert(expertise_notifications).values(
                id=uuid.uuid4(),
                request_id=request_id,
                recipient_id=recipient_id,
                kind=kind.value,
                created_at=now,
            )
        )

    async def unseen(self, recipient_id: UUID) -> dict[UUID, list[NotificationKind]]:
        """The recipient's notifications not seen yet, by request, oldest first."""
        query = (
            select(expertise_notifications.c.request_id, expertise_notifications.c.kind)
            .where(
                expertise_notifications.c.recipient_id == recipient_id,
                expertise_notifications.c.seen_at.is_(None),
            )
            .order_by(expertise_notifications.c.created_at)
        )
        found: dict[UUID, list[NotificationKind]] = {}
        for row in (await self._session.execute(query)).all():
            found.setdefault(row.request_id, []).append(NotificationKind(row.kind))
        return found

    async def mark_seen(self, recipient_id: UUID, now: datetime) -> None:
        await self._session.execute(
            update(expertise_notifications)
            .where(
                expertise_notifications.c.recipient_id == recipient_id,
                expertise_notifications.c.seen_at.is_(None),
            )
            .values(seen_at=now)
        )

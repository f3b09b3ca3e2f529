"""Persistence of invitations: the link's token is kept as its SHA-256 only (a 256-bit random token needs
no slow hash: nobody can guess one to test against it); the guest's role and name are sealed by the
service. Using a link, and joining with the token it gave, are each one conditional UPDATE: whichever
request changes the row first wins, on any number of processes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from teleconsult.db import UTCDateTime, metadata

invitations = Table(
    "invitations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("appointment_id", Uuid, ForeignKey("appointments.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("seat", String(16), nullable=False),
    Column("role_sealed", LargeBinary, nullable=False),
    Column("name_sealed", LargeBinary, nullable=False),
    Column("created_by", Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("join_jti", String(64), nullable=True),
    Column("joined_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_by", Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    UniqueConstraint("token_hash"),
    Index("ix_invitations_appointment_id", "appointment_id"),
)


@dataclass(frozen=True, slots=True)
class InvitationRow:
    id: UUID
    appointment_id: UUID
    seat: str
    sealed: dict[str, bytes]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


def _row(row: object) -> InvitationRow:
    r = row._mapping  # type: ignore[attr-defined]
    return InvitationRow(
        r["id"],
        r["appointment_id"],
        r["seat"],
        {"role": r["role_sealed"], "name": r["name_sealed"]},
        r["created_at"],
        r["expires_at"],
        r["used_at"],
        r["revoked_at"],
    )


class InvitationStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        invitation_id: UUID,
        appointment_id: UUID,
        token_hash: str,
        seat: str,
        sealed: dict[str, bytes],
        created_by: UUID,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self._session.execute(
            invitations.insert().values(
                id=invitation_id,
                appointment_id=appointment_id,
                token_hash=token_hash,
                seat=seat,
                role_sealed=sealed["role"],
                name_sealed=sealed["name"],
                created_by=created_by,
                created_at=now,
                expires_at=expires_at,
            )
        )

    async def by_token_hash(self, token_hash: str) -> InvitationRow | None:
        row = (
            await self._session.execute(select(invitations).where(invitations.c.token_hash == token_hash))
        ).first()
        return _row(row) if row else None

    async def get(self, invitation_id: UUID) -> InvitationRow | None:
        row = (
            await self._session.execute(select(invitations).where(invitations.c.id == invitation_id))
        ).first()
        return _row(row) if row else None

    async def of_appointment(self, appointment_id: UUID) -> list[InvitationRow]:
        rows = await self._session.execute(
            select(invitations)
            .where(invitations.c.appointment_id == appointment_id)
            .order_by(invitations.c.created_at)
        )
        return [_row(row) for row in rows]

    async def use(self, invitation_id: UUID, jti: str, now: datetime) -> bool:
        """Mark the link used and remember the join token it gave; False if it was used, revoked or expired
        meanwhile."""
        result = await self._session.execute(
            update(invitations)
            .where(
                invitations.c.id == invitation_id,
                invitations.c.used_at.is_(None),
                invitations.c.revoked_at.is_(None),
                invitations.c.expires_at > now,
            )
            .values(used_at=now, join_jti=jti)
            .returning(invitations.c.id)
        )
        return result.scalar_one_or_none() is not None

    async def join(self, invitation_id: UUID, jti: str, now: datetime) -> bool:
        """The join token the link gave, used on the WebSocket: once, and not after a revocation."""
        result = await self._session.execute(
            update(invitations)
            .where(
                invitations.c.id == invitation_id,
                invitations.c.join_jti == jti,
                invitations.c.joined_at.is_(None),
                invitations.c.revoked_at.is_(None),
            )
            .values(joined_at=now)
            .returning(invitations.c.id)
        )
        return result.scalar_one_or_none() is not None

    async def revoke(self, invitation_id: UUID, by: UUID, now: datetime) -> bool:
        result = await self._session.execute(
            update(invitations)
            .where(invitations.c.id == invitation_id, invitations.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=by)
            .returning(invitations.c.id)
        )
        return result.scalar_one_or_none() is not None

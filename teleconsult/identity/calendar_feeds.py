"""Persistence of calendar-feed tokens: one per user at most, stored as its SHA-256 (the database never
holds a usable token, exactly like session tokens)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Column, ForeignKey, String, Table, Uuid, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from teleconsult.db import UTCDateTime, metadata

calendar_feeds = Table(
    "calendar_feeds",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
)


class CalendarFeedStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def replace(self, user_id: UUID, token_hash: str, now: datetime) -> None:
        """The user's feed token becomes this one; the previous one, if any, stops working."""
        await self._session.execute(delete(calendar_feeds).where(calendar_feeds.c.user_id == user_id))
        await self._session.execute(
            insert(calendar_feeds).values(user_id=user_id, token_hash=token_hash, created_at=now)
        )

    async def remove(self, user_id: UUID) -> bool:
        result = await self._session.execute(
            delete(calendar_feeds).where(calendar_feeds.c.user_id == user_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def created_at(self, user_id: UUID) -> datetime | None:
        return await self._session.scalar(
            select(calendar_feeds.c.created_at).where(calendar_feeds.c.user_id == user_id)
        )

    async def user_for(self, token_hash: str) -> UUID | None:
        return await self._session.scalar(
            select(calendar_feeds.c.user_id).where(calendar_feeds.c.token_hash == token_hash)
        )

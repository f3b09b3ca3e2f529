"""A person's calendar feed: a secret address their calendar application polls. The token in it is the
only credential (a calendar application cannot log in), so it is long (256 bits), shown once, stored hashed,
and can be revoked or replaced at any time from the account page. Creating and revoking are audited."""

from __future__ import annotations

import secrets
from datetime import datetime

from records.audit.model import Outcome
from teleconsult.db import UnitOfWork
from teleconsult.identity import policy
from teleconsult.identity.calendar_feeds import CalendarFeedStore
from teleconsult.identity.model import User
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.sessions import hash_token
from teleconsult.identity.service.trail import audit
from teleconsult.identity.store import IdentityStore

TOKEN_BYTES = 32
#: What a token looks like (token_urlsafe of 32 bytes is 43 characters); anything else is not looked up.
TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"  # noqa: S105 - a shape, not a secret


async def calendar_feed_created_at(uow: UnitOfWork, actor: Principal) -> datetime | None:
    """When the actor's current feed address was made, or None if they have none."""
    policy.require(actor, Action.MANAGE_CALENDAR_FEED)
    async with uow.reading():
        return await uow.store(CalendarFeedStore).created_at(actor.user.id)


async def create_calendar_feed(
    uow: UnitOfWork, actor: Principal, now: datetime, client_address: str | None = None
) -> str:
    """A new feed token for the actor (the old address, if any, stops working). Returned once: only its
    hash is kept."""
    policy.require(actor, Action.MANAGE_CALENDAR_FEED)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with uow:
        await uow.store(CalendarFeedStore).replace(actor.user.id, hash_token(token), now)
        await audit(
            uow,
            now,
            "calendar_feed.create",
            Outcome.SUCCESS,
            actor.user,
            client_address,
            "user",
            actor.user.id,
        )
        await uow.commit()
    return token


async def revoke_calendar_feed(
    uow: UnitOfWork, actor: Principal, now: datetime, client_address: str | None = None
) -> None:
    policy.require(actor, Action.MANAGE_CALENDAR_FEED)
    async with uow:
        if await uow.store(CalendarFeedStore).remove(actor.user.id):
            await audit(
                uow,
                now,
                "calendar_feed.revoke",
                Outcome.SUCCESS,
                actor.user,
                client_address,
                "user",
                actor.user.id,
            )
        await uow.commit()


async def calendar_feed_owner(uow: UnitOfWork, token: str) -> User | None:
    """The active user whose feed this token opens, or None (unknown, revoked, or a deactivated user, or
    one whose role no longer has a calendar)."""
    async with uow.reading():
        user_id = await uow.store(CalendarFeedStore).user_for(hash_token(token))
        user = await uow.store(IdentityStore).get_user(user_id) if user_id else None
    if user is None:
        return None
    owner = Principal(user, second_factor_done=True)
    if policy.decide(owner, Action.MANAGE_CALENDAR_FEED) is not policy.Decision.ALLOW:
        return None
    return user

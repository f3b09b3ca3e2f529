"""Identity use cases around a person's own access: password login with its throttling, sessions, the
TOTP second factor, and one's own credentials. Each opens its transactions, asks the policy, and
returns model objects.

Password hashing never happens inside a transaction: on SQLite a write transaction holds the lock, and
nobody else should wait for an argon2 computation.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from records.audit.model import Outcome
from teleconsult.clients import address_group
from teleconsult.db import UnitOfWork
from teleconsult.errors import DomainError, InvalidInput, NotFound, TooManyRequests
from teleconsult.i18n import N_
from teleconsult.identity import policy
from teleconsult.identity.model import (
    MAX_USERNAME_LENGTH,
    Session,
    SessionPolicy,
    ThrottleRule,
    User,
    check_password_strength,
    normalise_username,
)
from teleconsult.identity.passwords import Passwords
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.principal_cache import PrincipalCache
from teleconsult.identity.service.trail import audit, audit_alone
from teleconsult.identity.store import IdentityStore
from teleconsult.identity.totp import TotpBox, matching_step
from teleconsult.text import has_control_characters

#: Writing last_seen_at on every request would make every page a write; a minute of slack is harmless.
TOUCH_INTERVAL = timedelta(seconds=60)


class BadCredentials(DomainError):
    code = "bad_credentials"
    status = 401
    message = N_("Wrong login or password.")


class SecondFactorUnreadable(DomainError):
    code = "second_factor_unreadable"
    status = 409
    message = N_(
        "Your verification code can no longer be checked. Ask your administrator to reset your second factor."
    )


class BadSecondFactor(DomainError):
    code = "bad_second_factor"
    status = 401
    message = N_("This code is not valid. Type the 6 digits shown now by your authenticator app.")


@dataclass(frozen=True, slots=True)
class LoginSettings:
    sessions: SessionPolicy
    pair_rule: ThrottleRule  # one login from one address; also TOTP codes per account
    address_rule: ThrottleRule  # one address, whatever the login
    account_rule: ThrottleRule  # one login, from anywhere
    second_factor_roles: frozenset[str]


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    token: str  # goes in the cookie; only its hash is stored
    needs_second_factor: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _login_keys(
    settings: LoginSettings, username: str, client_address: str
) -> list[tuple[str, ThrottleRule]]:
    """The counters a password attempt goes into: this login from this address (hard lock: only the
    attacker suffers), this address whatever the login, and this login from anywhere (gentle: see rule)."""
    group = address_group(client_address)
    return [
        (f"pair:{username}|{group}"[:200], settings.pair_rule),
        (f"address:{group}"[:200], settings.address_rule),
        (f"account:{username}"[:200], settings.account_rule),
    ]


async def _count_attempt(store: IdentityStore, keys: list[tuple[str, ThrottleRule]], now: datetime) -> None:
    """Refuse when a counter is locked; else count this attempt as a failure until it proves right."""
    states = await store.lock_throttle_states([key for key, _ in keys])
    waits = [w for w in (state.retry_after(now) for state in states.values()) if w is not None]
    if waits:
        raise TooManyRequests(int(max(waits).total_seconds()) + 1)
    for key, rule in keys:
        await store.save_throttle_state(states[key].after_failure(now, rule))


async def _take_back_attempt(
    store: IdentityStore, keys: list[tuple[str, ThrottleRule]], clear: set[str]
) -> None:
    states = await store.lock_throttle_states([key for key, _ in keys])
    for key, rule in keys:
        if key in clear:
            await store.clear_throttle(key)
        else:
            await store.save_throttle_state(states[key].after_success(rule))


async def log_in(
    uow: UnitOfWork,
    passwords: Passwords,
    settings: LoginSettings,
    username: str,
    password: str,
    client_address: str,
    now: datetime,
) -> LoginResult:
    """Anyone may call. Counts the attempt, checks the password and opens a session (second factor
    pending when the user's role needs one). Raises InvalidInput, BadCredentials, TooManyRequests."""
    username = normalise_username(username)
    if not username or not password:
        raise InvalidInput(
            {
                k: N_("This field is required.")
                for k, v in (("username", username), ("password", password))
                if not v
            }
        )
    # A login no account can have (control characters, too long) is looked up nowhere: it fails like a
    # wrong password, under one shared throttle key, and never reaches the database as such.
    possible = len(username) <= MAX_USERNAME_LENGTH and not has_control_characters(username)
    keys = _login_keys(settings, username if possible else "(impossible)", client_address)
    try:
        async with uow:
            store = uow.store(IdentityStore)
            await _count_attempt(store, keys, now)
            user = await store.get_user_by_username(username) if possible else None
            stored_hash = await store.password_hash(user.id) if user else None
            await uow.commit()
    except TooManyRequests:
        await audit_alone(uow, now, "login.throttled", Outcome.DENIED, client_address=client_address)
        raise
    ok = await passwords.verify(stored_hash, password)
    if not ok or user is None or not user.is_active:
        # The attempt stays counted. An unknown login leaves no actor: what was typed is not recorded.
        await audit_alone(uow, now, "login.failure", Outcome.FAILURE, user, client_address)
        raise BadCredentials()
    # Hashes made with older parameters are upgraded now that we know the password (outside the transaction).
    new_hash = await passwords.hash(password) if stored_hash and passwords.needs_rehash(stored_hash) else None
    needs_second_factor = user.role.value in settings.second_factor_roles
    async with uow:
        store = uow.store(IdentityStore)
        await _take_back_attempt(store, keys, clear={keys[0][0]})
        if new_hash:
            await store.set_password_hash(user.id, new_hash)
        token = await _add_session(store, user, not needs_second_factor, now)
        await audit(uow, now, "login.password", Outcome.SUCCESS, user, client_address)
        await uow.commit()
    return LoginResult(user, token, needs_second_factor)


async def _add_session(store: IdentityStore, user: User, second_factor_done: bool, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    await store.add_session(Session(hash_token(token), user.id, now, now, second_factor_done))
    return token


async def _upgrade_session(store: IdentityStore, user: User, old_token: str, now: datetime) -> str:
    """The second factor passed: the half-way session ends and a new one, with a new token, begins (a token
    seen before the second factor is worth nothing after it)."""
    await store.revoke_session(hash_token(old_token), now)
    return await _add_session(store, user, True, now)


async def open_session(uow: UnitOfWork, user: User, second_factor_done: bool, now: datetime) -> str:
    """The seam for other identity providers: one that has already authenticated the person (a future
    Pro Santé Connect login through OpenID Connect, whose CPS card or e-CPS app is itself a strong
    authentication) calls this to open the same kind of session as the password login. Returns the token."""
    if not user.is_active:
        raise BadCredentials()
    async with uow:
        token = await _add_session(uow.store(IdentityStore), user, second_factor_done, now)
        await uow.commit()
    return token


async def load_principal(
    uow: UnitOfWork,
    token: str,
    sessions: SessionPolicy,
    now: datetime,
    cache: PrincipalCache | None = None,
) -> Principal | None:
    """The principal behind a session cookie, or None when the session is unknown, revoked or expired.

    With a ``cache``, a principal read less than ``cache.ttl`` ago is reused without a database round
    trip, as long as the session stays live and needs no ``last_seen_at`` write (see principal_cache.py);
    every change to the session or its user has already removed it from the cache."""
    id_hash = hash_token(token)
    if cache is not None:
        cached = cache.get(id_hash, now, sessions, TOUCH_INTERVAL)
        if cached is not None:
            return cached
        generation = cache.generation  # before the read: a change meanwhile forbids keeping its result
    async with uow.reading():
        found = await uow.store(IdentityStore).get_session_and_user(id_hash)
    if found is None:
        return None
    session, user = found
    if not session.is_live(now, sessions) or not user.is_active:
        return None
    if now - session.last_seen_at >= TOUCH_INTERVAL:
        async with uow:
            await uow.store(IdentityStore).touch_session(id_hash, now)
            await uow.commit()
        session = replace(session, last_seen_at=now)
    principal = Principal(user, session.second_factor_done)
    if cache is not None:
        cache.put(principal, session, now, generation)
    return principal


async def log_out(uow: UnitOfWork, token: str, now: datetime, actor: User | None = None) -> None:
    """Revokes the session for good: the same cookie never opens anything again."""
    async with uow:
        await uow.store(IdentityStore).revoke_session(hash_token(token), now)
        await audit(uow, now, "logout", Outcome.SUCCESS, actor)
        await uow.commit()


def _open_secret(box: TotpBox, user_id: UUID, sealed: bytes) -> str:
    try:
        return box.open(user_id, sealed)
    except ValueError as exc:
        raise SecondFactorUnreadable() from exc


async def check_second_factor(
    uow: UnitOfWork,
    box: TotpBox,
    settings: LoginSettings,
    principal: Principal,
    token: str,
    code: str,
    client_address: str,
    now: datetime,
) -> str:
    """The half-logged-in principal types a TOTP code; a code is accepted once only (no replay). Codes
    have their own counter per account, which a right password never resets. Returns the new token."""
    policy.require(principal, Action.SECOND_FACTOR)
    user = principal.user
    keys = [
        (f"totp:{user.id}", settings.pair_rule),
        (f"address:{address_group(client_address)}"[:200], settings.address_rule),
    ]
    try:
        async with uow:
            store = uow.store(IdentityStore)
            await _count_attempt(store, keys, now)
            sealed, _ = await store.totp_state(user.id)
            await uow.commit()
    except TooManyRequests:
        await audit_alone(uow, now, "login.second_factor.throttled", Outcome.DENIED, user, client_address)
        raise
    if sealed is None:
        raise NotFound()
    step = matching_step(_open_secret(box, user.id, sealed), code, now)
    replayed = False
    if step is not None:
        async with uow:
            store = uow.store(IdentityStore)
            if await store.use_totp_step(user.id, step):
                await _take_back_attempt(store, keys, clear={keys[0][0]})
                new_token = await _upgrade_session(store, user, token, now)
                await audit(uow, now, "login.second_factor", Outcome.SUCCESS, user, client_address)
                await uow.commit()
                return new_token
            replayed = True
    # The attempt stays counted.
    action = "login.second_factor.replay" if replayed else "login.second_factor.failure"
    await audit_alone(uow, now, action, Outcome.FAILURE, user, client_address)
    raise BadSecondFactor()


async def confirm_totp_enrolment(
    uow: UnitOfWork,
    box: TotpBox,
    passwords: Passwords,
    principal: Principal,
    token: str,
    secret: str,
    code: str,
    current_password: str,
    now: datetime,
) -> str:
    """A user with no second factor yet, or replacing theirs, proves the new app works by typing one code.
    Replacing an existing factor also takes the current password and closes the user's other sessions.
    Returns the token of the session, renewed."""
    user = principal.user
    if principal.second_factor_done:
        policy.require(principal, Action.MANAGE_OWN_CREDENTIALS)
    else:
        policy.require(principal, Action.SECOND_FACTOR)
    step = matching_step(secret, code, now)
    if step is None:
        raise BadSecondFactor()
    async with uow.reading():
        store = uow.store(IdentityStore)
        existing, _ = await store.totp_state(user.id)
        stored_hash = await store.password_hash(user.id)
    if existing is not None:
        if not principal.second_factor_done:
            # Half-logged-in principals enrol only when they have no factor yet: else anyone with the
            # password could replace the factor.
            raise BadSecondFactor()
        if not await passwords.verify(stored_hash, current_password):
            raise InvalidInput({"password": N_("This is not your current password.")})
    async with uow:
        store = uow.store(IdentityStore)
        await store.set_totp(user.id, box.seal(user.id, secret), step)
        new_token = await _upgrade_session(store, user, token, now)
        if existing is not None:
            await store.revoke_other_sessions(user.id, hash_token(new_token), now)
        await audit(uow, now, "second_factor.enrol", Outcome.SUCCESS, user, None, "user", user.id)
        await uow.commit()
    return new_token


async def reset_second_factor(uow: UnitOfWork, actor: Principal | None, user_id: UUID, now: datetime) -> User:
    """Admins (and the command line): forget someone's authenticator app (lost phone, changed service
    key); their sessions end and they enrol a new one at their next login."""
    policy.require_unless_operator(actor, Action.ADMIN_USERS)
    async with uow:
        store = uow.store(IdentityStore)
        target = await store.get_user(user_id)
        if target is None:
            raise NotFound()
        await store.set_totp(user_id, None, None)
        await store.revoke_user_sessions(user_id, now)
        await audit(
            uow,
            now,
            "second_factor.reset",
            Outcome.SUCCESS,
            actor.user if actor else None,
            None,
            "user",
            user_id,
        )
        await uow.commit()
    return target


async def change_password(
    uow: UnitOfWork,
    passwords: Passwords,
    principal: Principal,
    token: str,
    current: str,
    new: str,
    confirmation: str,
    now: datetime,
) -> None:
    """A logged-in user changes their own password; every other session of theirs is closed."""
    policy.require(principal, Action.MANAGE_OWN_CREDENTIALS)
    user = principal.user
    if new != confirmation:
        raise InvalidInput({"confirmation": N_("The two new passwords are different.")})
    check_password_strength(new, user.username)
    async with uow:
        stored = await uow.store(IdentityStore).password_hash(user.id)
    if not await passwords.verify(stored, current):
        raise InvalidInput({"current": N_("This is not your current password.")})
    new_hash = await passwords.hash(new)
    async with uow:
        store = uow.store(IdentityStore)
        await store.set_password_hash(user.id, new_hash)
        await store.revoke_other_sessions(user.id, hash_token(token), now)
        await audit(uow, now, "password.change", Outcome.SUCCESS, user, None, "user", user.id)
        await uow.commit()


@dataclass(frozen=True, slots=True)
class TechnicalPurge:
    """What the retention of technical data removed (or, in a dry run, would remove)."""

    sessions: int
    login_counters: int


async def purge_technical_data(
    uow: UnitOfWork, before: datetime, now: datetime, *, dry_run: bool
) -> TechnicalPurge:
    """Delete the sessions last used before ``before`` and the login counters with no failure since then
    and no lock running (the hourly sweep of the service removes most of them much sooner; this is the
    retention backstop). For the operator (``teleconsult retention run``); ``dry_run`` only counts."""
    if dry_run:
        async with uow.reading():
            store = uow.store(IdentityStore)
            return TechnicalPurge(
                await store.count_sessions_before(before), await store.count_stale_throttles(before, now)
            )
    async with uow:
        store = uow.store(IdentityStore)
        purge = TechnicalPurge(
            await store.delete_sessions_before(before), await store.delete_stale_throttles(before, now)
        )
        await uow.commit()
    return purge

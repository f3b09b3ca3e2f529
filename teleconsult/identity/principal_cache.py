"""A short-lived, in-process cache of who is behind a session cookie, so that an authenticated request
needs no database round trip (docs/adr/0014-principal-cache.md).

An entry maps a session's ``id_hash`` to the :class:`Principal` and the :class:`Session` row they were
built from. It is used only while all of these hold; otherwise the request reads the database as before:

- it is younger than ``ttl`` (a few seconds, ``principal_cache_seconds``), measured on the injected clock;
- the session is live (idle and absolute limits, :meth:`Session.is_live`), judged on the cached row;
- the session's ``last_seen_at`` is less than ``touch_interval`` old, so that ``last_seen_at`` keeps being
  written at most once a ``touch_interval`` and at least once per ``touch_interval`` of activity: the idle
  timeout means exactly what it meant without the cache.

Changes are invalidated at once, in this process, without the code that makes them having to know about
the cache: every statement a unit of work runs on the ``users``, ``user_specialties`` or ``sessions``
tables is seen through SQLAlchemy's session events. A statement of :class:`IdentityStore` says what it
changes (one session, one user's sessions) with :func:`changes`; any other write to those tables (an
admin feature added later, a script, a test) drops the whole cache. Each invalidation runs twice: when the
statement runs, and again after its transaction commits; with the generation counter (a lookup started
before an invalidation may not store its result) no request can put back a principal read before the
commit. So logout, password change, deactivation, second-factor reset, a role change: the very next
request in this process reads the database.

Other processes (several workers on PostgreSQL, ``teleconsult users deactivate`` run beside the
service) learn of a change through an optional :class:`InvalidationBus` (``publish(channel, payload)``;
their bus delivers the payload to :meth:`PrincipalCache.receive`). Without one, a revoked session may
stay usable in another process for at most ``ttl``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from teleconsult.identity.model import Session as LoginSession
from teleconsult.identity.model import SessionPolicy
from teleconsult.identity.policy import Principal

log = logging.getLogger("teleconsult.identity.principal_cache")

#: The channel invalidations are published on (a PostgreSQL LISTEN/NOTIFY channel name is an identifier).
CHANNEL: Final = "teleconsult_principals"
#: Execution option a statement on the watched tables carries when its store has declared, with
#: :func:`changes`, what it changes (possibly nothing, e.g. ``last_seen_at``).
DECLARED: Final = "teleconsult_principal_cache_declared"
#: The tables a principal is built from.
WATCHED_TABLES: Final = frozenset({"users", "user_specialties", "sessions"})
DEFAULT_TTL: Final = timedelta(seconds=5)
DEFAULT_MAX_ENTRIES: Final = 10_000

_PENDING = "teleconsult_principal_invalidations"


class InvalidationBus(Protocol):
    """What the cache needs to tell other processes: ``publish`` may return an awaitable (it is then
    scheduled on the running loop) or nothing."""

    def publish(self, channel: str, payload: str) -> object: ...


@dataclass(frozen=True, slots=True)
class Invalidation:
    """Sessions (by id_hash) and users whose cached principals must go; ``everything`` drops them all."""

    session_hashes: frozenset[str] = frozenset()
    user_ids: frozenset[UUID] = frozenset()
    everything: bool = False

    def __or__(self, other: Invalidation) -> Invalidation:
        return Invalidation(
            self.session_hashes | other.session_hashes,
            self.user_ids | other.user_ids,
            self.everything or other.everything,
        )

    @property
    def is_empty(self) -> bool:
        return not (self.session_hashes or self.user_ids or self.everything)

    def to_payload(self, origin: str) -> str:
        return json.dumps(
            {
                "origin": origin,
                "sessions": sorted(self.session_hashes),
                "users": sorted(str(u) for u in self.user_ids),
                "all": self.everything,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_payload(cls, payload: str) -> tuple[str, Invalidation]:
        """(origin, invalidation); a payload that cannot be read drops everything (safe side)."""
        try:
            document = json.loads(payload)
            return str(document.get("origin", "")), cls(
                frozenset(str(s) for s in document.get("sessions", ())),
                frozenset(UUID(str(u)) for u in document.get("users", ())),
                bool(document.get("all", False)),
            )
        except (ValueError, TypeError, AttributeError):
            return "", cls(everything=True)


NOTHING: Final = Invalidation()


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    session: LoginSession
    loaded_at: datetime


class PrincipalCache:
    """Session id_hash -> principal, for ``ttl`` at most; see the module docstring."""

    def __init__(
        self,
        ttl: timedelta = DEFAULT_TTL,
        *,
        bus: InvalidationBus | None = None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.origin = uuid.uuid4().hex  # tells this process's own messages apart on a shared bus
        self._bus = bus
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        _LIVE_CACHES.add(self)

    @property
    def enabled(self) -> bool:
        return self.ttl > timedelta(0) and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, id_hash: object) -> bool:
        return id_hash in self._entries

    def set_bus(self, bus: InvalidationBus | None) -> None:
        """Wire (or unwire) the publisher of invalidations to other processes."""
        self._bus = bus

    # ---------------------------------------------------------------------------------------- lookups

    @property
    def generation(self) -> int:
        """Take it before reading the database; give it back to :meth:`put`."""
        return self._generation

    def get(
        self, id_hash: str, now: datetime, sessions: SessionPolicy, touch_interval: timedelta
    ) -> Principal | None:
        """The cached principal, or None when the database must be asked (see the module docstring)."""
        entry = self._entries.get(id_hash)
        if entry is None:
            return None
        age = now - entry.loaded_at
        if (
            age < timedelta(0)  # the clock went back: trust nothing
            or age >= self.ttl
            or now - entry.session.last_seen_at >= touch_interval
            or not entry.session.is_live(now, sessions)
        ):
            del self._entries[id_hash]
            return None
        return entry.principal

    def put(self, principal: Principal, session: LoginSession, now: datetime, generation: int) -> bool:
        """Keep what the database said, unless an invalidation happened since ``generation`` was taken
        (the database may have been read before the change committed). Whether it was kept."""
        if not self.enabled or generation != self._generation:
            return False
        if session.id_hash not in self._entries and len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest insertion goes first
        self._entries[session.id_hash] = _Entry(principal, session, now)
        return True

    # ---------------------------------------------------------------------------------- invalidation

    def invalidate_session(self, id_hash: str) -> None:
        """Forget one session (by the SHA-256 of its token), here and, through the bus, elsewhere."""
        self.invalidate(Invalidation(session_hashes=frozenset({id_hash})))

    def invalidate_user(self, user_id: UUID) -> None:
        """Forget every session of one user, here and elsewhere."""
        self.invalidate(Invalidation(user_ids=frozenset({user_id})))

    def invalidate_all(self) -> None:
        self.invalidate(Invalidation(everything=True))

    def invalidate(self, change: Invalidation, *, publish: bool = True) -> None:
        if change.is_empty:
            return
        self._apply(change)
        if publish and self._bus is not None:
            self._publish(self._bus, change)

    def receive(self, payload: str) -> None:
        """The bus's on-message callback: apply an invalidation another process published."""
        origin, change = Invalidation.from_payload(payload)
        if origin != self.origin:
            self._apply(change)

    def _apply(self, change: Invalidation) -> None:
        self._generation += 1
        if change.everything:
            self._entries.clear()
            return
        for id_hash in change.session_hashes:
            self._entries.pop(id_hash, None)
        if change.user_ids:
            for id_hash in [h for h, e in self._entries.items() if e.session.user_id in change.user_ids]:
                del self._entries[id_hash]

    def _publish(self, bus: InvalidationBus, change: Invalidation) -> None:
        try:
            outcome = bus.publish(CHANNEL, change.to_payload(self.origin))
            if asyncio.iscoroutine(outcome) or isinstance(outcome, asyncio.Future):
                task = asyncio.ensure_future(outcome)
                self._tasks.add(task)
                task.add_done_callback(self._published)
        except Exception:
            # Other processes then keep their entry for ``ttl`` at most; this one is already right.
            log.exception("principal invalidation not published")

    def _published(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("principal invalidation not published", exc_info=task.exception())


# ------------------------------------------------------------------------- seeing the changes happen

_LIVE_CACHES: weakref.WeakSet[PrincipalCache] = weakref.WeakSet()


def _dispatch(change: Invalidation, *, publish: bool) -> None:
    for cache in list(_LIVE_CACHES):
        cache.invalidate(change, publish=publish)


def changes(
    session: Session | Any,
    *,
    session_hashes: Iterable[str] = (),
    user_ids: Iterable[UUID] = (),
) -> dict[str, bool]:
    """For a store about to change principals: record what the statement changes, invalidate it now,
    and again after the commit. Returns the execution options to run the statement with. ``session`` is
    the store's (async or sync) SQLAlchemy session; nothing declared means the change touches no
    principal (e.g. ``last_seen_at``)."""
    change = Invalidation(frozenset(session_hashes), frozenset(user_ids))
    _record(session.info, change)
    return {DECLARED: True}


def _record(info: dict[Any, Any], change: Invalidation) -> None:
    if change.is_empty:
        return
    info[_PENDING] = info.get(_PENDING, NOTHING) | change
    _dispatch(change, publish=False)  # now: a concurrent lookup cannot store what it reads meanwhile


def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in WATCHED_TABLES or state.execution_options.get(DECLARED):
        return
    if state.is_insert and getattr(table, "name", None) == "sessions":
        return  # a new session is in no cache yet
    _record(state.session.info, Invalidation(everything=True))


def _after_commit(session: Session) -> None:
    # Nothing is forgotten on rollback: a savepoint rolled back must not lose what the statements before
    # it changed, and invalidating too much only costs a database read. A unit of work's session is
    # discarded after its transaction anyway.
    change = session.info.pop(_PENDING, None)
    if change is not None:
        _dispatch(change, publish=True)


def install() -> None:
    """Listen to every SQLAlchemy session of the process (idempotent; done at import)."""
    for name, listener in (
        ("do_orm_execute", _on_execute),
        ("after_commit", _after_commit),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


install()

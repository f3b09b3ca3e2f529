"""The composition root: the only module that knows every package. ``create_app(settings)`` builds every
long-lived object once, stores it under a typed AppKey, mounts each package's routes, and closes everything
on shutdown through ``cleanup_ctx``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from aiohttp import web

import web as web_package
from records.activity import routes as activity_routes
from records.blobs import LocalBlobStore
from records.crypto import CryptoError, KeyFileError, LocalKeyring, ReloadingKeyring, generate_key_file
from records.documents import pages as documents_pages
from records.documents import routes as documents_routes
from records.reports import expertise_routes as reports_expertise_routes
from records.reports import pages as reports_pages
from records.reports import routes as reports_routes
from records.reports.outbox import FileOutbox
from records.residents import pages as residents_pages
from records.residents import routes as residents_routes
from scheduling import attachments_routes, notifications_routes
from scheduling import pages as scheduling_pages
from scheduling import routes as scheduling_routes
from scheduling.expertise import attachments_routes as expertise_attachments_routes
from scheduling.expertise import pages as expertise_pages
from scheduling.expertise import routes as expertise_routes
from scheduling.notifications_service import send_due_reminders
from signalling import conntest_routes, invitations_routes, recordings_routes
from signalling import routes as signalling_routes
from signalling import service as call_service
from signalling.conntest import CONNTEST_PEERS, EchoPeers
from signalling.journal import EndReason
from signalling.model import RoomRules
from signalling.rooms import Hub, LocalPresence, PgPresence
from signalling.service import CallConfig
from signalling.tokens import JoinTokens, load_signing_key
from teleconsult import health, i18n, openapi
from teleconsult.bus import BUS, bus_for, postgres_dsn
from teleconsult.clock import Clock, SystemClock
from teleconsult.db import UnitOfWork, create_engine, create_session_factory
from teleconsult.demo import DEMO_EHPAD_NAMES
from teleconsult.demo_history import seed_demo_history
from teleconsult.demo_reports import seed_demo_reports
from teleconsult.demo_residents import demo_ehpad_ids, seed_demo_residents
from teleconsult.demo_schedule import seed_demo_schedule
from teleconsult.i18n import Catalogues
from teleconsult.identity import routes as identity_routes
from teleconsult.identity.model import SessionPolicy, ThrottleRule
from teleconsult.identity.passwords import Passwords
from teleconsult.identity.principal_cache import CHANNEL as PRINCIPALS_CHANNEL
from teleconsult.identity.principal_cache import PrincipalCache
from teleconsult.identity.service import LoginSettings
from teleconsult.identity.store import IdentityStore
from teleconsult.identity.totp import TotpBox
from teleconsult.keys import (
    BLOB_STORE,
    CALL_CONFIG,
    CALL_HUB,
    CATALOGUES,
    CLOCK,
    ENGINE,
    KEYRING,
    LOGIN_SETTINGS,
    MAILER,
    PASSWORDS,
    RENDERER,
    ROUTE_SPECS,
    SESSION_FACTORY,
    SETTINGS,
    TOTP_BOX,
)
from teleconsult.mail import build_mailer
from teleconsult.middleware import MIDDLEWARES, PRINCIPAL_CACHE, security_headers
from teleconsult.rendering import Renderer
from teleconsult.routing import mount, mount_static
from teleconsult.settings import Settings
from web import routes as web_routes
from web.labels import TEMPLATE_GLOBALS

log = logging.getLogger("teleconsult.app")

WEB_DIR = Path(web_package.__file__).parent
SESSION_SWEEP_INTERVAL = 3600.0
#: How often the key file is read again, so that new data keys are wrapped by the KEK a rotation made current.
KEYRING_REFRESH_INTERVAL = 60.0


def login_settings(settings: Settings) -> LoginSettings:
    lock = timedelta(minutes=settings.login_max_lock_minutes)
    return LoginSettings(
        sessions=SessionPolicy(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        ),
        pair_rule=ThrottleRule(free_failures=settings.login_max_failures, max_lock=lock),
        address_rule=ThrottleRule(free_failures=settings.login_address_max_failures, max_lock=lock),
        account_rule=ThrottleRule(
            free_failures=settings.login_account_max_failures, max_lock=lock, escalate=False
        ),
        second_factor_roles=settings.totp_required_roles,
    )


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS].sqlalchemy_url)
    app[ENGINE] = engine
    app[SESSION_FACTORY] = create_session_factory(engine)
    yield
    await engine.dispose()


async def _sweep_sessions(app: web.Application) -> None:
    """Delete sessions that can no longer be used, every hour, so the table does not grow for ever."""
    while True:
        await asyncio.sleep(SESSION_SWEEP_INTERVAL)
        policy = app[LOGIN_SETTINGS].sessions
        cutoff = app[CLOCK].now() - max(policy.idle, policy.absolute)
        try:
            now = app[CLOCK].now()
            async with UnitOfWork(app[SESSION_FACTORY]) as uow:
                store = uow.store(IdentityStore)
                deleted = await store.delete_sessions_before(cutoff)
                forgotten = now - app[LOGIN_SETTINGS].pair_rule.forget_after
                counters = await store.delete_stale_throttles(forgotten, now)
                await uow.commit()
            log.info(
                "expired sessions and login counters deleted",
                extra={"sessions": deleted, "counters": counters},
            )
        except Exception:
            log.exception("session sweep failed; will retry")


async def _demo_residents(app: web.Application) -> AsyncIterator[None]:
    """``teleconsult demo``: give the demo care homes their fictitious residents at the first start. The
    command seeds the territory before the health-data keys are loaded; the residents need those keys."""
    session_factory = app[SESSION_FACTORY]

    def new_uow() -> UnitOfWork:
        return UnitOfWork(session_factory)

    ehpad_ids = await demo_ehpad_ids(new_uow, DEMO_EHPAD_NAMES)
    added = await seed_demo_residents(new_uow, app[KEYRING], ehpad_ids, app[CLOCK].now())
    if added:
        log.info("demo residents created", extra={"residents": added, "care_homes": len(ehpad_ids)})
    booked = await seed_demo_schedule(new_uow, app[KEYRING], app[CLOCK].now())
    if booked:
        log.info("demo schedule created", extra={"appointments": booked})
    history = await seed_demo_history(new_uow, app[KEYRING], app[CLOCK].now())
    if history:
        log.info("demo history created", extra={"appointments": history})
    written = await seed_demo_reports(new_uow, app[KEYRING], app[CLOCK].now())
    if written:
        log.info("demo reports created", extra={"reports": written})
    yield


async def _refresh_keyring(app: web.Application) -> None:
    """Read the health-data keys again every minute (``teleconsult keys rotate`` changes them while the
    service runs; reads of keys wrapped by an unknown KEK already reload at once)."""
    while True:
        await asyncio.sleep(KEYRING_REFRESH_INTERVAL)
        try:
            if await asyncio.to_thread(app[KEYRING].reload):
                log.info(
                    "new current key-encryption key loaded", extra={"kek": app[KEYRING].current_kek_id()}
                )
        except CryptoError as exc:
            log.error("key file unreadable; the keys already loaded stay in use", extra={"code": exc.code})


async def _send_reminders(app: web.Application) -> None:
    """Create (and e-mail) the reminders that are due, every ``reminder_interval_seconds``. Several
    processes may run this at once: each reminder is created, and mailed, by one of them only."""
    settings = app[SETTINGS]
    link = settings.base_url.rstrip("/") + str(app.router["notifications"].url_for())
    language = settings.language
    while True:
        await asyncio.sleep(settings.reminder_interval_seconds)
        try:
            with i18n.active_language(language, app[CATALOGUES].get(language)):
                await send_due_reminders(
                    UnitOfWork(app[SESSION_FACTORY]),
                    app[MAILER],
                    settings.reminder_minutes,
                    app[CLOCK].now(),
                    link,
                )
        except Exception:
            log.exception("reminder sweep failed; will retry")


def call_config(settings: Settings) -> CallConfig:
    """The video rooms' configuration; reads (in demo and test mode: creates) the join tokens' key file."""
    key = load_signing_key(settings.call_signing_key_path, generate=settings.is_demo)
    return CallConfig(
        tokens=JoinTokens(key, issuer=settings.base_url),
        rules=RoomRules(
            opens_before=timedelta(minutes=settings.call_opens_minutes_before),
            grace_after=timedelta(minutes=settings.call_grace_minutes),
        ),
        stun_urls=settings.stun_urls,
        turn_urls=settings.turn_urls,
        turn_secret=settings.turn_secret,
        turn_ttl=timedelta(seconds=settings.turn_ttl_seconds),
    )


async def _bus(app: web.Application) -> AsyncIterator[None]:
    """The processes' bus (ADR 0015): PostgreSQL LISTEN/NOTIFY, or in-process on SQLite. It carries the
    video rooms' messages and the principal cache's invalidations (ADR 0014) between processes."""
    bus = bus_for(app[SETTINGS].sqlalchemy_url)
    await bus.start()
    app[BUS] = bus
    cache = app[PRINCIPAL_CACHE]
    subscription = bus.subscribe(PRINCIPALS_CHANNEL, cache.receive)
    cache.set_bus(bus)
    yield
    cache.set_bus(None)
    subscription.cancel()
    await bus.stop()


async def _call_rooms(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[CALL_CONFIG] = await asyncio.to_thread(call_config, settings)
    dsn = postgres_dsn(settings.sqlalchemy_url)
    presence = PgPresence(dsn) if dsn is not None else LocalPresence()
    if isinstance(presence, PgPresence):
        await presence.start()
    journal_ends: set[asyncio.Task[None]] = set()

    def on_end(room_id: UUID, reason: EndReason) -> None:
        """A room emptied after a drop that did not come back: the end goes into its journal."""
        uow = UnitOfWork(app[SESSION_FACTORY])
        task = asyncio.create_task(
            call_service.record_end(uow, room_id, reason, app[CLOCK].now()), name="call-journal-end"
        )
        journal_ends.add(task)
        task.add_done_callback(_journal_end_done(journal_ends))

    hub = Hub(
        app[BUS],
        settings.call_rejoin_seconds,
        presence,
        check_seconds=settings.call_heartbeat_seconds / 2,
        on_end=on_end,
    )
    hub.start()
    app[CALL_HUB] = hub
    yield
    await hub.stop()
    with contextlib.suppress(TimeoutError):  # the other processes hear this one's participants dropped
        await asyncio.wait_for(app[BUS].sync(), timeout=2)
    if isinstance(presence, PgPresence):
        await presence.stop()
    await asyncio.gather(*journal_ends, return_exceptions=True)


def _journal_end_done(pending: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the end of a call could not be journaled", exc_info=task.exception())

    return done


async def _conntest_peers(app: web.Application) -> AsyncIterator[None]:
    """The connection test's echo peers (signalling/conntest.py): every one still open is closed at
    shutdown."""
    settings = app[SETTINGS]
    app[CONNTEST_PEERS] = EchoPeers(settings.conntest_timeout_seconds, settings.conntest_max_per_user)
    yield
    await app[CONNTEST_PEERS].close_all()


async def _close_calls(app: web.Application) -> None:
    """At shutdown, before the handlers are waited for: every call socket is closed (1001)."""
    if CALL_HUB in app:
        app[CALL_HUB].close()


async def _password_workers(app: web.Application) -> AsyncIterator[None]:
    yield
    app[PASSWORDS].close()


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(_sweep_sessions(app), name="session-sweep"),
        asyncio.create_task(_refresh_keyring(app), name="keyring-refresh"),
        asyncio.create_task(_send_reminders(app), name="reminders"),
    ]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def load_keyring(settings: Settings) -> LocalKeyring:
    """The health-data keys: from ``keyring_json`` if set, else the key file. In demo and test mode a
    missing key file is generated, marked demo (production refuses to start with it)."""
    if settings.keyring_json:
        return LocalKeyring.from_json(settings.keyring_json)
    path = settings.key_path
    if settings.is_demo and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            generate_key_file(path, demo=True)
        except KeyFileError:
            if not path.exists():  # another process may have written it meanwhile: then read that one
                raise
    return LocalKeyring.from_file(path)


def create_app(
    settings: Settings, clock: Clock | None = None, passwords: Passwords | None = None
) -> web.Application:
    app = web.Application(
        middlewares=[*MIDDLEWARES, notifications_routes.unread_badge], client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[PASSWORDS] = passwords or Passwords(fast=settings.mode == "test")
    app[TOTP_BOX] = TotpBox(settings.secret_key)
    app[KEYRING] = ReloadingKeyring(lambda: load_keyring(settings))
    app[BLOB_STORE] = LocalBlobStore(settings.blob_dir)
    app[reports_routes.REPORT_OUTBOX] = FileOutbox(settings.data_dir / "outbox" / "reports.jsonl")
    app[expertise_routes.ANSWER_FOLLOW_UP] = reports_expertise_routes.after_answer
    app[MAILER] = build_mailer(settings)
    app[LOGIN_SETTINGS] = login_settings(settings)
    # Invalidations reach the other processes through the bus (_bus below).
    app[PRINCIPAL_CACHE] = PrincipalCache()
    app[CATALOGUES] = Catalogues(WEB_DIR / "translations")
    app[RENDERER] = Renderer(WEB_DIR / "templates", {"is_demo": settings.is_demo, **TEMPLATE_GLOBALS})
    app[ROUTE_SPECS] = {}
    app.cleanup_ctx.append(_database)
    if settings.mode == "demo":
        app.cleanup_ctx.append(_demo_residents)
    app.cleanup_ctx.append(_bus)
    app.cleanup_ctx.append(_call_rooms)
    app.cleanup_ctx.append(_conntest_peers)
    app.on_shutdown.append(_close_calls)
    app.cleanup_ctx.append(_password_workers)
    app.cleanup_ctx.append(_background_tasks)
    app.on_response_prepare.append(security_headers)
    for routes in (
        health.routes,
        openapi.routes,
        identity_routes.routes,
        residents_routes.routes,
        scheduling_routes.routes,
        documents_routes.routes,
        notifications_routes.routes,
        expertise_routes.routes,
        expertise_pages.routes,
        signalling_routes.routes,
        web_routes.routes,
    ):
        mount(app, routes)
    mount(app, residents_pages.routes)
    mount(app, scheduling_pages.routes)
    mount(app, attachments_routes.routes)
    mount(app, expertise_attachments_routes.routes)
    mount(app, documents_pages.routes)
    recordings_routes.install(app)
    mount(app, conntest_routes.routes)
    mount(app, invitations_routes.routes)
    mount(app, activity_routes.routes)
    mount(app, reports_routes.routes)
    mount(app, reports_pages.routes)
    mount(app, reports_expertise_routes.routes)
    mount_static(app, "/static", WEB_DIR / "static")
    return app

"""The ``teleconsult`` command: a thin shell over create_app and the service functions."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from records.activity import routes as activity_routes
from records.activity import service as activity_service
from records.activity.model import make_period, parse_month
from records.activity.report import monthly_pdf
from records.audit.model import VerifyResult
from records.audit.service import verify as verify_audit_chain
from records.crypto import (
    KeyFileError,
    KeyringStatus,
    LocalKeyring,
    generate_key_file,
    rotate_key_file,
)
from records.crypto.rotation import KekUsage, RotationError, RotationProgress
from records.retention.model import RetentionKind, RetentionPeriods, RetentionResult
from records.retention.service import DEFAULT_BATCH_SIZE as DEFAULT_RETENTION_BATCH
from records.retention.service import run_retention, tables_to_scrub
from records.rotation.service import (
    DEFAULT_BATCH_SIZE,
    KeysReport,
    keys_report,
    refuse_if_unfinished,
    rewrap_all,
)
from teleconsult import i18n
from teleconsult.app import WEB_DIR, create_app
from teleconsult.clock import SystemClock
from teleconsult.db import UnitOfWork, create_engine, create_session_factory, scrub_deleted
from teleconsult.demo import DEMO_ACCOUNTS, seed_demo
from teleconsult.errors import DomainError, InvalidInput
from teleconsult.i18n import N_, Catalogues
from teleconsult.identity import service
from teleconsult.identity.model import EstablishmentKind, Role, Specialty, User, check_finess
from teleconsult.identity.passwords import Passwords
from teleconsult.identity.store import IdentityStore
from teleconsult.logs import configure_logging
from teleconsult.migrate import upgrade
from teleconsult.rendering import Renderer
from teleconsult.settings import Settings, SettingsError, load_settings, production_problems
from web.labels import TEMPLATE_GLOBALS

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    config = overrides.pop("config", None)
    try:
        return load_settings(os.environ, Path(config) if config else None, **overrides)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


async def _with_uow(settings: Settings, use: Callable[[Callable[[], UnitOfWork]], Awaitable[T]]) -> T:
    engine = create_engine(settings.sqlalchemy_url)
    try:
        sessions = create_session_factory(engine)
        return await use(lambda: UnitOfWork(sessions))
    finally:
        await engine.dispose()


async def _migrate(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.sqlalchemy_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _serve(settings: Settings) -> None:
    configure_logging(settings.json_logs, settings.log_level)
    settings.blob_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    web.run_app(app, host=settings.host, port=settings.port, shutdown_timeout=10, print=None, access_log=None)


host_option = click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
port_option = click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Directory for the SQLite file and the blobs (default ./teleconsult-data).",
)
config_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Optional TOML settings file (TELECONSULT_* variables take precedence).",
)


@click.group()
def main() -> None:
    """teleconsult: teleconsultation and tele-expertise between care homes (EHPAD) and the hospital."""


@main.command()
@host_option
@port_option
@data_dir_option
@click.option("--reset", is_flag=True, help="Delete the demo data directory and build it anew.")
@click.option("--with-2fa", is_flag=True, help="Require the TOTP second factor as in production.")
def demo(host: str | None, port: int | None, data_dir: Path | None, reset: bool, with_2fa: bool) -> None:
    """Start the service on SQLite with a fictitious territory and one demo account per role."""
    settings = _settings(mode="demo", host=host, port=port, data_dir=data_dir, totp_in_demo=with_2fa or None)
    if settings.database_url:
        raise click.ClickException(
            "teleconsult demo runs on its own SQLite file: unset TELECONSULT_DATABASE_URL"
        )
    if reset and settings.data_dir.exists():
        if not (settings.data_dir / "teleconsult.sqlite3").exists() and any(settings.data_dir.iterdir()):
            raise click.ClickException(
                f"{settings.data_dir} does not look like a demo data directory; not deleted"
            )
        shutil.rmtree(settings.data_dir)
    _run(lambda: _migrate(settings))
    if not settings.keyring_json and not settings.key_path.exists():
        generate_key_file(settings.key_path, demo=True)  # marked demo: production refuses it

    async def seed_if_empty(new_uow: Callable[[], UnitOfWork]) -> bool:
        async with new_uow() as uow:
            if await uow.store(IdentityStore).count_users():
                return False
        await seed_demo(new_uow, Passwords(), SystemClock().now())
        return True

    seeded = _run(lambda: _with_uow(settings, seed_if_empty))
    url = f"http://{settings.host}:{settings.port}"
    click.echo("")
    click.echo(f"teleconsult (démo) : {url}" + ("  — données de démonstration créées" if seeded else ""))
    click.echo(f"Données : {settings.data_dir.resolve()}")
    click.echo("Comptes de démonstration (identifiant / mot de passe) :")
    for account in DEMO_ACCOUNTS:
        click.echo(f"  {account.role.value:<13} {account.username:<20} {account.password}")
    if settings.totp_required_roles:
        click.echo("Second facteur TOTP exigé pour : " + ", ".join(sorted(settings.totp_required_roles)))
    click.echo("Arrêt : Ctrl+C")
    click.echo("")
    _serve(settings)


def _keyring_problems(settings: Settings) -> list[str]:
    """The health-data keys must be there, and not the demo's."""
    try:
        if settings.keyring_json:
            keyring = LocalKeyring.from_json(settings.keyring_json)
        else:
            keyring = LocalKeyring.from_file(settings.key_path)
    except KeyFileError as exc:
        return [f"clés des données de santé : {exc.reason} (teleconsult keys generate)"]
    if keyring.is_demo:
        return ["clés des données de santé : ce sont les clés de la démonstration"]
    return []


@main.command()
@host_option
@port_option
@data_dir_option
@config_option
def serve(host: str | None, port: int | None, data_dir: Path | None, config: str | None) -> None:
    """Start the service with the configured settings (production refuses unsafe ones)."""
    settings = _settings(host=host, port=port, data_dir=data_dir, config=config, default_mode="production")
    if settings.mode == "test":
        raise click.ClickException("le mode test (hachage des mots de passe affaibli) ne sert qu'aux tests")
    if settings.mode == "production":
        problems = production_problems(settings) + _keyring_problems(settings)
        if problems:
            click.echo("teleconsult refuse de démarrer en production :", err=True)
            for problem in problems:
                click.echo(f"  - {problem}", err=True)
            sys.exit(2)
    _serve(settings)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@data_dir_option
@config_option
def db_upgrade(data_dir: Path | None, config: str | None) -> None:
    """Apply the migrations up to the latest version."""
    settings = _settings(data_dir=data_dir, config=config)
    _run(lambda: _migrate(settings))
    click.echo("Base de données à jour.")


def _domain_call(settings: Settings, call: Callable[[], Awaitable[T]]) -> T:
    """Run a use case; a domain error becomes a one-line message in the configured language."""
    _ = Catalogues(WEB_DIR / "translations").get(settings.language).gettext
    try:
        return _run(call)
    except InvalidInput as exc:
        raise click.ClickException("; ".join(f"{k}: {_(v)}" for k, v in exc.fields.items())) from exc
    except DomainError as exc:
        raise click.ClickException(_(exc.text)) from exc


@main.group()
def establishment() -> None:
    """Create establishments (hospitals, care homes, territory coordination)."""


@establishment.command("create")
@click.option("--kind", type=click.Choice([k.value for k in EstablishmentKind]), required=True)
@click.option("--name", required=True)
@click.option("--finess", default=None, help="9 characters; required for a care home.")
@click.option("--address", default="")
@click.option("--beds", type=int, default=None, help="Number of beds (care homes).")
@data_dir_option
@config_option
def establishment_create(
    kind: str,
    name: str,
    finess: str | None,
    address: str,
    beds: int | None,
    data_dir: Path | None,
    config: str | None,
) -> None:
    """Create an establishment and print its id (care homes need --finess and --beds)."""
    settings = _settings(data_dir=data_dir, config=config)

    async def create(new_uow: Callable[[], UnitOfWork]) -> uuid.UUID:
        checked = check_finess(finess) if finess else None
        created = await service.create_establishment(
            new_uow(), None, EstablishmentKind(kind), name, checked, address, beds, SystemClock().now()
        )
        return created.id

    click.echo(str(_domain_call(settings, lambda: _with_uow(settings, create))))


@main.group()
def user() -> None:
    """Create and deactivate accounts."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--name", "display_name", required=True, help="First and last name.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--establishment", "establishment_ref", required=True, help="Establishment id or FINESS number."
)
@click.option("--specialty", "specialties", multiple=True, type=click.Choice([s.value for s in Specialty]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@data_dir_option
@config_option
def user_create(
    username: str,
    display_name: str,
    role: str,
    establishment_ref: str,
    specialties: tuple[str, ...],
    password: str,
    data_dir: Path | None,
    config: str | None,
) -> None:
    """Create an account in an establishment and print its id (the password is asked for, hidden)."""
    settings = _settings(data_dir=data_dir, config=config)

    async def create(new_uow: Callable[[], UnitOfWork]) -> uuid.UUID:
        async with new_uow() as uow:
            establishments = await uow.store(IdentityStore).list_establishments()
        match = [e for e in establishments if str(e.id) == establishment_ref or e.finess == establishment_ref]
        if not match:
            raise InvalidInput({"establishment": N_("No establishment with this id or FINESS number.")})
        new = User(
            id=uuid.uuid4(),
            username=username,
            display_name=display_name,
            role=Role(role),
            establishment_id=match[0].id,
            specialties=frozenset(Specialty(s) for s in specialties),
        )
        created = await service.create_user(new_uow(), Passwords(), None, new, password, SystemClock().now())
        return created.id

    click.echo(str(_domain_call(settings, lambda: _with_uow(settings, create))))


@user.command("deactivate")
@click.argument("username")
@data_dir_option
@config_option
def user_deactivate(username: str, data_dir: Path | None, config: str | None) -> None:
    """The account can no longer log in; its open sessions end at once."""
    settings = _settings(data_dir=data_dir, config=config)

    async def deactivate(new_uow: Callable[[], UnitOfWork]) -> None:
        found = await service.find_user(new_uow(), username)
        if found is None:
            raise InvalidInput({"username": N_("No account with this login.")})
        await service.deactivate_user(new_uow(), None, found.id, SystemClock().now())

    _domain_call(settings, lambda: _with_uow(settings, deactivate))
    click.echo(f"Compte {username} désactivé.")


@user.command("reset-2fa")
@click.argument("username")
@data_dir_option
@config_option
def user_reset_second_factor(username: str, data_dir: Path | None, config: str | None) -> None:
    """Forget the account's authenticator app (lost phone, changed secret key): its sessions end and the
    person enrols a new app at the next login."""
    settings = _settings(data_dir=data_dir, config=config)

    async def reset(new_uow: Callable[[], UnitOfWork]) -> None:
        found = await service.find_user(new_uow(), username)
        if found is None:
            raise InvalidInput({"username": N_("No account with this login.")})
        await service.reset_second_factor(new_uow(), None, found.id, SystemClock().now())

    _domain_call(settings, lambda: _with_uow(settings, reset))
    click.echo(f"Second facteur de {username} réinitialisé.")


@main.group()
def keys() -> None:
    """The key-encryption keys that protect the health data."""


def _show_keys(status: KeyringStatus, usage: list[KekUsage] | None = None) -> None:
    counts = {u.kek_id: u.data_keys for u in usage or []}
    for kek in status.keks:
        mark = "*" if kek.is_current else " "
        wraps = f"  {counts[kek.id]} clé(s) de données" if kek.id in counts else ""
        click.echo(f"{mark} {kek.id}  version {kek.version}  créée {kek.created.isoformat()}{wraps}")
    for missing in (u for u in usage or [] if not u.in_keyring):
        click.echo(
            f"! {missing.kek_id}  ABSENTE du fichier de clés  "
            f"{missing.data_keys} clé(s) de données illisibles"
        )
    click.echo(
        f"{status.count} clé(s), courante : {status.current_id}"
        + (" (DÉMONSTRATION)" if status.is_demo else "")
    )


def _keys_call(call: Callable[[], KeyringStatus]) -> None:
    try:
        _show_keys(call())
    except KeyFileError as exc:
        raise click.ClickException(exc.reason) from exc


def _load_keys(settings: Settings) -> LocalKeyring:
    """The keys as configured (``keyring_json`` or the key file); never generated here."""
    try:
        if settings.keyring_json:
            return LocalKeyring.from_json(settings.keyring_json)
        return LocalKeyring.from_file(settings.key_path)
    except KeyFileError as exc:
        raise click.ClickException(exc.reason) from exc


def _rotation_call(settings: Settings, use: Callable[[Callable[[], UnitOfWork]], Awaitable[T]]) -> T:
    try:
        return _run(lambda: _with_uow(settings, use))
    except RotationError as exc:
        raise click.ClickException(f"{exc} ({exc.code})") from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"base de données illisible ou pas à jour (teleconsult db upgrade) : {exc.__class__.__name__}"
        ) from exc


def _show_progress(job: RotationProgress) -> None:
    click.echo(f"  lot {job.batches} : {job.rewrapped} clé(s) ré-enveloppée(s), {job.skipped} déjà à jour")


def _rewrap(settings: Settings, batch_size: int) -> None:
    """Run or resume the re-wrap job to the current KEK, then say what each KEK still wraps."""
    keyring = _load_keys(settings)
    click.echo(f"Ré-enveloppement des clés de données vers la clé {keyring.current_kek_id()}…")

    async def run(new_uow: Callable[[], UnitOfWork]) -> tuple[RotationProgress, KeysReport]:
        job = await rewrap_all(new_uow, keyring, SystemClock(), batch_size, _show_progress)
        return job, await keys_report(new_uow(), keyring.status())

    job, report = _rotation_call(settings, run)
    click.echo(
        f"Terminé : {job.rewrapped} clé(s) ré-enveloppée(s), {job.skipped} déjà à jour (tâche {job.id})."
    )
    _show_keys(keyring.status(), report.usage)
    left = sum(u.data_keys for u in report.usage if not u.is_current)
    if left:
        click.echo(
            f"{left} clé(s) de données restent sous une ancienne clé (écrites pendant la rotation par un "
            "service qui n'avait pas encore relu le fichier de clés) : relancez teleconsult keys rewrap.",
            err=True,
        )
    else:
        click.echo("Plus aucune clé de données n'utilise les anciennes clés : elles peuvent être retirées.")


batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Data keys re-wrapped per transaction.",
)


@keys.command("generate")
@data_dir_option
@config_option
def keys_generate(data_dir: Path | None, config: str | None) -> None:
    """Create the key file (mode 0600); refuses to overwrite an existing one."""
    settings = _settings(data_dir=data_dir, config=config)
    settings.key_path.parent.mkdir(parents=True, exist_ok=True)
    _keys_call(lambda: generate_key_file(settings.key_path))


@keys.command("rotate")
@batch_size_option
@data_dir_option
@config_option
def keys_rotate(batch_size: int, data_dir: Path | None, config: str | None) -> None:
    """Add a new current key-encryption key, then re-wrap every data key under it (online, in batches)."""
    settings = _settings(data_dir=data_dir, config=config)
    if settings.keyring_json:
        raise click.ClickException(
            "les clés viennent de TELECONSULT_KEYRING_JSON : faites la rotation là où elles sont gardées, "
            "mettez la variable à jour, puis lancez teleconsult keys rewrap"
        )

    async def check(new_uow: Callable[[], UnitOfWork]) -> None:
        await refuse_if_unfinished(new_uow())

    _rotation_call(settings, check)
    _keys_call(lambda: rotate_key_file(settings.key_path))
    _rewrap(settings, batch_size)


@keys.command("rewrap")
@batch_size_option
@data_dir_option
@config_option
def keys_rewrap(batch_size: int, data_dir: Path | None, config: str | None) -> None:
    """Resume an interrupted re-wrap, or re-wrap to the current key every data key still under an old one."""
    settings = _settings(data_dir=data_dir, config=config)
    _rewrap(settings, batch_size)


@keys.command("status")
@data_dir_option
@config_option
def keys_status(data_dir: Path | None, config: str | None) -> None:
    """List the key-encryption keys, how many data keys each wraps, and any unfinished re-wrap."""
    settings = _settings(data_dir=data_dir, config=config)
    status = _load_keys(settings).status()

    async def report(new_uow: Callable[[], UnitOfWork]) -> KeysReport:
        return await keys_report(new_uow(), status)

    try:
        found = _run(lambda: _with_uow(settings, report))
    except SQLAlchemyError as exc:
        _show_keys(status)
        raise click.ClickException(
            f"base de données illisible, usage des clés inconnu ({exc.__class__.__name__})"
        ) from exc
    _show_keys(status, found.usage)
    job = found.unfinished
    if job is not None:
        click.echo(
            f"Rotation INACHEVÉE : tâche {job.id} vers la clé {job.target_kek_id}, {job.processed} clé(s) "
            "traitée(s) ; reprendre avec teleconsult keys rewrap"
        )


@main.group()
def retention() -> None:
    """Delete, or crypto-shred, what has been kept for its whole retention period."""


_KIND_LABELS = {
    RetentionKind.MEDICAL_RECORDS: "dossiers médicaux",
    RetentionKind.TECHNICAL_DATA: "données techniques",
    RetentionKind.RECORDINGS: "enregistrements",
}
_COUNT_LABELS = {
    "records": "dossier(s)",
    "sessions": "session(s)",
    "login_counters": "compteur(s) de connexion",
}


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Print what is due and change nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_RETENTION_BATCH,
    show_default=True,
    help="Records shredded per transaction.",
)
@data_dir_option
@config_option
def retention_run(dry_run: bool, batch_size: int, data_dir: Path | None, config: str | None) -> None:
    """Crypto-shred the medical records and delete the technical data whose retention period has run out."""
    settings = _settings(data_dir=data_dir, config=config)
    periods = RetentionPeriods(
        settings.retention_medical_records_years,
        settings.retention_technical_months,
        settings.retention_recordings_days,
    )

    async def run() -> tuple[list[RetentionResult], bool | None]:
        engine = create_engine(settings.sqlalchemy_url)
        try:
            sessions = create_session_factory(engine)
            results = await run_retention(
                lambda: UnitOfWork(sessions),
                periods,
                SystemClock().now(),
                dry_run=dry_run,
                batch_size=batch_size,
            )
            tables = [] if dry_run else tables_to_scrub(results)
            return results, (await scrub_deleted(engine, tables) if tables else None)
        finally:
            await engine.dispose()

    try:
        results, scrubbed = _run(run)
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"base de données illisible ou pas à jour (teleconsult db upgrade) : {exc.__class__.__name__}"
        ) from exc
    if dry_run:
        click.echo("Simulation : rien n'est modifié.")
    verb = "à supprimer" if dry_run else "supprimé(s)"
    for result in results:
        counts = ", ".join(f"{n} {_COUNT_LABELS.get(what, what)}" for what, n in result.counts.items())
        click.echo(
            f"{_KIND_LABELS[result.kind]} (dernière activité avant le {result.cutoff.date().isoformat()}) : "
            f"{counts} {verb}"
        )
        for record_id in result.ids:
            click.echo(f"  {record_id}")
    if scrubbed is False:
        click.echo(
            "Le journal WAL de SQLite n'a pas pu être vidé (lecteurs en cours) : relancez la commande plus "
            "tard pour effacer les dernières copies des clés détruites.",
            err=True,
        )


@main.group()
def audit() -> None:
    """The hash-chained audit trail."""


@audit.command("verify")
@data_dir_option
@config_option
def audit_verify(data_dir: Path | None, config: str | None) -> None:
    """Check the whole audit chain; exit code 1 and the first broken link when it is broken."""
    settings = _settings(data_dir=data_dir, config=config)

    async def check(new_uow: Callable[[], UnitOfWork]) -> VerifyResult:
        return await verify_audit_chain(new_uow())

    result = _run(lambda: _with_uow(settings, check))
    if result.ok:
        click.echo(f"Journal d'audit intègre : {result.count} événement(s) vérifié(s).")
        return
    click.echo(
        f"Journal d'audit ROMPU à l'événement {result.first_broken_seq} "
        f"({result.count} événement(s) lus) : {result.reason}",
        err=True,
    )
    sys.exit(1)


@main.group()
def report() -> None:
    """Activity reports for the hospital and the regional health agency (aggregates only)."""


@report.command("monthly")
@click.option("--month", required=True, help="The month, as YYYY-MM (for example 2027-01).")
@click.option(
    "--establishment", "establishment_ref", default=None, help="One care home (id or FINESS); default: all."
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="PDF file to write."
)
@data_dir_option
@config_option
def report_monthly(
    month: str, establishment_ref: str | None, output: Path | None, data_dir: Path | None, config: str | None
) -> None:
    """Write the monthly activity report (PDF), the same as the coordinators' page gives; audited."""
    settings = _settings(data_dir=data_dir, config=config)
    catalogues = Catalogues(WEB_DIR / "translations")
    renderer = Renderer(WEB_DIR / "templates", {"is_demo": settings.is_demo, **TEMPLATE_GLOBALS})

    async def build(new_uow: Callable[[], UnitOfWork]) -> tuple[bytes, str]:
        chosen = parse_month(month)
        now = SystemClock().now()
        period = make_period(chosen, chosen)
        with i18n.active_language(settings.language, catalogues.get(settings.language)):
            figures = await activity_service.activity(
                new_uow(), None, period, establishment_ref, activity_routes.savings_rules(settings)
            )
            pdf = await monthly_pdf(renderer, figures, now)
        await activity_service.record_export(new_uow(), None, "pdf", period, figures.selected, now)
        return pdf, f"activite-{chosen}.pdf"

    pdf, name = _domain_call(settings, lambda: _with_uow(settings, build))
    target = output or Path(name)
    target.write_bytes(pdf)
    click.echo(f"Rapport mensuel écrit : {target}")


if __name__ == "__main__":
    main()

"""One frozen Settings object, read from TELECONSULT_* environment variables and an optional TOML file.

Precedence: built-in default < TOML file (``TELECONSULT_CONFIG`` or ``--config``) < environment variable.
Every field has a default that is safe for ``teleconsult demo``; :func:`production_problems` lists what a
production deployment must change before ``teleconsult serve`` agrees to start.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from teleconsult.clients import parse_networks

Mode = Literal["demo", "production", "test"]

#: The secret shipped with the source code. Anyone can read it, so production refuses it.
DEMO_SECRET_KEY = "demo-secret-key-not-for-production-use-0000000000"  # noqa: S105 - public on purpose

ENV_PREFIX = "TELECONSULT_"

#: The role names of teleconsult.identity.model.Role (kept here: settings sit below every domain package).
ROLE_NAMES = ("ide", "idec", "medecin_co", "expert", "secretariat", "coordinateur", "admin")


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service can be told. Documented field by field in docs/configuration.md."""

    mode: Mode = "demo"
    data_dir: Path = Path("teleconsult-data")
    database_url: str = ""  # empty: SQLite file under data_dir
    secret_key: str = DEMO_SECRET_KEY
    base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    language: str = "fr"
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    #: Roles that must pass a TOTP second factor. Hospital professionals and admins by default.
    totp_roles: tuple[str, ...] = ("expert", "secretariat", "coordinateur", "admin", "medecin_co")
    totp_in_demo: bool = False
    login_max_failures: int = 5  # one login from one address: hard lock with growing waits
    login_address_max_failures: int = 30  # one address, whatever the login
    login_account_max_failures: int = 50  # one login from anywhere: the count restarts after each lock
    login_max_lock_minutes: int = 15
    max_body_bytes: int = 1024 * 1024
    #: Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For is believed for the client address.
    trusted_proxies: tuple[str, ...] = ()
    log_format: Literal["auto", "text", "json"] = "auto"  # auto: JSON lines in production, text otherwise
    log_level: str = "INFO"
    # Video calls (signalling/): ICE servers given to browsers, and the rooms' rules.
    #: STUN addresses (``stun:stun.example.org:3478``). Empty with empty TURN: host candidates only.
    stun_urls: tuple[str, ...] = ()
    #: TURN addresses, UDP and TLS on 443 (``turn:host:3478?transport=udp``, ``turns:host:443?...``).
    turn_urls: tuple[str, ...] = ()
    #: coturn's ``static-auth-secret`` (use-auth-secret): short-lived TURN credentials are derived from it.
    turn_secret: str = ""
    turn_ttl_seconds: int = 3600
    #: PEM file of the Ed25519 key that signs call join tokens. Empty: <data_dir>/call-signing-key.pem.
    call_signing_key_file: Path = Path("")
    #: A room opens this long before its appointment's start...
    call_opens_minutes_before: int = 15
    #: ... and closes this long after its end.
    call_grace_minutes: int = 30
    #: How long a dropped participant's seat waits for them to come back.
    call_rejoin_seconds: int = 60
    #: How often both ends send a heartbeat, and after how long a silent connection is dropped.
    call_heartbeat_seconds: int = 5
    call_silence_seconds: int = 15
    #: JSON key file of the health-data keys (records.crypto). Empty: <data_dir>/keys.json.
    key_file: Path = Path("")
    #: The key file's content itself (from a secrets manager), used instead of key_file when set.
    keyring_json: str = ""
    # Uploads of residents' documents (records.documents): checked while the body is read, and before any
    # image is decoded. The JSON and form bodies' cap (max_body_bytes) does not apply to them.
    upload_max_bytes: int = 20 * 1024 * 1024
    upload_max_pixels: int = 40_000_000

    # Retention (records/retention, ``teleconsult retention run``): how long each kind of data is kept after
    # its last activity before it is deleted or crypto-shredded.
    retention_medical_records_years: int = 20
    retention_technical_months: int = 12
    #: Recordings do not exist yet: read and checked, used once the video work adds them.
    retention_recordings_days: int = 30

    # Reminders and e-mail (scheduling/notifications_service.py, teleconsult/mail.py).
    #: How long before an appointment its reminders go out: "24h", "1h", "90m" (parsed to minutes).
    reminder_offsets: tuple[str, ...] = ("24h", "1h")
    reminder_interval_seconds: int = 60
    #: Empty: no e-mail at all (the demo); reminders stay in the app, the mails are only counted.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "teleconsult <no-reply@teleconsult.invalid>"
    smtp_timeout_seconds: int = 10
    # TURN relay, connection test, invited participants (signalling/conntest.py, signalling/invitations.py).
    #: Browsers use relayed (TURN) candidates only: hides the participants' addresses from each other, and
    #: lets the relay test prove the TURN path. Needs turn_urls.
    call_force_relay: bool = False
    #: A connection test's server-side echo peer is closed after this long, answered or not.
    conntest_timeout_seconds: int = 60
    #: Connection tests one user may run at once (each one is a server-side WebRTC peer).
    conntest_max_per_user: int = 2

    # Activity figures (records/activity): what one emergency transfer avoided saves.
    #: Ambulance round trip, daytime (DOMAIN.md: EUR 150).
    activity_ambulance_day_eur: int = 150
    #: Ambulance round trip, evenings (before 08:00 or from 20:00), weekends and public holidays
    #: (DOMAIN.md: EUR 200-250; the middle of that range).
    activity_ambulance_evening_eur: int = 225
    #: Care-home nurse time one emergency transfer takes (an assumption: see docs/configuration.md).
    activity_nurse_minutes_per_transfer: int = 90
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def sqlalchemy_url(self) -> str:
        """The URL SQLAlchemy connects to, with the async driver of each backend."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'teleconsult.sqlite3').resolve()}"
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "keys.json" if self.key_file == Path("") else self.key_file

    @property
    def call_signing_key_path(self) -> Path:
        if self.call_signing_key_file == Path(""):
            return self.data_dir / "call-signing-key.pem"
        return self.call_signing_key_file

    @property
    def is_demo(self) -> bool:
        return self.mode != "production"

    @property
    def secure_cookies(self) -> bool:
        return self.mode == "production"

    @property
    def json_logs(self) -> bool:
        return self.log_format == "json" or (self.log_format == "auto" and self.mode == "production")

    @property
    def totp_required_roles(self) -> frozenset[str]:
        if self.mode == "production" or self.totp_in_demo:
            return frozenset(self.totp_roles)
        return frozenset()

    @property
    def reminder_minutes(self) -> tuple[int, ...]:
        """The reminder offsets in minutes, largest first, without duplicates."""
        return tuple(sorted({parse_offset(offset) for offset in self.reminder_offsets}, reverse=True))

    @property
    def sends_mail(self) -> bool:
        return bool(self.smtp_host)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_OFFSET_UNITS = {"m": 1, "h": 60, "d": 24 * 60}
#: Reminders further ahead than this are refused (a typo such as "240h" would remind ten days before).
MAX_REMINDER_MINUTES = 7 * 24 * 60


def parse_offset(text: str) -> int:
    """ "24h" -> 1440, "90m" -> 90, "2d" -> 2880; ValueError for anything else (or out of range)."""
    value = text.strip().lower()
    unit = _OFFSET_UNITS.get(value[-1:]) if value else None
    if unit is None or not value[:-1].isdigit():
        raise ValueError(text)
    minutes = int(value[:-1]) * unit
    if not 0 < minutes <= MAX_REMINDER_MINUTES:
        raise ValueError(text)
    return minutes


def _coerce(name: str, raw: Any, target: Any) -> Any:
    """Turn a TOML or environment value into the type of the field's default."""
    try:
        if isinstance(target, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(target, int):
            return int(raw)
        if isinstance(target, Path):
            return Path(str(raw))
        if isinstance(target, tuple):
            if isinstance(raw, list | tuple):
                return tuple(str(item) for item in raw)
            return tuple(item.strip() for item in str(raw).split(",") if item.strip())
        return str(raw)
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}: valeur invalide {raw!r}") from exc


def load_settings(
    environ: Mapping[str, str], config_file: Path | None = None, default_mode: Mode = "demo", **overrides: Any
) -> Settings:
    """Build the settings from a TOML file, then the environment, then explicit overrides (CLI flags).
    ``default_mode`` is the mode when none is given: ``teleconsult serve`` asks for production, so that a
    forgotten TELECONSULT_MODE refuses to start with demo secrets rather than serve with them."""
    defaults = Settings()
    values: dict[str, Any] = {"mode": default_mode}
    fields = {f.name: f for f in dataclasses.fields(Settings) if f.name != "extra"}
    path = config_file or (
        Path(environ[ENV_PREFIX + "CONFIG"]) if environ.get(ENV_PREFIX + "CONFIG") else None
    )
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"fichier de configuration illisible {path}: {exc}") from exc
        for key, raw in document.items():
            if key not in fields:
                raise SettingsError(f"{path}: réglage inconnu {key!r}")
            values[key] = _coerce(key, raw, getattr(defaults, key))
    for name in fields:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name], getattr(defaults, name))
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = dataclasses.replace(defaults, **values)
    if settings.mode not in ("demo", "production", "test"):
        raise SettingsError(f"{ENV_PREFIX}MODE: {settings.mode!r} n'est ni demo, ni production, ni test")
    if settings.log_format not in ("auto", "text", "json"):
        raise SettingsError(
            f"{ENV_PREFIX}LOG_FORMAT: {settings.log_format!r} n'est ni auto, ni text, ni json"
        )
    if settings.language not in ("fr", "en"):
        raise SettingsError(f"{ENV_PREFIX}LANGUAGE: langue non prise en charge {settings.language!r}")
    unknown_roles = sorted(set(settings.totp_roles) - set(ROLE_NAMES))
    if unknown_roles:
        raise SettingsError(
            f"{ENV_PREFIX}TOTP_ROLES: rôle(s) inconnu(s) {', '.join(unknown_roles)} "
            f"(rôles : {', '.join(ROLE_NAMES)})"
        )
    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}TRUSTED_PROXIES: {exc}") from exc
    if settings.session_idle_minutes <= 0 or settings.session_absolute_hours <= 0:
        raise SettingsError("les durées de session doivent être positives")
    if settings.upload_max_bytes <= 0 or settings.upload_max_pixels <= 0:
        raise SettingsError("les limites des fichiers envoyés doivent être positives")
    for name in (
        "retention_medical_records_years",
        "retention_technical_months",
        "retention_recordings_days",
    ):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()}: une durée de conservation doit être positive")
    for offset in settings.reminder_offsets:
        try:
            parse_offset(offset)
        except ValueError as exc:
            raise SettingsError(
                f"{ENV_PREFIX}REMINDER_OFFSETS: {offset!r} n'est pas un délai comme 24h, 1h ou 30m "
                "(au plus 7 jours)"
            ) from exc
    if not 0 < settings.turn_ttl_seconds <= 3600:
        raise SettingsError(f"{ENV_PREFIX}TURN_TTL_SECONDS doit être entre 1 et 3600 (une heure au plus)")
    for name in ("call_opens_minutes_before", "call_grace_minutes", "call_rejoin_seconds"):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()} ne peut pas être négatif")
    if not 0 < settings.call_heartbeat_seconds < settings.call_silence_seconds:
        raise SettingsError(
            f"{ENV_PREFIX}CALL_HEARTBEAT_SECONDS doit être positif et plus court que "
            f"{ENV_PREFIX}CALL_SILENCE_SECONDS"
        )
    if settings.call_force_relay and not settings.turn_urls:
        raise SettingsError(f"{ENV_PREFIX}CALL_FORCE_RELAY demande {ENV_PREFIX}TURN_URLS (un relais TURN)")
    if settings.conntest_timeout_seconds <= 0 or settings.conntest_max_per_user <= 0:
        raise SettingsError(
            f"{ENV_PREFIX}CONNTEST_TIMEOUT_SECONDS et {ENV_PREFIX}CONNTEST_MAX_PER_USER doivent être positifs"
        )
    for name in (
        "activity_ambulance_day_eur",
        "activity_ambulance_evening_eur",
        "activity_nurse_minutes_per_transfer",
    ):
        if getattr(settings, name) < 0:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()} ne peut pas être négatif")
    if settings.reminder_interval_seconds <= 0:
        raise SettingsError(f"{ENV_PREFIX}REMINDER_INTERVAL_SECONDS doit être positif")
    if not 0 < settings.smtp_port < 65536 or settings.smtp_timeout_seconds <= 0:
        raise SettingsError(f"{ENV_PREFIX}SMTP_PORT et {ENV_PREFIX}SMTP_TIMEOUT_SECONDS doivent être valides")
    return settings


def production_problems(settings: Settings) -> list[str]:
    """Why these settings must not run in production; an empty list means they may."""
    problems: list[str] = []
    if settings.secret_key == DEMO_SECRET_KEY:
        problems.append(f"{ENV_PREFIX}SECRET_KEY est la clé de démonstration publiée avec le code source")
    elif len(settings.secret_key) < 32:
        problems.append(f"{ENV_PREFIX}SECRET_KEY doit faire au moins 32 caractères")
    if urlsplit(settings.base_url).scheme != "https":
        problems.append(f"{ENV_PREFIX}BASE_URL doit être une adresse https:// (reçu {settings.base_url!r})")
    if not settings.trusted_proxies:
        problems.append(
            f"{ENV_PREFIX}TRUSTED_PROXIES doit nommer le proxy TLS qui précède le service (sinon tous les "
            "utilisateurs partagent son adresse et le verrouillage des connexions les bloque ensemble)"
        )
    if settings.sqlalchemy_url.startswith("sqlite"):
        problems.append(f"{ENV_PREFIX}DATABASE_URL doit désigner PostgreSQL en production")
    if settings.turn_urls and not settings.turn_secret:
        problems.append(f"{ENV_PREFIX}TURN_URLS est donné sans {ENV_PREFIX}TURN_SECRET")
    return problems

"""Identity domain: establishments, conventions, users, roles, sessions and login throttling rules.

Pure Python: no I/O, no clock reads (``now`` is always a parameter), no aiohttp, no SQLAlchemy.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from teleconsult.errors import Conflict, DomainError, Forbidden, InvalidInput
from teleconsult.i18n import N_


class EstablishmentKind(StrEnum):
    HOSPITAL = "hospital"
    EHPAD = "ehpad"
    AUTHORITY = "authority"  # territory level: regional health agency (ARS), coordination


class Role(StrEnum):
    IDE = "ide"  # infirmier(ère) diplômé(e) d'État of a care home
    IDEC = "idec"  # infirmier(ère) coordinateur(trice)
    MEDECIN_CO = "medecin_co"  # médecin coordonnateur of a care home
    EXPERT = "expert"  # hospital geriatrician or other specialist
    SECRETARIAT = "secretariat"  # hospital secretariat
    COORDINATEUR = "coordinateur"  # territory level: aggregates only
    ADMIN = "admin"


class Specialty(StrEnum):
    GERIATRIE = "geriatrie"
    PSYCHOGERIATRIE = "psychogeriatrie"
    SOINS_PALLIATIFS = "soins_palliatifs"
    PLAIES = "plaies_cicatrisation"
    NUTRITION = "nutrition"
    DOULEUR = "douleur"
    PHARMACIE = "pharmacie_clinique"
    CARDIOLOGIE = "cardiologie"
    MEDECINE_VASCULAIRE = "medecine_vasculaire"


class DepartmentKind(StrEnum):
    GERIATRIC_WARD = "geriatric_ward"
    MOBILE_GERIATRIC_TEAM = "mobile_geriatric_team"
    PSYCHOGERIATRIC_UNIT = "psychogeriatric_unit"
    OTHER = "other"


CARE_HOME_ROLES = frozenset({Role.IDE, Role.IDEC, Role.MEDECIN_CO})
HOSPITAL_ROLES = frozenset({Role.EXPERT, Role.SECRETARIAT})

#: Which kind of establishment each role belongs to.
ROLE_ESTABLISHMENT_KINDS: dict[Role, frozenset[EstablishmentKind]] = {
    Role.IDE: frozenset({EstablishmentKind.EHPAD}),
    Role.IDEC: frozenset({EstablishmentKind.EHPAD}),
    Role.MEDECIN_CO: frozenset({EstablishmentKind.EHPAD}),
    Role.EXPERT: frozenset({EstablishmentKind.HOSPITAL}),
    Role.SECRETARIAT: frozenset({EstablishmentKind.HOSPITAL}),
    Role.COORDINATEUR: frozenset({EstablishmentKind.AUTHORITY, EstablishmentKind.HOSPITAL}),
    Role.ADMIN: frozenset(EstablishmentKind),
}


class IdentityError(DomainError):
    code = "identity_error"


class RoleNotAllowedHere(IdentityError):
    code = "role_not_allowed_here"
    message = N_("This role cannot belong to this kind of establishment.")


class UsernameTaken(Conflict):
    code = "username_taken"
    message = N_("This login is already used by another account.")


class FinessTaken(Conflict):
    code = "finess_taken"
    message = N_("An establishment with this FINESS number already exists.")


class CannotDeactivateSelf(Forbidden):
    code = "cannot_deactivate_self"
    message = N_("You cannot deactivate your own account.")


_FINESS = re.compile(r"^(?:\d{2}|2A|2B)\d{7}$")
MAX_USERNAME_LENGTH = 64
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD_LENGTH = 12


def normalise_username(raw: str) -> str:
    """Logins are compared case- and accent-insensitively: 'Élodie.Martin ' and 'elodie.martin' are one."""
    decomposed = unicodedata.normalize("NFKD", raw.strip().lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def check_username(raw: str) -> str:
    username = normalise_username(raw)
    if not _USERNAME.match(username):
        raise InvalidInput(
            {"username": N_("Use 3 to 64 letters, digits, dots, dashes or underscores, without spaces.")}
        )
    return username


def check_password_strength(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput({"password": N_("The password must have at least 12 characters.")})
    if username and username in password.lower():
        raise InvalidInput({"password": N_("The password must not contain the login.")})


def check_finess(raw: str) -> str:
    finess = raw.strip().upper().replace(" ", "")
    if not _FINESS.match(finess):
        raise InvalidInput(
            {"finess": N_("A FINESS number has 9 characters: 2 for the department, then 7 digits.")}
        )
    return finess


@dataclass(frozen=True, slots=True)
class Department:
    id: UUID
    hospital_id: UUID
    name: str
    kind: DepartmentKind


@dataclass(frozen=True, slots=True)
class Establishment:
    id: UUID
    kind: EstablishmentKind
    name: str
    finess: str | None
    address: str
    bed_count: int | None
    is_active: bool = True

    def __post_init__(self) -> None:
        fields: dict[str, str] = {}
        if not self.name.strip():
            fields["name"] = N_("Give the establishment's name.")
        if self.kind is EstablishmentKind.EHPAD:
            if self.finess is None:
                fields["finess"] = N_("A care home needs its FINESS number.")
            if self.bed_count is None or not 1 <= self.bed_count <= 1000:
                fields["bed_count"] = N_("Give the number of beds (between 1 and 1000).")
        elif self.bed_count is not None:
            fields["bed_count"] = N_("Only care homes have a bed count.")
        if fields:
            raise InvalidInput(fields)


@dataclass(frozen=True, slots=True)
class Convention:
    """An agreement letting one care home ask one hospital team for teleconsultations and tele-expertise."""

    id: UUID
    ehpad_id: UUID
    department_id: UUID
    signed_on: datetime
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    username: str
    display_name: str
    role: Role
    establishment_id: UUID
    department_id: UUID | None = None
    specialties: frozenset[Specialty] = field(default_factory=frozenset)
    rpps: str | None = None
    email: str | None = None
    is_active: bool = True
    has_totp: bool = False

    @property
    def works_in_care_home(self) -> bool:
        return self.role in CARE_HOME_ROLES

    @property
    def works_in_hospital(self) -> bool:
        return self.role in HOSPITAL_ROLES

    def deactivated(self) -> User:
        return replace(self, is_active=False)


def check_new_user(user: User, establishment: Establishment) -> None:
    """The rules a new account must satisfy against its establishment."""
    if establishment.kind not in ROLE_ESTABLISHMENT_KINDS[user.role]:
        raise RoleNotAllowedHere(role=user.role.value, kind=establishment.kind.value)
    fields: dict[str, str] = {}
    if not user.display_name.strip():
        fields["display_name"] = N_("Give the person's first and last name.")
    if user.specialties and user.role is not Role.EXPERT:
        fields["specialties"] = N_("Only experts have specialties.")
    if user.role is Role.EXPERT and not user.specialties:
        fields["specialties"] = N_("Choose at least one specialty for an expert.")
    if user.department_id is not None and user.role not in HOSPITAL_ROLES:
        fields["department_id"] = N_("Only hospital staff belong to a hospital team.")
    if fields:
        raise InvalidInput(fields)


def check_deactivation(actor: User, target: User) -> None:
    if actor.id == target.id:
        raise CannotDeactivateSelf()


# ---------------------------------------------------------------------------------------------- sessions


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta


@dataclass(frozen=True, slots=True)
class Session:
    """A login on one device. The cookie holds a random token; the database only its SHA-256."""

    id_hash: str
    user_id: UUID
    created_at: datetime
    last_seen_at: datetime
    second_factor_done: bool
    revoked_at: datetime | None = None

    def is_live(self, now: datetime, policy: SessionPolicy) -> bool:
        return (
            self.revoked_at is None
            and now - self.last_seen_at < policy.idle
            and now - self.created_at < policy.absolute
        )

    def expires_at(self, policy: SessionPolicy) -> datetime:
        return min(self.last_seen_at + policy.idle, self.created_at + policy.absolute)


# ------------------------------------------------------------------------------------------ login throttle


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """After ``free_failures`` failures the key is locked 1, 2, 4... minutes, never more than ``max_lock``.

    A failure older than ``forget_after`` is forgotten. With ``escalate`` the count goes on growing across
    locks, for keys only the attacker suffers from (their own address, their own address with one login).
    Without it the count starts again once a lock has run out: for keys someone else could fill (a login
    tried from anywhere), so that an attacker cannot keep its owner out with one wrong password a while.
    """

    free_failures: int
    max_lock: timedelta
    forget_after: timedelta = timedelta(hours=1)
    escalate: bool = True


@dataclass(frozen=True, slots=True)
class ThrottleState:
    """Attempts are counted *before* they are checked (as failures), then taken back on success: parallel
    guesses all see each other's counts, however long checking a password takes."""

    key: str
    failures: int = 0
    last_failure_at: datetime | None = None
    locked_until: datetime | None = None

    def retry_after(self, now: datetime) -> timedelta | None:
        if self.locked_until is not None and self.locked_until > now:
            return self.locked_until - now
        return None

    def after_failure(self, now: datetime, rule: ThrottleRule) -> ThrottleState:
        lock_over = self.locked_until is not None and self.locked_until <= now
        forgotten = self.last_failure_at is not None and now - self.last_failure_at > rule.forget_after
        failures = 0 if forgotten or (lock_over and not rule.escalate) else self.failures
        failures += 1
        locked_until = None if lock_over else self.locked_until
        if failures >= rule.free_failures:
            exponent = min(failures - rule.free_failures, 20)
            lock = min(timedelta(minutes=2**exponent), rule.max_lock)
            locked_until = now + lock
        return ThrottleState(self.key, failures, now, locked_until)

    def after_success(self, rule: ThrottleRule) -> ThrottleState:
        """Take back the attempt counted before it turned out right."""
        failures = max(0, self.failures - 1)
        locked_until = self.locked_until if failures >= rule.free_failures else None
        return ThrottleState(self.key, failures, self.last_failure_at, locked_until)

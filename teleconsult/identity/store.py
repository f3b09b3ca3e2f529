"""Persistence of the identity aggregates. Queries live here and return model objects.

Every write to ``users``, ``user_specialties`` and ``sessions`` made through a SQLAlchemy session is seen
by the principal cache (teleconsult/identity/principal_cache.py); a statement that declares what it
changes (``execution_options=principal_changes(...)``) invalidates only that, any other drops the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from teleconsult.db import UTCDateTime, metadata
from teleconsult.identity.model import (
    Convention,
    Department,
    DepartmentKind,
    Establishment,
    EstablishmentKind,
    FinessTaken,
    Role,
    Session,
    Specialty,
    ThrottleState,
    User,
    UsernameTaken,
)
from teleconsult.identity.principal_cache import changes as principal_changes

establishments = Table(
    "establishments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("finess", String(9), nullable=True, unique=True),
    Column("address", String(400), nullable=False, default=""),
    Column("bed_count", Integer, nullable=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('hospital', 'ehpad', 'authority')", name="kind"),
    CheckConstraint("kind <> 'ehpad' OR (finess IS NOT NULL AND bed_count > 0)", name="ehpad_fields"),
)

departments = Table(
    "departments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("hospital_id", Uuid, ForeignKey("establishments.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
)

conventions = Table(
    "conventions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("ehpad_id", Uuid, ForeignKey("establishments.id"), nullable=False),
    Column("department_id", Uuid, ForeignKey("departments.id"), nullable=False, index=True),
    Column("signed_on", UTCDateTime, nullable=False),
    Column("is_active", Boolean, nullable=False, default=True),
    Index("uq_conventions_ehpad_department", "ehpad_id", "department_id", unique=True),
)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("establishment_id", Uuid, ForeignKey("establishments.id"), nullable=False, index=True),
    Column("department_id", Uuid, ForeignKey("departments.id"), nullable=True),
    Column("rpps", String(11), nullable=True),
    Column("email", String(254), nullable=True),
    Column("password_hash", String(200), nullable=False),
    Column("totp_secret", LargeBinary, nullable=True),  # encrypted, see identity/totp.py
    Column("totp_last_step", Integer, nullable=True),
    Column("is_active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deactivated_at", UTCDateTime, nullable=True),
    CheckConstraint(
        "role IN ('ide', 'idec', 'medecin_co', 'expert', 'secretariat', 'coordinateur', 'admin')", name="role"
    ),
)

user_specialties = Table(
    "user_specialties",
    metadata,
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("specialty", String(32), primary_key=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("second_factor_done", Boolean, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=True),
    Column("locked_until", UTCDateTime, nullable=True),
)


# Every authenticated request runs this query: built once rather than per request.
_SESSION_AND_USER = (
    select(
        sessions,
        users.c.username,
        users.c.display_name,
        users.c.role,
        users.c.establishment_id,
        users.c.department_id,
        users.c.rpps,
        users.c.email,
        users.c.is_active,
        (users.c.totp_secret.is_not(None)).label("has_totp"),
    )
    .join(users, users.c.id == sessions.c.user_id)
    .where(sessions.c.id_hash == bindparam("id_hash"))
)


def _establishment(row: Any) -> Establishment:
    return Establishment(
        id=row.id,
        kind=EstablishmentKind(row.kind),
        name=row.name,
        finess=row.finess,
        address=row.address,
        bed_count=row.bed_count,
        is_active=row.is_active,
    )


def bookable_experts(
    ehpad_id: UUID, specialty: Specialty | None = None, expert_id: UUID | None = None
) -> Select[tuple[UUID]]:
    """The ids of the experts a care home may book: active experts of the hospital teams it has an active
    convention with (practising ``specialty``, only ``expert_id``, when given). A query, for other packages'
    statements to use as a subquery (a slot search reads windows and bookings of these experts without
    loading them), so that the rule and the tables stay identity's."""
    teams = select(conventions.c.department_id).where(
        conventions.c.ehpad_id == ehpad_id, conventions.c.is_active.is_(True)
    )
    query = select(users.c.id).where(
        users.c.role == Role.EXPERT.value, users.c.is_active.is_(True), users.c.department_id.in_(teams)
    )
    if expert_id is not None:
        query = query.where(users.c.id == expert_id)
    if specialty is not None:
        practises = select(user_specialties.c.user_id).where(
            user_specialties.c.user_id == users.c.id, user_specialties.c.specialty == specialty.value
        )
        query = query.where(practises.exists())
    return query


class IdentityStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ----------------------------------------------------------------------------------- establishments

    async def add_establishment(self, establishment: Establishment, now: datetime) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.execute(
                    establishments.insert().values(
                        id=establishment.id,
                        kind=establishment.kind.value,
                        name=establishment.name,
                        finess=establishment.finess,
                        address=establishment.address,
                        bed_count=establishment.bed_count,
                        is_active=establishment.is_active,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise FinessTaken(finess=establishment.finess) from exc

    async def get_establishment(self, establishment_id: UUID) -> Establishment | None:
        row = (
            await self.session.execute(select(establishments).where(establishments.c.id == establishment_id))
        ).first()
        return _establishment(row) if row else None

    async def establishment_names(self, ids: Sequence[UUID]) -> dict[UUID, str]:
        if not ids:
            return {}
        query = select(establishments.c.id, establishments.c.name).where(establishments.c.id.in_(ids))
        return {row.id: row.name for row in (await self.session.execute(query)).all()}

    async def list_establishments(self, kind: EstablishmentKind | None = None) -> list[Establishment]:
        query = select(establishments).order_by(establishments.c.kind, establishments.c.name)
        if kind is not None:
            query = query.where(establishments.c.kind == kind.value)
        return [_establishment(row) for row in (await self.session.execute(query)).all()]

    async def add_department(self, department: Department) -> None:
        await self.session.execute(
            departments.insert().values(
                id=department.id,
                hospital_id=department.hospital_id,
                name=department.name,
                kind=department.kind.value,
            )
        )

    async def get_department(self, department_id: UUID) -> Department | None:
        row = (
            await self.session.execute(select(departments).where(departments.c.id == department_id))
        ).first()
        if row is None:
            return None
        return Department(row.id, row.hospital_id, row.name, DepartmentKind(row.kind))

    async def list_departments(self, hospital_id: UUID | None = None) -> list[Department]:
        query = select(departments).order_by(departments.c.name)
        if hospital_id is not None:
            query = query.where(departments.c.hospital_id == hospital_id)
        rows = (await self.session.execute(query)).all()
        return [Department(r.id, r.hospital_id, r.name, DepartmentKind(r.kind)) for r in rows]

    async def team_names(self) -> dict[UUID, str]:
        """'Hospital - team' labels of every hospital department, for conventions and pickers."""
        query = (
            select(departments.c.id, departments.c.name, establishments.c.name.label("hospital"))
            .join(establishments, establishments.c.id == departments.c.hospital_id)
            .order_by(establishments.c.name, departments.c.name)
        )
        return {row.id: f"{row.hospital} - {row.name}" for row in (await self.session.execute(query)).all()}

    async def add_convention(self, convention: Convention) -> None:
        await self.session.execute(
            conventions.insert().values(
                id=convention.id,
                ehpad_id=convention.ehpad_id,
                department_id=convention.department_id,
                signed_on=convention.signed_on,
                is_active=convention.is_active,
            )
        )

    async def list_conventions(self, ehpad_id: UUID | None = None) -> list[Convention]:
        query = select(conventions)
        if ehpad_id is not None:
            query = query.where(conventions.c.ehpad_id == ehpad_id)
        rows = (await self.session.execute(query)).all()
        return [Convention(r.id, r.ehpad_id, r.department_id, r.signed_on, r.is_active) for r in rows]

    # -------------------------------------------------------------------------------------------- users

    async def add_user(self, user: User, password_hash: str, now: datetime) -> None:
        try:
            async with self.session.begin_nested():
                await self.session.execute(
                    users.insert().values(
                        id=user.id,
                        username=user.username,
                        display_name=user.display_name,
                        role=user.role.value,
                        establishment_id=user.establishment_id,
                        department_id=user.department_id,
                        rpps=user.rpps,
                        email=user.email,
                        password_hash=password_hash,
                        is_active=user.is_active,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise UsernameTaken(username=user.username) from exc
        if user.specialties:
            await self.session.execute(
                user_specialties.insert(),
                [{"user_id": user.id, "specialty": s.value} for s in sorted(user.specialties)],
            )

    async def _users(self, where: Any) -> list[User]:
        rows = (await self.session.execute(select(users).where(where).order_by(users.c.display_name))).all()
        if not rows:
            return []
        ids = [row.id for row in rows]
        spec_rows = (
            await self.session.execute(select(user_specialties).where(user_specialties.c.user_id.in_(ids)))
        ).all()
        specialties: dict[UUID, set[Specialty]] = {}
        for spec in spec_rows:
            specialties.setdefault(spec.user_id, set()).add(Specialty(spec.specialty))
        return [
            User(
                id=row.id,
                username=row.username,
                display_name=row.display_name,
                role=Role(row.role),
                establishment_id=row.establishment_id,
                department_id=row.department_id,
                specialties=frozenset(specialties.get(row.id, ())),
                rpps=row.rpps,
                email=row.email,
                is_active=row.is_active,
                has_totp=row.totp_secret is not None,
            )
            for row in rows
        ]

    async def get_user(self, user_id: UUID) -> User | None:
        found = await self._users(users.c.id == user_id)
        return found[0] if found else None

    async def get_users(self, ids: Sequence[UUID]) -> list[User]:
        return await self._users(users.c.id.in_(ids)) if ids else []

    async def get_user_by_username(self, username: str) -> User | None:
        found = await self._users(users.c.username == username)
        return found[0] if found else None

    async def list_users(self, establishment_id: UUID | None = None) -> list[User]:
        where = users.c.establishment_id == establishment_id if establishment_id else users.c.id.is_not(None)
        return await self._users(where)

    async def experts_under_convention(self, ehpad_id: UUID) -> list[User]:
        """Active experts of the hospital teams this care home has an active convention with."""
        return await self._users(users.c.id.in_(bookable_experts(ehpad_id)))

    async def count_users(self) -> int:
        return int((await self.session.execute(select(func.count()).select_from(users))).scalar_one())

    async def password_hash(self, user_id: UUID) -> str | None:
        result = await self.session.execute(select(users.c.password_hash).where(users.c.id == user_id))
        return result.scalar_one_or_none()

    async def set_password_hash(self, user_id: UUID, password_hash: str) -> None:
        await self.session.execute(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )

    async def deactivate_user(self, user_id: UUID, now: datetime) -> None:
        await self.session.execute(
            update(users).where(users.c.id == user_id).values(is_active=False, deactivated_at=now)
        )
        await self.session.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    async def totp_state(self, user_id: UUID) -> tuple[bytes | None, int | None]:
        row = (
            await self.session.execute(
                select(users.c.totp_secret, users.c.totp_last_step).where(users.c.id == user_id)
            )
        ).one()
        return row.totp_secret, row.totp_last_step

    async def set_totp(self, user_id: UUID, encrypted_secret: bytes | None, last_step: int | None) -> None:
        await self.session.execute(
            update(users)
            .where(users.c.id == user_id)
            .values(totp_secret=encrypted_secret, totp_last_step=last_step)
        )

    async def use_totp_step(self, user_id: UUID, step: int) -> bool:
        """Record that the code of ``step`` was used; False when it (or a later one) already was: a replay."""
        result = await self.session.execute(
            update(users)
            .where(users.c.id == user_id)
            .where((users.c.totp_last_step.is_(None)) | (users.c.totp_last_step < step))
            .values(totp_last_step=step)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------------------------------- sessions

    async def add_session(self, session: Session) -> None:
        await self.session.execute(
            sessions.insert().values(
                id_hash=session.id_hash,
                user_id=session.user_id,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                second_factor_done=session.second_factor_done,
            )
        )

    async def get_session_and_user(self, id_hash: str) -> tuple[Session, User] | None:
        """The session and its user in one query; specialties (experts only) in a second one."""
        row = (await self.session.execute(_SESSION_AND_USER, {"id_hash": id_hash})).first()
        if row is None:
            return None
        session = Session(
            row.id_hash, row.user_id, row.created_at, row.last_seen_at, row.second_factor_done, row.revoked_at
        )
        role = Role(row.role)
        specialties: frozenset[Specialty] = frozenset()
        if role is Role.EXPERT:
            result = await self.session.execute(
                select(user_specialties.c.specialty).where(user_specialties.c.user_id == row.user_id)
            )
            specialties = frozenset(Specialty(s) for s in result.scalars())
        user = User(
            id=row.user_id,
            username=row.username,
            display_name=row.display_name,
            role=role,
            establishment_id=row.establishment_id,
            department_id=row.department_id,
            specialties=specialties,
            rpps=row.rpps,
            email=row.email,
            is_active=row.is_active,
            has_totp=bool(row.has_totp),
        )
        return session, user

    async def touch_session(self, id_hash: str, now: datetime) -> None:
        # Changes no principal (the cache keeps last_seen_at itself): declared as such.
        await self.session.execute(
            update(sessions).where(sessions.c.id_hash == id_hash).values(last_seen_at=now),
            execution_options=principal_changes(self.session),
        )

    async def revoke_session(self, id_hash: str, now: datetime) -> None:
        await self.session.execute(
            update(sessions)
            .where(sessions.c.id_hash == id_hash, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now),
            execution_options=principal_changes(self.session, session_hashes=[id_hash]),
        )

    async def revoke_user_sessions(self, user_id: UUID, now: datetime) -> None:
        await self.session.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now),
            execution_options=principal_changes(self.session, user_ids=[user_id]),
        )

    async def revoke_other_sessions(self, user_id: UUID, keep_id_hash: str, now: datetime) -> None:
        # The kept session is dropped from the cache too: it is simply read again.
        await self.session.execute(
            update(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.id_hash != keep_id_hash)
            .where(sessions.c.revoked_at.is_(None))
            .values(revoked_at=now),
            execution_options=principal_changes(self.session, user_ids=[user_id]),
        )

    async def count_sessions_before(self, cutoff: datetime) -> int:
        query = select(func.count()).select_from(sessions).where(sessions.c.last_seen_at < cutoff)
        return int(await self.session.scalar(query) or 0)

    async def delete_sessions_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(delete(sessions).where(sessions.c.last_seen_at < cutoff))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------------------------- login throttle

    async def throttle_states(self, keys: Sequence[str]) -> dict[str, ThrottleState]:
        rows = (
            await self.session.execute(select(login_throttle).where(login_throttle.c.key.in_(keys)))
        ).all()
        found = {r.key: ThrottleState(r.key, r.failures, r.last_failure_at, r.locked_until) for r in rows}
        return {key: found.get(key, ThrottleState(key)) for key in keys}

    async def lock_throttle_states(self, keys: Sequence[str]) -> dict[str, ThrottleState]:
        """Read the states under a row lock, creating missing rows: every concurrent failure counts."""
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        for key in keys:
            await self.session.execute(
                insert(login_throttle)
                .values(key=key, failures=0)
                .on_conflict_do_nothing(index_elements=["key"])
            )
        rows = (
            await self.session.execute(
                select(login_throttle).where(login_throttle.c.key.in_(keys)).with_for_update()
            )
        ).all()
        return {r.key: ThrottleState(r.key, r.failures, r.last_failure_at, r.locked_until) for r in rows}

    async def save_throttle_state(self, state: ThrottleState) -> None:
        await self.session.execute(
            update(login_throttle)
            .where(login_throttle.c.key == state.key)
            .values(
                failures=state.failures,
                last_failure_at=state.last_failure_at,
                locked_until=state.locked_until,
            )
        )

    async def delete_stale_throttles(self, forgotten_before: datetime, now: datetime) -> int:
        """Counters nobody needs any more: no failure since ``forgotten_before`` and no lock running."""
        result = await self.session.execute(delete(login_throttle).where(*_stale(forgotten_before, now)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def count_stale_throttles(self, forgotten_before: datetime, now: datetime) -> int:
        query = select(func.count()).select_from(login_throttle).where(*_stale(forgotten_before, now))
        return int(await self.session.scalar(query) or 0)

    async def clear_throttle(self, key: str) -> None:
        await self.session.execute(delete(login_throttle).where(login_throttle.c.key == key))


def _stale(forgotten_before: datetime, now: datetime) -> tuple[Any, Any]:
    return (
        (login_throttle.c.last_failure_at.is_(None)) | (login_throttle.c.last_failure_at < forgotten_before),
        (login_throttle.c.locked_until.is_(None)) | (login_throttle.c.locked_until < now),
    )

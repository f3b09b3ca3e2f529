"""Use cases of activity: the figures of a period for the care homes a coordinator may see, and the audit of
their exports. Aggregates only: no resident, no identity, nothing decrypted; small counts are suppressed
by records.activity.model before anything leaves this module.

Who sees what (the policy's VIEW_ACTIVITY decides who may ask at all): an administrator and a territory
coordinator (an establishment of kind ``authority``) every care home; a hospital's coordinator the care homes
with an active convention with one of that hospital's teams.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from records.activity.model import (
    Cell,
    Counts,
    Key,
    Month,
    Period,
    Published,
    SavingsRules,
    UnknownCareHome,
    cell_of,
    delay_ranks,
    publish_counts,
    roll_up_counts,
    segments,
)
from records.activity.store import ActivityStore, CellRow, cell_row, month_of_hour, unpack_delays
from records.audit.model import Outcome as AuditOutcome
from scheduling.service import is_french_holiday
from teleconsult.db import UnitOfWork
from teleconsult.identity import policy
from teleconsult.identity.model import Establishment, EstablishmentKind, Role
from teleconsult.identity.policy import Action, Principal
from teleconsult.identity.service.trail import audit
from teleconsult.identity.store import IdentityStore

OBJECT_TYPE = "activity"


@dataclass(frozen=True, slots=True)
class Activity:
    """The published figures of one period: every cell already suppressed."""

    period: Period
    months: list[Month]
    #: The care homes the actor may see (for the filter), by name.
    care_homes: list[Establishment]
    selected: Establishment | None
    cells: dict[Key, Published]
    has_data: bool
    #: Some finalised report in the period (the outcome counts themselves may all be suppressed).
    has_outcomes: bool
    rules: SavingsRules

    @property
    def names(self) -> dict[UUID | None, str]:
        return {home.id: home.name for home in self.care_homes}

    @property
    def total(self) -> Published:
        return self.cells[Key(None, None, None)]

    def by_month(self) -> list[Published]:
        return [
            self.cells[Key(month, None, None)]
            for month in self.months
            if Key(month, None, None) in self.cells
        ]

    def by_care_home(self) -> list[Published]:
        names = self.names
        found = [cell for key, cell in self.cells.items() if _only(key, "ehpad_id")]
        return sorted(found, key=lambda cell: names.get(cell.key.ehpad_id, ""))

    def by_specialty(self) -> list[Published]:
        found = [cell for key, cell in self.cells.items() if _only(key, "specialty")]
        return sorted(found, key=lambda cell: str(cell.key.specialty))

    def details(self) -> list[Published]:
        names = self.names
        found = [
            cell for key, cell in self.cells.items() if None not in (key.month, key.ehpad_id, key.specialty)
        ]
        return sorted(
            found,
            key=lambda cell: (cell.key.month, names.get(cell.key.ehpad_id, ""), str(cell.key.specialty)),
        )


def _only(key: Key, dimension: str) -> bool:
    return getattr(key, dimension) is not None and all(
        getattr(key, other) is None for other in ("month", "ehpad_id", "specialty") if other != dimension
    )


async def _care_homes(uow: UnitOfWork, actor: Principal | None) -> list[Establishment]:
    """The care homes whose activity the actor may see (the operator: all), by name."""
    identity = uow.store(IdentityStore)
    homes = await identity.list_establishments(EstablishmentKind.EHPAD)
    user = actor.user if actor else None
    if user is not None and user.role is not Role.ADMIN:
        own = await identity.get_establishment(user.establishment_id)
        if own is None or own.kind is not EstablishmentKind.AUTHORITY:
            teams = {department.id for department in await identity.list_departments(user.establishment_id)}
            reached = {
                c.ehpad_id
                for c in await identity.list_conventions()
                if c.is_active and c.department_id in teams
            }
            homes = [home for home in homes if home.id in reached]
    return sorted(homes, key=lambda home: home.name)


def _find(homes: list[Establishment], reference: str) -> Establishment:
    wanted = reference.strip()
    for home in homes:
        if str(home.id) == wanted.lower() or (home.finess is not None and home.finess == wanted.upper()):
            return home
    raise UnknownCareHome()


async def activity(
    uow: UnitOfWork,
    actor: Principal | None,
    period: Period,
    care_home: str | None,
    rules: SavingsRules,
) -> Activity:
    """The figures of ``period`` for the care homes ``actor`` sees, or for one of them (its id or FINESS).

    Coordinators and administrators only (403 otherwise); UnknownCareHome (404) for a care home that does
    not exist or that the actor does not see. ``actor`` None is the host's operator (the command line), who
    sees every care home. Nothing is decrypted: no audit event for reading aggregates
    (their exports are audited, see :func:`record_export`). The pre-aggregated cells that writes have
    marked as changed are recomputed first (see records.activity.store), so the figures are never stale."""
    policy.require_unless_operator(actor, Action.VIEW_ACTIVITY)
    async with uow.reading():
        homes = await _care_homes(uow, actor)
        selected = _find(homes, care_home) if care_home else None
        ehpad_ids = [selected.id] if selected else [home.id for home in homes]
        rows, is_stale = await uow.store(ActivityStore).cells(ehpad_ids, period)
    if is_stale:
        await refresh(uow, period, ehpad_ids)
        async with uow.reading():
            rows, _ = await uow.store(ActivityStore).cells(ehpad_ids, period)
    months = period.months()
    figures = tally(rows, months)
    return Activity(
        period=period,
        months=months,
        care_homes=homes,
        selected=selected,
        cells=publish_counts(figures.counts, figures.delays, rules),
        has_data=bool(rows),
        has_outcomes=figures.cell(Key(None, None, None)).finalised > 0,
        rules=rules,
    )


@dataclass(frozen=True, slots=True)
class Tally:
    """The unsuppressed figures of a period: every cell's additive counts (details and totals, see
    model.ADDITIVE) and the delays of those where a consultation was held."""

    counts: dict[Key, Counts]
    delays: dict[Key, tuple[float, float]]

    def cell(self, key: Key) -> Cell:
        cell = cell_of(self.counts[key])
        cell.delay_median, cell.delay_p90 = self.delays.get(key, (None, None))
        return cell


def tally(rows: Sequence[CellRow], months: list[Month]) -> Tally:
    """The stored cells ``rows`` (of ``months``) with every total, and every cell's delays."""
    by_name = {str(month): month for month in months}
    details: dict[Key, Counts] = {}
    held: list[tuple[Key, array[float]]] = []
    for ehpad_id, month, specialty, counts, delays in rows:
        key = Key(by_name[month], ehpad_id, specialty)
        details[key] = counts
        if delays:
            held.append((key, unpack_delays(delays)))
    return Tally(roll_up_counts(details), delay_ranks(held))


async def refresh(uow: UnitOfWork, period: Period, ehpad_ids: list[UUID]) -> None:
    """Recompute the stored cells that writes have marked as changed for these care homes in the period
    (those of the marked hours' Paris months), and forget those marks. One refresh at a time; the marks
    are read again under the lock, and only those read are forgotten: a write committed meanwhile leaves
    its own mark for the next reader."""
    async with uow:
        store = uow.store(ActivityStore)
        await store.lock_cells()
        changes = await store.changes(ehpad_ids, period)
        if changes:
            stale = {(ehpad, month_of_hour(hour)) for _, ehpad, hour in changes}
            first = min(month for _, month in stale)
            last = max(month for _, month in stale)
            span = Period(first, last)
            homes = sorted({ehpad for ehpad, _ in stale})
            cuts = segments(span, is_french_holiday)
            consultations = await store.teleconsultations(span, cuts, homes)
            expertise = await store.expertise(span, cuts, homes)
            delays = await store.held_delays(span, cuts, homes)
            months = span.months()
            details: dict[tuple[int, UUID, str], Cell] = dict(consultations)
            for coordinates, (requests, answered, converted) in expertise.items():
                cell = details.setdefault(coordinates, Cell())
                cell.expertise, cell.expertise_answered, cell.expertise_converted = (
                    requests,
                    answered,
                    converted,
                )
            rows = [
                cell_row(ehpad, months[index], specialty, cell, delays.get((index, ehpad, specialty), []))
                for (index, ehpad, specialty), cell in details.items()
                if (ehpad, months[index]) in stale
            ]
            await store.replace_cells([(ehpad, str(month)) for ehpad, month in stale], rows)
            await store.forget_changes([change_id for change_id, _, _ in changes])
        await uow.commit()


async def record_export(
    uow: UnitOfWork,
    actor: Principal | None,
    what: str,
    period: Period,
    selected: Establishment | None,
    now: datetime,
    client_address: str | None = None,
) -> None:
    """Write the audit event of an export (``csv``, ``xlsx``, ``pdf``): who took which period's figures
    (``None``: the host's operator, from the command line)."""
    policy.require_unless_operator(actor, Action.VIEW_ACTIVITY)
    scope = str(selected.id) if selected else "all"
    async with uow:
        await audit(
            uow,
            now,
            f"activity.export_{what}",
            AuditOutcome.SUCCESS,
            actor.user if actor else None,
            client_address,
            OBJECT_TYPE,
            f"{period.first}..{period.last}:{scope}",
        )
        await uow.commit()

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
from typing import Any
from uuid import UUID

from records.activity.model import (
    Cell,
    Key,
    Month,
    Period,
    Published,
    SavingsRules,
    UnknownCareHome,
    nearest_ranks,
    publish,
    roll_up,
    segments,
)
from records.activity.store import ActivityStore, cell_row, month_of_hour, row_cell, unpack_delays
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
        store = uow.store(ActivityStore)
        is_stale = bool(await store.changes(ehpad_ids, period))
        rows = [] if is_stale else await store.cells(ehpad_ids, period)
    if is_stale:
        await refresh(uow, period, ehpad_ids)
        async with uow.reading():
            rows = await uow.store(ActivityStore).cells(ehpad_ids, period)
    months = period.months()
    cells = tally(rows, months)
    return Activity(
        period=period,
        months=months,
        care_homes=homes,
        selected=selected,
        cells=publish(cells, rules),
        has_data=bool(rows),
        has_outcomes=cells[Key(None, None, None)].finalised > 0,
        rules=rules,
    )


def tally(rows: Sequence[Any], months: list[Month]) -> dict[Key, Cell]:
    """The stored cells ``rows`` (of ``months``) with every total and every cell's delays, unsuppressed."""
    by_name = {str(month): month for month in months}
    details: dict[Key, Cell] = {}
    delays: dict[Key, array[float]] = {}
    for row in rows:
        key = Key(by_name[row.month], row.ehpad_id, row.specialty)
        details[key] = row_cell(row)
        if row.done:
            delays[key] = unpack_delays(row.delays)
    cells = roll_up(details)
    _fill_delays(cells, delays)
    return cells


def _fill_delays(cells: dict[Key, Cell], delays: dict[Key, array[float]]) -> None:
    """Median and 90th percentile of every cell from the sorted delays of its detail cells: a total's are
    its parts' put together and sorted again (the sort runs in C over runs already in order)."""
    pooled: dict[Key, list[float]] = {}
    for key, ordered in delays.items():
        cells[key].delay_median, cells[key].delay_p90 = nearest_ranks(ordered)
        for total in (
            Key(key.month, None, None),
            Key(None, key.ehpad_id, None),
            Key(None, None, key.specialty),
            Key(None, None, None),
        ):
            pooled.setdefault(total, []).extend(ordered)
    for total, values in pooled.items():
        values.sort()
        cells[total].delay_median, cells[total].delay_p90 = nearest_ranks(values)


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

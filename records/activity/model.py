"""The domain of activity figures: periods of months, the statistical suppression of small counts, and the
rules that turn outcomes into emergency transfers, ambulance costs and nurse hours avoided. Pure Python.

Definitions (shown on the page and in the PDF too):
- A teleconsultation counts in the month (Europe/Paris) it is scheduled for (``starts_at``); a tele-expertise
  request in the month it was made (``requested_at``).
- **Requests** = appointments booked (every status) + tele-expertise requests.
- **Delay** = days from the booking (``created_at``) to the consultation (``starts_at``) of the consultations
  held, median and 90th percentile by nearest rank (the value at rank ceil(p * n)).
- **Emergency transfer avoided** = a teleconsultation whose finalised report's outcome keeps the resident in
  the care home: advice, or a treatment change. Not counted: a direct admission (the emergency room is
  bypassed but the resident is still carried to hospital), a second physical consultation (a trip all the
  same), an emergency referral, and "other" (nothing known).
- **Ambulance cost avoided** = each transfer avoided at the rate of the hour of its consultation: the
  evening/weekend rate on Saturdays, Sundays, French public holidays and before 08:00 or from 20:00
  (Paris time), the daytime rate otherwise.
- **Nurse hours saved** = transfers avoided x the configured minutes of care-home nurse time one emergency
  transfer takes (default 90: an assumption, see docs/configuration.md).

Suppression: every count below :data:`SUPPRESSION_THRESHOLD` (0 to 4) is published as "< 5", never the
number, with complementary suppression wherever a total would give a suppressed count back (:func:`protect`).
Values derived from a suppressed count (the delays of fewer than 5 consultations, the cost of fewer than 5
transfers avoided) are suppressed with it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from records.reports.model import Outcome
from teleconsult.errors import DomainError, NotFound
from teleconsult.i18n import N_

PARIS = ZoneInfo("Europe/Paris")
SUPPRESSION_THRESHOLD = 5
#: The longest period one page or export covers (months).
MAX_MONTHS = 36
#: Day rate hours (Paris time): [08:00, 20:00) on working days.
DAY_STARTS, EVENING_STARTS = 8, 20

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


#: Outcomes that keep the resident in the care home: each one is an emergency transfer avoided.
TRANSFER_AVOIDED = frozenset({Outcome.ADVICE, Outcome.TREATMENT_CHANGE})


# ------------------------------------------------------------------------------------------------ months


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 2000 <= self.year <= 2200:
            raise ValueError(f"{self.year}-{self.month}")

    def __hash__(self) -> int:
        return self.year * 12 + self.month

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def start(self) -> datetime:
        """The first instant of the month in Paris, in UTC."""
        return datetime.combine(date(self.year, self.month, 1), time(), tzinfo=PARIS).astimezone(UTC)

    @classmethod
    def of(cls, instant: datetime) -> Month:
        local = instant.astimezone(PARIS)
        return cls(local.year, local.month)


class MalformedMonth(DomainError):
    code = "malformed_month"
    status = 400
    message = N_("Give the months as YYYY-MM, for example 2027-01.")


class BadPeriod(DomainError):
    code = "bad_period"
    status = 400
    message = N_("Choose a period whose end is not before its start, of 36 months at most.")


class UnknownCareHome(NotFound):
    code = "unknown_care_home"
    message = N_("No care home with this id or FINESS number among those whose activity you see.")


def parse_month(raw: str) -> Month:
    """``2027-01`` -> Month(2027, 1); MalformedMonth (400) for anything else."""
    found = _MONTH.match(raw.strip())
    try:
        if found is None:
            raise ValueError(raw)
        return Month(int(found.group(1)), int(found.group(2)))
    except ValueError as exc:
        raise MalformedMonth() from exc


@dataclass(frozen=True, slots=True)
class Period:
    """Whole months, ``first`` to ``last`` included."""

    first: Month
    last: Month

    def months(self) -> list[Month]:
        found, month = [], self.first
        while month <= self.last:
            found.append(month)
            month = month.next()
        return found

    def start(self) -> datetime:
        return self.first.start()

    def end(self) -> datetime:
        return self.last.next().start()


def make_period(first: Month, last: Month) -> Period:
    if last < first or (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
        raise BadPeriod()
    return Period(first, last)


def default_period(now: datetime, months: int = 12) -> Period:
    """The last ``months`` months, the current one included."""
    last = Month.of(now)
    first = last
    for _ in range(months - 1):
        first = Month(first.year - (first.month == 1), (first.month - 2) % 12 + 1)
    return Period(first, last)


# ------------------------------------------------------------------------------- segments of fixed offset


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time inside one month with one UTC offset, all public holiday or none: the SQL buckets
    rows by segment (comparisons with UTC instants only), and the rate of an hour in it is known."""

    start: datetime
    end: datetime
    month_index: int
    offset_hours: int
    is_holiday: bool


def segments(period: Period, is_holiday: Callable[[date], bool]) -> list[Segment]:
    """Cut the period at each month start, each change of UTC offset and each public holiday's bounds."""
    cuts: set[datetime] = set()
    months = period.months()
    for month in months:
        cuts.add(month.start())
    cuts.add(period.end())
    day = date(period.first.year, period.first.month, 1)
    end_day = period.end().astimezone(PARIS).date()
    while day < end_day:
        midnight = datetime.combine(day, time(), tzinfo=PARIS)
        next_midnight = datetime.combine(day + timedelta(days=1), time(), tzinfo=PARIS)
        if midnight.utcoffset() != next_midnight.utcoffset():  # a DST change within this day: cut at 3:00
            cuts.add(datetime.combine(day, time(3), tzinfo=PARIS).astimezone(UTC))
        if is_holiday(day) != is_holiday(day - timedelta(days=1)):
            cuts.add(midnight.astimezone(UTC))
        if is_holiday(day) != is_holiday(day + timedelta(days=1)):
            cuts.add(next_midnight.astimezone(UTC))
        day += timedelta(days=1)
    ordered = sorted(cut for cut in cuts if period.start() <= cut <= period.end())
    found: list[Segment] = []
    for start, end in itertools.pairwise(ordered):
        local = start.astimezone(PARIS)
        offset = local.utcoffset()
        hours = int(offset.total_seconds() // 3600) if offset is not None else 0
        found.append(Segment(start, end, months.index(Month.of(start)), hours, is_holiday(local.date())))
    return found


def is_evening_rate(segment: Segment, utc_weekday: int, utc_hour: int) -> bool:
    """Whether an hour (weekday 0=Sunday as SQL's %w, hour in UTC) of this segment pays the evening/weekend
    rate: a public holiday, Saturday, Sunday, or before 08:00 or from 20:00 in Paris."""
    if segment.is_holiday:
        return True
    local_hour = utc_hour + segment.offset_hours
    weekday = (utc_weekday + local_hour // 24) % 7
    local_hour %= 24
    return weekday in (0, 6) or not DAY_STARTS <= local_hour < EVENING_STARTS


# ---------------------------------------------------------------------------------------------- savings


@dataclass(frozen=True, slots=True)
class SavingsRules:
    """Configured in settings: euros per ambulance round trip, minutes of nurse time per transfer."""

    day_rate_eur: int = 150
    evening_rate_eur: int = 225
    nurse_minutes_per_transfer: int = 90

    def cost(self, day_transfers: int, evening_transfers: int) -> int:
        return day_transfers * self.day_rate_eur + evening_transfers * self.evening_rate_eur

    def nurse_hours(self, transfers: int) -> float:
        return transfers * self.nurse_minutes_per_transfer / 60


# ---------------------------------------------------------------------------------------------- figures


class Key(NamedTuple):
    """One cell's coordinates; None in a coordinate means "all of them" (a total). (A named tuple rather
    than a frozen dataclass: a page builds and looks up about a thousand of them, and a tuple is built,
    hashed and compared in C.)"""

    month: Month | None
    ehpad_id: UUID | None
    specialty: str | None


@dataclass
class Cell:
    """The counts of one month x care home x specialty, or of a total, as SQL returned them."""

    appointments: int = 0
    done: int = 0
    cancelled: int = 0
    no_show: int = 0
    calls_with_incident: int = 0
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    avoided_day: int = 0
    avoided_evening: int = 0
    expertise: int = 0
    expertise_answered: int = 0
    expertise_converted: int = 0
    #: Not additive: filled by SQL for each published key (None: no consultation held).
    delay_median: float | None = None
    delay_p90: float | None = None

    @property
    def still_booked(self) -> int:
        return self.appointments - self.done - self.cancelled - self.no_show

    @property
    def requests(self) -> int:
        return self.appointments + self.expertise

    @property
    def finalised(self) -> int:
        return sum(self.outcomes.values())

    @property
    def avoided(self) -> int:
        return self.avoided_day + self.avoided_evening

    def counts(self) -> dict[str, int]:
        """Every published count by measure name."""
        found = {
            "requests": self.requests,
            "appointments": self.appointments,
            "done": self.done,
            "cancelled": self.cancelled,
            "no_show": self.no_show,
            "still_booked": self.still_booked,
            "calls_with_incident": self.calls_with_incident,
            "finalised": self.finalised,
            "avoided": self.avoided,
            "expertise": self.expertise,
            "expertise_answered": self.expertise_answered,
            "expertise_converted": self.expertise_converted,
        }
        for outcome in Outcome:
            found[f"outcome_{outcome.value}"] = self.outcomes.get(outcome, 0)
        return found


def nearest_ranks(ordered: Sequence[float]) -> tuple[float, float]:
    """The median and 90th percentile of values in ascending order (at least one), by nearest rank: the
    value at rank ceil(p x n)."""
    count = len(ordered)
    return ordered[(count + 1) // 2 - 1], ordered[(9 * count + 9) // 10 - 1]


def delay_ranks(held: Iterable[tuple[Key, Sequence[float]]]) -> dict[Key, tuple[float, float]]:
    """(median, 90th percentile) of every detail cell from its delays in ascending order, and of every
    total from its parts' delays put together and sorted again. The sorts run in C over runs already in
    order, and the longer the runs the cheaper: the months', specialties' and grand totals' delays are put
    together from those of each month and specialty, sorted first."""
    found: dict[Key, tuple[float, float]] = {}
    by_month_specialty: dict[tuple[Month | None, str | None], list[float]] = {}
    by_ehpad: dict[UUID | None, list[float]] = {}
    for key, ordered in held:
        if not ordered:
            continue
        found[key] = nearest_ranks(ordered)
        month_specialty = by_month_specialty.get((key.month, key.specialty))
        if month_specialty is None:
            by_month_specialty[(key.month, key.specialty)] = list(ordered)
        else:
            month_specialty.extend(ordered)
        ehpad = by_ehpad.get(key.ehpad_id)
        if ehpad is None:
            by_ehpad[key.ehpad_id] = list(ordered)
        else:
            ehpad.extend(ordered)
    by_month: dict[Month | None, list[float]] = {}
    by_specialty: dict[str | None, list[float]] = {}
    for (month, specialty), values in by_month_specialty.items():
        values.sort()
        by_month.setdefault(month, []).extend(values)
        by_specialty.setdefault(specialty, []).extend(values)
    pools: tuple[dict[Any, list[float]], ...] = (by_month, by_ehpad, by_specialty)
    for dimension, by_coordinate in enumerate(pools):
        for part_of, values in by_coordinate.items():
            values.sort()
            found[total_key(dimension, part_of)] = nearest_ranks(values)
    if by_month:
        everything: list[float] = []
        for values in by_month.values():
            everything.extend(values)
        everything.sort()
        found[Key(None, None, None)] = nearest_ranks(everything)
    return found


#: The published counts (in the order the exports show them).
COUNT_MEASURES: tuple[str, ...] = (
    "requests",
    "appointments",
    "done",
    "cancelled",
    "no_show",
    "still_booked",
    "calls_with_incident",
    "finalised",
    *(f"outcome_{outcome.value}" for outcome in Outcome),
    "avoided",
    "expertise",
    "expertise_answered",
    "expertise_converted",
)
#: Measures that are sums of others within one cell: total first, then its parts.
_WITHIN_CELL: tuple[tuple[str, ...], ...] = (
    ("requests", "appointments", "expertise"),
    ("appointments", "done", "cancelled", "no_show", "still_booked"),
    ("finalised", *(f"outcome_{outcome.value}" for outcome in Outcome)),
    ("avoided", f"outcome_{Outcome.ADVICE.value}", f"outcome_{Outcome.TREATMENT_CHANGE.value}"),
)


#: When a complementary suppression must choose, the headline figures are kept if anything else will do:
#: the smallest count among the least important measures of the equation goes first.
_KEEP: dict[str, int] = {"done": 3, "avoided": 3, "requests": 2, "finalised": 2, "expertise": 1}


#: The additive counts of a cell, in the order of a :data:`Counts` vector (and of activity_cells' columns).
ADDITIVE: tuple[str, ...] = (
    "appointments",
    "done",
    "cancelled",
    "no_show",
    "calls_with_incident",
    "avoided_day",
    "avoided_evening",
    "expertise",
    "expertise_answered",
    "expertise_converted",
    *(f"outcome_{outcome.value}" for outcome in Outcome),
)
#: A cell's additive counts as a vector (see :data:`ADDITIVE`): what the totals add up and the suppression
#: reads, without a Cell or a dict per cell (a page has about a thousand cells).
Counts = Sequence[int]
_OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
_FIRST_OUTCOME = ADDITIVE.index(f"outcome_{_OUTCOMES[0].value}")


def additive(cell: Cell) -> list[int]:
    """The additive counts of a cell (:data:`ADDITIVE`)."""
    outcomes = cell.outcomes
    return [
        cell.appointments,
        cell.done,
        cell.cancelled,
        cell.no_show,
        cell.calls_with_incident,
        cell.avoided_day,
        cell.avoided_evening,
        cell.expertise,
        cell.expertise_answered,
        cell.expertise_converted,
        *(outcomes.get(outcome, 0) for outcome in _OUTCOMES),
    ]


def cell_of(counts: Counts) -> Cell:
    """The cell of additive counts (delays not filled)."""
    return Cell(
        appointments=counts[0],
        done=counts[1],
        cancelled=counts[2],
        no_show=counts[3],
        calls_with_incident=counts[4],
        avoided_day=counts[5],
        avoided_evening=counts[6],
        expertise=counts[7],
        expertise_answered=counts[8],
        expertise_converted=counts[9],
        outcomes={
            outcome: count for outcome, count in zip(_OUTCOMES, counts[_FIRST_OUTCOME:], strict=True) if count
        },
    )


def roll_up(details: Mapping[Key, Cell]) -> dict[Key, Cell]:
    """The detail cells with every total the outputs publish: per month, per care home, per specialty,
    and the grand total (delays are not additive: the caller fills them)."""
    rolled = roll_up_counts({key: additive(cell) for key, cell in details.items()})
    return {key: details[key] if key in details else cell_of(counts) for key, counts in rolled.items()}


def roll_up_counts(details: Mapping[Key, Counts]) -> dict[Key, Counts]:
    """:func:`roll_up` on count vectors. Every detail has its three coordinates; the totals come after
    the details, in the order the details first reach them, the grand total last if no detail does."""
    cells: dict[Key, Counts] = dict(details)
    # The parts of each total, by dimension and coordinate (no Key built or hashed per detail).
    parts: tuple[dict[object, list[Counts]], ...] = ({}, {}, {}, {})
    order: list[tuple[int, object]] = []
    for key, counts in details.items():
        for dimension, coordinate in enumerate((key.month, key.ehpad_id, key.specialty, None)):
            found = parts[dimension].get(coordinate)
            if found is None:
                parts[dimension][coordinate] = [counts]
                order.append((dimension, coordinate))
            else:
                found.append(counts)
    for dimension, part_of in order:
        # Column sums over the parts: one pass in C per total rather than a Python loop over fields.
        cells[total_key(dimension, part_of)] = [
            sum(column) for column in zip(*parts[dimension][part_of], strict=True)
        ]
    cells.setdefault(Key(None, None, None), [0] * len(ADDITIVE))
    return cells


def total_key(dimension: int, coordinate: Any) -> Key:
    """The total over every coordinate but ``dimension``'s (0 month, 1 care home, 2 specialty; 3: all)."""
    return Key(
        coordinate if dimension == 0 else None,
        coordinate if dimension == 1 else None,
        coordinate if dimension == 2 else None,
    )


def _published_counts(counts: Counts) -> list[int]:
    """Every published count from the additive ones, in the order of :data:`COUNT_MEASURES` (what
    ``Cell.counts()`` gives, without building a dict)."""
    outcomes = counts[_FIRST_OUTCOME:]
    appointments, done, cancelled, no_show = counts[0], counts[1], counts[2], counts[3]
    return [
        appointments + counts[7],
        appointments,
        done,
        cancelled,
        no_show,
        appointments - done - cancelled - no_show,
        counts[4],
        sum(outcomes),
        *outcomes,
        counts[5] + counts[6],
        counts[7],
        counts[8],
        counts[9],
    ]


class _Equations:
    """The equations between published counts (sets where one member is the sum of the others: knowing all
    but one gives the last), numbered but not built: members are numbered cell number x len(COUNT_MEASURES)
    + measure number; equation ``cell x 4 + k`` is the k-th within-cell equation of that cell
    (:data:`_WITHIN_CELL`), and equation ``4 x cells + s x measures + m`` says that total ``s``'s measure
    ``m`` is the sum of that measure over its parts. Only the equations the suppression looks at are built,
    in the same order as if every one had been."""

    def __init__(self, keys: list[Key]) -> None:
        width = len(COUNT_MEASURES)
        self.width = width
        measure_of = {measure: index for index, measure in enumerate(COUNT_MEASURES)}
        self.within = [[measure_of[name] for name in names] for names in _WITHIN_CELL]
        #: For each measure, the within-cell equations (k) it belongs to.
        self.within_of: list[list[int]] = [
            [k for k, names in enumerate(self.within) if measure in names] for measure in range(width)
        ]
        # Totals over one dimension (by coordinate) and the grand total, by cell number.
        totals: tuple[dict[object, int], ...] = ({}, {}, {})
        grand: int | None = None
        groups: dict[tuple[int, object], list[int]] = {}
        by_dimension: dict[int, list[int]] = {0: [], 1: [], 2: []}
        for index, key in enumerate(keys):
            coordinates = (key.month, key.ehpad_id, key.specialty)
            present = [coordinate is not None for coordinate in coordinates]
            if all(present):
                for parent in enumerate(coordinates):
                    found = groups.get(parent)
                    if found is None:
                        groups[parent] = [index]
                    else:
                        found.append(index)
            elif sum(present) == 1:
                dimension = present.index(True)
                by_dimension[dimension].append(index)
                totals[dimension].setdefault(coordinates[dimension], index)
            elif not any(present) and grand is None:
                grand = index
        self.sums: list[tuple[int, list[int]]] = [
            (totals[dimension][coordinate], children)
            for (dimension, coordinate), children in groups.items()
            if coordinate in totals[dimension]
        ]
        if grand is not None:
            self.sums += [(grand, parts) for parts in by_dimension.values() if parts]
        #: For each cell, the sums (s) it takes part in, as the total or as a part, in ascending order.
        self.sums_of: list[list[int]] = [[] for _ in keys]
        for s, (total, children) in enumerate(self.sums):
            self.sums_of[total].append(s)
            for child in children:
                self.sums_of[child].append(s)
        self.first_sum = len(keys) * len(self.within)
        self.count = self.first_sum + len(self.sums) * width
        #: For each sum, its cells' first member numbers (total first), built when first needed.
        self.bases: list[list[int] | None] = [None] * len(self.sums)

    def members(self, equation: int) -> Iterator[int]:
        """The members of an equation, in order (the total first). (map over int.__add__: no Python
        loop, some equations have a member per care home or per month and care home.)"""
        if equation < self.first_sum:
            cell, k = divmod(equation, len(self.within))
            return map((cell * self.width).__add__, self.within[k])
        s, measure = divmod(equation - self.first_sum, self.width)
        bases = self.bases[s]
        if bases is None:
            total, children = self.sums[s]
            bases = self.bases[s] = [total * self.width, *(child * self.width for child in children)]
        return map(measure.__add__, bases)

    def of_member(self, member: int) -> list[int]:
        """The equations ``member`` belongs to, in ascending order."""
        cell, measure = divmod(member, self.width)
        within = len(self.within)
        return [cell * within + k for k in self.within_of[measure]] + [
            self.first_sum + s * self.width + measure for s in self.sums_of[cell]
        ]


def protect(cells: Mapping[Key, Cell]) -> set[tuple[Key, str]]:
    """The (key, measure) counts to publish as "< 5".

    Primary suppression: every count below the threshold (0 to 4). Complementary suppression: in every
    equation between published counts (a total and its parts: within a row, e.g. appointments = held +
    cancelled + no-show + still booked; and across rows, e.g. a month's total = the sum of its care homes'
    cells), a single suppressed member could be recomputed from the others, so another member is suppressed
    too (the smallest, headline figures such as consultations held last); repeated until no equation has
    exactly one suppressed member that is not zero (the sum of the suppressed members can be worked out:
    with one non-zero member it is that member's count; a zero discloses nobody, and protecting it would
    hide the large totals beside every empty month).
    (Combinations of several equations are not searched: this is the "at least one complementary cell"
    rule.)
    """
    keys = list(cells)
    width = len(COUNT_MEASURES)
    values = [count for key in keys for count in _published_counts(additive(cells[key]))]
    hidden = _hidden_flags(keys, values)
    return {
        (keys[number // width], COUNT_MEASURES[number % width])
        for number, is_hidden in enumerate(hidden)
        if is_hidden
    }


_KEEP_BY_MEASURE: tuple[int, ...] = tuple(_KEEP.get(measure, 0) for measure in COUNT_MEASURES)


def _hidden_flags(keys: list[Key], values: list[int]) -> list[bool]:
    """:func:`protect`'s work: one flag per member number (cell number x measures + measure number), from
    the counts ``values`` numbered the same way.

    Each equation keeps its count of suppressed non-zero members, looked at again only when one of its
    members has just been suppressed. Only the equations holding a suppressed non-zero member are ever
    counted or built (:class:`_Equations`): the others cannot need a complementary suppression until one
    of their members is suppressed, and then they are reached from it."""
    width = len(COUNT_MEASURES)
    keep = _KEEP_BY_MEASURE
    equations = _Equations(keys)
    hidden = [count < SUPPRESSION_THRESHOLD for count in values]
    disclosed = [0] * equations.count
    within, within_of, sums_of = len(equations.within), equations.within_of, equations.sums_of
    for member, count in enumerate(values):
        # The suppressed members' sum can be worked out: it discloses a count when a single one of them
        # is not zero (a zero discloses nobody). (equations.of_member, inlined: this runs for every
        # small count.)
        if 0 < count < SUPPRESSION_THRESHOLD:
            cell, measure = divmod(member, width)
            for k in within_of[measure]:
                disclosed[cell * within + k] += 1
            first = equations.first_sum + measure
            for s in sums_of[cell]:
                disclosed[first + s * width] += 1
    pending = [index for index, count in enumerate(disclosed) if count == 1]
    while pending:
        index = pending.pop()
        if disclosed[index] != 1:
            continue
        visible = [member for member in equations.members(index) if not hidden[member]]
        if not visible:
            continue
        chosen = min(visible, key=lambda member: (keep[member % width], values[member]))
        hidden[chosen] = True
        if values[chosen] > 0:
            for other in equations.of_member(chosen):
                disclosed[other] += 1
                if disclosed[other] == 1:
                    pending.append(other)
    return hidden


@dataclass(frozen=True, slots=True)
class Shown:
    """A figure as published: its value, or None when suppressed (shown "< 5")."""

    value: int | float | None

    @property
    def is_suppressed(self) -> bool:
        return self.value is None

    def text(self, decimals: int = 0) -> str:
        if self.value is None:
            return f"< {SUPPRESSION_THRESHOLD}"
        if decimals:
            return f"{self.value:.{decimals}f}".replace(".", ",")
        return f"{round(self.value):d}"


@dataclass(frozen=True, slots=True)
class Published:
    """One cell as every output shows it (page, CSV, XLSX, PDF): suppression applied once, here."""

    key: Key
    #: The published counts in the order of :data:`COUNT_MEASURES` (``cell["done"]`` reads one by name).
    shown: Sequence[Shown]
    delay_median: Shown
    delay_p90: Shown
    cost_eur: Shown
    nurse_hours: Shown

    def __getitem__(self, measure: str) -> Shown:
        return self.shown[_MEASURE_NUMBER[measure]]

    @property
    def counts(self) -> dict[str, Shown]:
        return dict(zip(COUNT_MEASURES, self.shown, strict=True))


_MEASURE_NUMBER: dict[str, int] = {measure: number for number, measure in enumerate(COUNT_MEASURES)}


_HIDDEN = Shown(None)


def publish(cells: Mapping[Key, Cell], rules: SavingsRules) -> dict[Key, Published]:
    """Every cell with its suppression (see :func:`publish_counts`)."""
    return publish_counts(
        {key: additive(cell) for key, cell in cells.items()},
        {
            key: (cell.delay_median, cell.delay_p90)
            for key, cell in cells.items()
            if cell.delay_median is not None and cell.delay_p90 is not None
        },
        rules,
    )


def publish_counts(
    cells: Mapping[Key, Counts], delays: Mapping[Key, tuple[float, float]], rules: SavingsRules
) -> dict[Key, Published]:
    """Every cell (its count vector, and its delays' median and 90th percentile if any consultation was
    held) with its suppression. A delay is shown only with its count of consultations held; the cost
    and nurse hours only with the transfers avoided, and the cost only when neither its daytime nor its
    evening part is between 1 and 4 (the two rates would give the split back)."""
    keys = list(cells)
    values = list(chain.from_iterable(map(_published_counts, map(cells.__getitem__, keys))))
    flags = _hidden_flags(keys, values)
    # Shown is immutable: one instance per distinct value is enough. One cache per kind of value (a count
    # 7 and a delay 7.0 are equal keys but not the same figure).
    counts_shown: dict[int, Shown] = {}
    delays_shown: dict[float, Shown] = {}
    hours_shown: dict[int, Shown] = {}
    costs_shown: dict[tuple[int, int], Shown] = {}

    def show(cache: dict[Any, Shown], key: Any, value: float | None) -> Shown:
        found = cache[key] = Shown(value)
        return found

    every = [
        _HIDDEN if is_hidden else counts_shown.get(count) or show(counts_shown, count, count)
        for is_hidden, count in zip(flags, values, strict=True)
    ]
    width = len(COUNT_MEASURES)
    done, avoided = _MEASURE_NUMBER["done"], _MEASURE_NUMBER["avoided"]
    day, evening = ADDITIVE.index("avoided_day"), ADDITIVE.index("avoided_evening")
    published: dict[Key, Published] = {}
    for index, key in enumerate(keys):
        counts = cells[key]
        base = index * width
        median = p90 = cost = hours = _HIDDEN
        if not flags[base + done]:
            found = delays.get(key)
            if found is not None:
                first, second = found
                median = delays_shown.get(first) or show(delays_shown, first, first)
                p90 = delays_shown.get(second) or show(delays_shown, second, second)
        if not flags[base + avoided]:
            day_transfers, evening_transfers = counts[day], counts[evening]
            transfers = day_transfers + evening_transfers
            hours = hours_shown.get(transfers) or show(hours_shown, transfers, rules.nurse_hours(transfers))
            if not (
                0 < day_transfers < SUPPRESSION_THRESHOLD or 0 < evening_transfers < SUPPRESSION_THRESHOLD
            ):
                split = (day_transfers, evening_transfers)
                cost = costs_shown.get(split) or show(costs_shown, split, rules.cost(*split))
        published[key] = Published(key, every[base : base + width], median, p90, cost, hours)
    return published

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
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


@dataclass(frozen=True, slots=True)
class Key:
    """One cell's coordinates; None in a coordinate means "all of them" (a total)."""

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

    def add(self, other: Cell) -> None:
        for name in (
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
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for outcome, count in other.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count


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


def roll_up(details: Mapping[Key, Cell]) -> dict[Key, Cell]:
    """The detail cells with every total the outputs publish: per month, per care home, per specialty,
    and the grand total (delays are not additive: SQL fills them)."""
    cells: dict[Key, Cell] = dict(details)
    for key, cell in details.items():
        for total in (
            Key(key.month, None, None),
            Key(None, key.ehpad_id, None),
            Key(None, None, key.specialty),
            Key(None, None, None),
        ):
            cells.setdefault(total, Cell()).add(cell)
    cells.setdefault(Key(None, None, None), Cell())
    return cells


def _equations(keys: list[Key]) -> list[list[int]]:
    """Sets of published counts where one member is the sum of the others (knowing all but one of them
    gives the last one), as member numbers: cell number x len(COUNT_MEASURES) + measure number."""
    width = len(COUNT_MEASURES)
    number = {key: index for index, key in enumerate(keys)}
    measure_of = {measure: index for index, measure in enumerate(COUNT_MEASURES)}
    within = [[measure_of[name] for name in names] for names in _WITHIN_CELL]
    equations: list[list[int]] = []
    for index in range(len(keys)):
        for names in within:
            equations.append([index * width + measure for measure in names])
    groups: dict[Key, list[int]] = {}
    by_dimension: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for index, key in enumerate(keys):
        coordinates = (key.month is not None, key.ehpad_id is not None, key.specialty is not None)
        if all(coordinates):
            for parent in (
                Key(key.month, None, None),
                Key(None, key.ehpad_id, None),
                Key(None, None, key.specialty),
            ):
                groups.setdefault(parent, []).append(index)
        elif sum(coordinates) == 1:
            by_dimension[coordinates.index(True)].append(index)
    grand = number.get(Key(None, None, None))
    sums: list[tuple[int, list[int]]] = [
        (number[parent], children) for parent, children in groups.items() if parent in number
    ]
    if grand is not None:
        sums += [(grand, totals) for totals in by_dimension.values() if totals]
    for total, children in sums:
        for measure in range(width):
            equations.append([total * width + measure, *(child * width + measure for child in children)])
    return equations


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
    # Members are numbered (cell number x measures + measure number): the loop below handles integers
    # only, and each equation keeps its count of suppressed non-zero members, looked at again only when
    # one of its members has just been suppressed.
    keys = list(cells)
    width = len(COUNT_MEASURES)
    hidden = _hidden_flags(keys, cells)
    return {
        (keys[number // width], COUNT_MEASURES[number % width])
        for number, is_hidden in enumerate(hidden)
        if is_hidden
    }


def _hidden_flags(keys: list[Key], cells: Mapping[Key, Cell]) -> list[bool]:
    """:func:`protect`'s work: one flag per member number (cell number x measures + measure number)."""
    width = len(COUNT_MEASURES)
    values: list[int] = []
    for key in keys:
        counts = cells[key].counts()
        values.extend(counts[measure] for measure in COUNT_MEASURES)
    keep = [_KEEP.get(COUNT_MEASURES[number % width], 0) for number in range(len(values))]
    hidden = [count < SUPPRESSION_THRESHOLD for count in values]
    equations = _equations(keys)
    of_member: list[list[int]] = [[] for _ in values]
    disclosed: list[int] = []
    for index, equation in enumerate(equations):
        for member in equation:
            of_member[member].append(index)
        # The suppressed members' sum can be worked out: it discloses a count when a single one of them is
        # not zero (a zero discloses nobody).
        disclosed.append(sum(1 for member in equation if hidden[member] and values[member] > 0))
    pending = [index for index, count in enumerate(disclosed) if count == 1]
    while pending:
        index = pending.pop()
        if disclosed[index] != 1:
            continue
        visible = [member for member in equations[index] if not hidden[member]]
        if not visible:
            continue
        chosen = min(visible, key=lambda member: (keep[member], values[member]))
        hidden[chosen] = True
        if values[chosen] > 0:
            for other in of_member[chosen]:
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
    counts: dict[str, Shown]
    delay_median: Shown
    delay_p90: Shown
    cost_eur: Shown
    nurse_hours: Shown

    def __getitem__(self, measure: str) -> Shown:
        return self.counts[measure]


def publish(cells: Mapping[Key, Cell], rules: SavingsRules) -> dict[Key, Published]:
    """Every cell with its suppression. A delay is shown only with its count of consultations held; the cost
    and nurse hours only with the transfers avoided, and the cost only when neither its daytime nor its
    evening part is between 1 and 4 (the two rates would give the split back)."""
    keys = list(cells)
    flags = _hidden_flags(keys, cells)
    width = len(COUNT_MEASURES)
    done, avoided = COUNT_MEASURES.index("done"), COUNT_MEASURES.index("avoided")
    published: dict[Key, Published] = {}
    for index, key in enumerate(keys):
        cell = cells[key]
        base = index * width
        all_counts = cell.counts()
        counts = {
            measure: Shown(None if flags[base + number] else all_counts[measure])
            for number, measure in enumerate(COUNT_MEASURES)
        }
        held_hidden = flags[base + done]
        avoided_hidden = flags[base + avoided]
        split_small = any(
            0 < part < SUPPRESSION_THRESHOLD for part in (cell.avoided_day, cell.avoided_evening)
        )
        published[key] = Published(
            key=key,
            counts=counts,
            delay_median=Shown(None if held_hidden else cell.delay_median),
            delay_p90=Shown(None if held_hidden else cell.delay_p90),
            cost_eur=Shown(
                None if avoided_hidden or split_small else rules.cost(cell.avoided_day, cell.avoided_evening)
            ),
            nurse_hours=Shown(None if avoided_hidden else rules.nurse_hours(cell.avoided)),
        )
    return published

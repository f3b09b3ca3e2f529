"""The rows every output shows (page, CSV, XLSX, PDF): one list of columns, the labels they carry, and the
text of each published value. Built from :class:`records.activity.service.Activity`, whose cells are
already suppressed: nothing here can show a suppressed count."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from records.activity.model import Published, Shown
from records.activity.service import Activity
from records.reports.model import Outcome
from teleconsult.i18n import N_

OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.ADVICE: N_("Advice to the care home"),
    Outcome.TREATMENT_CHANGE: N_("Treatment change"),
    Outcome.DIRECT_ADMISSION: N_("Direct admission (no emergency room)"),
    Outcome.SECOND_CONSULTATION: N_("Second, physical consultation"),
    Outcome.EMERGENCY_REFERRAL: N_("Sent to the emergency room"),
    Outcome.OTHER: N_("Other"),
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    label: str  # msgid
    value: Callable[[Published], Shown]
    decimals: int = 0


def _count(measure: str) -> Callable[[Published], Shown]:
    return lambda cell: cell[measure]


COLUMNS: tuple[Column, ...] = (
    Column("requests", N_("Requests"), _count("requests")),
    Column("appointments", N_("Teleconsultations booked"), _count("appointments")),
    Column("done", N_("Consultations held"), _count("done")),
    Column("cancelled", N_("Cancellations"), _count("cancelled")),
    Column("no_show", N_("Missed (no-show)"), _count("no_show")),
    Column("still_booked", N_("Still to come"), _count("still_booked")),
    Column("delay_median", N_("Delay, median (days)"), lambda cell: cell.delay_median, 1),
    Column("delay_p90", N_("Delay, 90th percentile (days)"), lambda cell: cell.delay_p90, 1),
    Column("calls_with_incident", N_("Calls with a technical incident"), _count("calls_with_incident")),
    Column("finalised", N_("Finalised reports"), _count("finalised")),
    *(Column(f"outcome_{o.value}", OUTCOME_LABELS[o], _count(f"outcome_{o.value}")) for o in Outcome),
    Column("avoided", N_("Emergency transfers avoided"), _count("avoided")),
    Column("cost_eur", N_("Ambulance cost avoided (EUR)"), lambda cell: cell.cost_eur),
    Column("nurse_hours", N_("Nurse hours saved"), lambda cell: cell.nurse_hours, 1),
    Column("expertise", N_("Tele-expertise requests"), _count("expertise")),
    Column("expertise_answered", N_("Tele-expertise answered"), _count("expertise_answered")),
    Column(
        "expertise_converted",
        N_("Tele-expertise turned into teleconsultations"),
        _count("expertise_converted"),
    ),
)
#: The columns the page's summary tables show (the exports carry them all).
SUMMARY = (
    "requests",
    "done",
    "cancelled",
    "no_show",
    "delay_median",
    "delay_p90",
    "calls_with_incident",
    "avoided",
    "cost_eur",
    "expertise",
)
ALL = N_("All")


def number(shown: Shown, decimals: int = 0) -> float | int | str:
    """A spreadsheet's value: the number, or the text "< 5"."""
    if shown.value is None:
        return shown.text()
    return round(float(shown.value), decimals) if decimals else round(shown.value)


def rows(
    activity: Activity, translate: Callable[[str], str], specialty_labels: dict[str, str]
) -> Iterator[list[str | int | float]]:
    """Header then one line per published cell: the details (month x care home x specialty), then the totals
    per month, per care home, per specialty and overall ("All" in the coordinates they sum over)."""
    names = activity.names
    finess = {home.id: home.finess or "" for home in activity.care_homes}
    yield [
        translate(N_("Month")),
        translate(N_("Care home")),
        translate(N_("FINESS")),
        translate(N_("Specialty")),
        *(translate(column.label) for column in COLUMNS),
    ]
    everything = translate(ALL)
    for cell in [
        *activity.details(),
        *activity.by_month(),
        *activity.by_care_home(),
        *activity.by_specialty(),
        activity.total,
    ]:
        key = cell.key
        yield [
            str(key.month) if key.month else everything,
            names.get(key.ehpad_id, "") if key.ehpad_id else everything,
            finess.get(key.ehpad_id, "") if key.ehpad_id else "",
            translate(specialty_labels.get(key.specialty, key.specialty)) if key.specialty else everything,
            *(number(column.value(cell), column.decimals) for column in COLUMNS),
        ]

"""Activity's pure rules: months and periods, the cutting of a period for the rates, suppression of small
counts (primary and complementary), and the savings."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from records.activity.model import (
    COUNT_MEASURES,
    BadPeriod,
    Cell,
    Key,
    MalformedMonth,
    Month,
    Outcome,
    Period,
    SavingsRules,
    additive,
    cell_of,
    default_period,
    delay_ranks,
    is_evening_rate,
    make_period,
    nearest_ranks,
    parse_month,
    protect,
    publish,
    roll_up,
    roll_up_counts,
    segments,
)

A, B = uuid.UUID(int=1), uuid.UUID(int=2)
JAN, FEB = Month(2027, 1), Month(2027, 2)


def no_holiday(day: date) -> bool:
    return False


def test_months_parse_as_yyyy_mm_and_anything_else_is_a_400() -> None:
    assert parse_month(" 2027-01 ") == JAN
    for raw in ("2027-1", "2027-13", "27-01", "janvier", "2027-00", "", "2027-01-05"):
        with pytest.raises(MalformedMonth) as caught:
            parse_month(raw)
        assert caught.value.status == 400


def test_a_period_runs_forwards_and_covers_36_months_at_most() -> None:
    assert make_period(JAN, FEB).months() == [JAN, FEB]
    assert len(make_period(Month(2025, 1), Month(2027, 12)).months()) == 36
    for first, last in ((FEB, JAN), (Month(2025, 1), Month(2028, 1))):
        with pytest.raises(BadPeriod):
            make_period(first, last)


def test_default_period_is_the_last_twelve_months_with_the_current_one() -> None:
    period = default_period(datetime(2027, 1, 15, tzinfo=UTC))
    assert (period.first, period.last) == (Month(2026, 2), JAN)


def test_a_paris_month_starts_at_its_paris_midnight() -> None:
    assert JAN.start() == datetime(2026, 12, 31, 23, tzinfo=UTC)  # winter: UTC+1
    assert Month(2027, 7).start() == datetime(2027, 6, 30, 22, tzinfo=UTC)  # summer: UTC+2


def test_segments_cut_at_months_the_dst_change_and_holidays() -> None:
    period = Period(Month(2027, 3), Month(2027, 4))
    cuts = segments(period, lambda day: day == date(2027, 4, 5))  # a Monday off
    assert cuts[0].start == period.start() and cuts[-1].end == period.end()
    assert all(a.end == b.start for a, b in itertools.pairwise(cuts))
    march = [s for s in cuts if s.month_index == 0]
    assert [s.offset_hours for s in march] == [1, 2]  # the clocks go forward on 28 March 2027
    holiday = [s for s in cuts if s.is_holiday]
    assert len(holiday) == 1 and holiday[0].start == datetime(2027, 4, 4, 22, tzinfo=UTC)


def test_evening_rate_on_weekends_holidays_and_outside_8_to_20_paris_time() -> None:
    winter = segments(Period(JAN, JAN), no_holiday)[0]
    # Wednesday 14:00 UTC = 15:00 Paris: daytime. 19:00 UTC = 20:00 Paris: evening. 06:30 UTC = 07:30.
    assert not is_evening_rate(winter, 3, 14)
    assert is_evening_rate(winter, 3, 19)
    assert is_evening_rate(winter, 3, 6)
    assert is_evening_rate(winter, 6, 12)  # Saturday
    assert is_evening_rate(winter, 5, 23)  # Friday 23:00 UTC is Saturday 00:00 in Paris
    holiday = segments(Period(JAN, JAN), lambda day: day.day == 1)[0]
    assert holiday.is_holiday and is_evening_rate(holiday, 5, 10)


def test_savings_count_each_rate_and_the_nurse_time() -> None:
    rules = SavingsRules()
    assert (rules.day_rate_eur, rules.evening_rate_eur, rules.nurse_minutes_per_transfer) == (150, 225, 90)
    assert rules.cost(3, 2) == 3 * 150 + 2 * 225
    assert rules.nurse_hours(5) == 7.5


def cell(**counts: int) -> Cell:
    return Cell(**counts)  # type: ignore[arg-type]


def test_every_count_below_5_is_suppressed_and_never_shown() -> None:
    cells = roll_up({Key(JAN, A, "geriatrie"): cell(appointments=12, done=10, cancelled=2)})
    published = publish(cells, SavingsRules())
    detail = published[Key(JAN, A, "geriatrie")]
    assert detail["cancelled"].text() == "< 5" and detail["cancelled"].value is None
    assert detail["no_show"].text() == "< 5"  # 0 too: every count under 5
    # 12 booked = 10 held + 2 cancelled: one of the two shown would give the 2 back. The headline figure
    # (held) is kept; the number booked is suppressed instead.
    assert detail["done"].value == 10
    assert detail["appointments"].value is None


def test_a_single_suppressed_part_of_a_shown_total_gets_a_complementary_suppression() -> None:
    # Within a row: 17 booked = 10 held + 2 cancelled + 5 no-shows + 0 still to come: the 2 cancelled would
    # come back as 17 - 10 - 5 (the "< 5" of the zero changes nothing to the sum).
    cells = roll_up({Key(JAN, A, "geriatrie"): cell(appointments=17, done=10, cancelled=2, no_show=5)})
    hidden = protect(cells)
    key = Key(JAN, A, "geriatrie")
    assert (key, "cancelled") in hidden
    assert (key, "no_show") in hidden  # the smallest other part: 17 - 10 - ? no longer gives 2
    assert (key, "done") not in hidden and (key, "appointments") not in hidden


def test_across_rows_a_total_cannot_give_back_a_suppressed_month() -> None:
    details = {
        Key(JAN, A, "geriatrie"): cell(appointments=20, done=20),
        Key(FEB, A, "geriatrie"): cell(appointments=3, done=3),
    }
    published = publish(roll_up(details), SavingsRules())
    total = published[Key(None, None, None)]
    january = published[Key(JAN, A, "geriatrie")]
    february = published[Key(FEB, A, "geriatrie")]
    assert february["done"].value is None
    # 23 held in total and 20 in January would give February's 3: one of them is suppressed as well.
    assert total["done"].value is None or january["done"].value is None
    for measure in ("done", "appointments"):
        shown = [
            published[key][measure].value
            for key in (Key(None, None, None), Key(JAN, None, None), Key(FEB, None, None))
        ]
        assert shown.count(None) != 1  # never one suppressed member alone in a total's equation


def test_a_suppressed_zero_forces_no_complementary_suppression() -> None:
    details = {Key(JAN, A, "geriatrie"): cell(appointments=20, done=20)}
    published = publish(roll_up(details), SavingsRules())
    assert published[Key(JAN, A, "geriatrie")]["done"].value == 20
    assert published[Key(None, None, None)]["done"].value == 20


def test_delays_cost_and_hours_are_suppressed_with_their_count() -> None:
    small = cell(appointments=3, done=3)
    small.delay_median, small.delay_p90 = 4.0, 9.0
    small.outcomes = {Outcome.ADVICE: 3}
    small.avoided_day = 3
    published = publish({Key(JAN, A, "geriatrie"): small}, SavingsRules())[Key(JAN, A, "geriatrie")]
    assert published.delay_median.value is None and published.delay_p90.value is None
    assert published.cost_eur.value is None and published.nurse_hours.value is None


def test_cost_is_hidden_when_it_would_give_back_a_small_evening_count() -> None:
    big = cell(appointments=30, done=30)
    big.outcomes = {Outcome.ADVICE: 20, Outcome.TREATMENT_CHANGE: 10}
    big.avoided_day, big.avoided_evening = 28, 2
    shown = publish({Key(JAN, A, "geriatrie"): big}, SavingsRules())[Key(JAN, A, "geriatrie")]
    assert shown["avoided"].value == 30
    assert shown.cost_eur.value is None  # 30 avoided and the cost would say 2 were in the evening
    assert shown.nurse_hours.value == 45.0
    big.avoided_day, big.avoided_evening = 30, 0
    shown = publish({Key(JAN, A, "geriatrie"): big}, SavingsRules())[Key(JAN, A, "geriatrie")]
    assert shown.cost_eur.value == 4500


def test_totals_add_up_their_cells_along_each_dimension() -> None:
    cells = roll_up(
        {
            Key(JAN, A, "geriatrie"): cell(appointments=6, done=5),
            Key(FEB, B, "geriatrie"): cell(appointments=7, done=6),
            Key(FEB, A, "plaies_cicatrisation"): cell(appointments=8, done=7),
        }
    )
    assert cells[Key(None, None, None)].done == 18
    assert cells[Key(FEB, None, None)].done == 13
    assert cells[Key(None, A, None)].done == 12
    assert cells[Key(None, None, "geriatrie")].appointments == 13


def test_delays_take_the_nearest_rank_of_each_cell_and_of_each_total_pooled() -> None:
    assert nearest_ranks([1.0, 2.0, 3.0, 4.0, 5.0, 10.0]) == (3.0, 10.0)  # ranks 3 and 6
    assert nearest_ranks([7.0]) == (7.0, 7.0)
    assert nearest_ranks([float(n) for n in range(1, 11)]) == (5.0, 9.0)  # ranks 5 and 9
    ranks = delay_ranks(
        [
            (Key(JAN, A, "geriatrie"), [1.0, 2.0, 3.0, 4.0, 5.0, 10.0]),
            (Key(FEB, A, "geriatrie"), [7.0, 7.0]),
            (Key(JAN, B, "geriatrie"), [2.0]),
            (Key(FEB, B, "geriatrie"), []),  # nothing held: no delay
        ]
    )
    assert ranks[Key(JAN, A, "geriatrie")] == (3.0, 10.0)
    assert Key(FEB, B, "geriatrie") not in ranks
    assert ranks[Key(None, None, None)] == (4.0, 10.0)  # 1, 2, 2, 3, 4, 5, 7, 7, 10: ranks 5 and 9
    assert ranks[Key(None, A, None)] == (4.0, 10.0)  # 1, 2, 3, 4, 5, 7, 7, 10: ranks 4 and 8
    assert ranks[Key(JAN, None, None)] == (3.0, 10.0)  # 1, 2, 2, 3, 4, 5, 10: ranks 4 and 7
    assert ranks[Key(None, B, None)] == (2.0, 2.0)


def _reference_hidden(cells: dict[Key, Cell]) -> set[tuple[Key, str]]:
    """The complementary suppression written plainly: every equation built, then the same loop."""
    keys, width = list(cells), len(COUNT_MEASURES)
    values = [cells[key].counts()[measure] for key in keys for measure in COUNT_MEASURES]
    keep = {"done": 3, "avoided": 3, "requests": 2, "finalised": 2, "expertise": 1}
    within = [
        ["requests", "appointments", "expertise"],
        ["appointments", "done", "cancelled", "no_show", "still_booked"],
        ["finalised", *(f"outcome_{o.value}" for o in Outcome)],
        ["avoided", "outcome_advice", "outcome_treatment_change"],
    ]
    equations = [
        [index * width + COUNT_MEASURES.index(name) for name in names]
        for index in range(len(keys))
        for names in within
    ]
    number = {key: index for index, key in enumerate(keys)}
    parts: dict[Key, list[int]] = {}
    dimensions: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for index, key in enumerate(keys):
        present = (key.month is not None, key.ehpad_id is not None, key.specialty is not None)
        if all(present):
            for parent in (
                Key(key.month, None, None),
                Key(None, key.ehpad_id, None),
                Key(None, None, key.specialty),
            ):
                parts.setdefault(parent, []).append(index)
        elif sum(present) == 1:
            dimensions[present.index(True)].append(index)
    sums = [(number[parent], children) for parent, children in parts.items() if parent in number]
    sums += [(number[Key(None, None, None)], totals) for totals in dimensions.values() if totals]
    for total, children in sums:
        for measure in range(width):
            equations.append([total * width + measure, *(child * width + measure for child in children)])
    hidden = [value < 5 for value in values]
    disclosed = [sum(1 for m in equation if hidden[m] and values[m] > 0) for equation in equations]
    pending = [index for index, count in enumerate(disclosed) if count == 1]
    while pending:
        index = pending.pop()
        visible = [m for m in equations[index] if not hidden[m]]
        if disclosed[index] != 1 or not visible:
            continue
        chosen = min(visible, key=lambda m: (keep.get(COUNT_MEASURES[m % width], 0), values[m]))
        hidden[chosen] = True
        if values[chosen] > 0:
            for other, equation in enumerate(equations):
                if chosen in equation:
                    disclosed[other] += 1
                    if disclosed[other] == 1:
                        pending.append(other)
    return {(keys[m // width], COUNT_MEASURES[m % width]) for m, flag in enumerate(hidden) if flag}


_small = st.integers(min_value=0, max_value=8)


@st.composite
def territories(draw: st.DrawFn) -> dict[Key, Cell]:
    details: dict[Key, Cell] = {}
    for month in (JAN, FEB):
        for home in (A, B, uuid.UUID(int=3)):
            for specialty in ("geriatrie", "psychogeriatrie"):
                if not draw(st.booleans()):
                    continue
                done, cancelled, no_show, booked = (draw(_small) for _ in range(4))
                outcomes = {o: draw(_small) for o in Outcome if draw(st.booleans())}
                details[Key(month, home, specialty)] = Cell(
                    appointments=done + cancelled + no_show + booked,
                    done=done,
                    cancelled=cancelled,
                    no_show=no_show,
                    calls_with_incident=draw(_small),
                    outcomes=outcomes,
                    avoided_day=draw(_small),
                    avoided_evening=draw(_small),
                    expertise=draw(_small),
                    expertise_answered=draw(_small),
                )
    return details


@settings(max_examples=150, deadline=None)
@given(territories())
def test_the_suppression_hides_what_the_plain_algorithm_hides(details: dict[Key, Cell]) -> None:
    cells = roll_up(details)
    assert protect(cells) == _reference_hidden(cells)
    counts = roll_up_counts({key: additive(cell) for key, cell in details.items()})
    assert list(counts) == list(cells)
    assert all(cell_of(counts[key]).counts() == cell.counts() for key, cell in cells.items())
    published = publish(cells, SavingsRules())
    hidden = protect(cells)
    assert {
        (key, measure)
        for key, cell in published.items()
        for measure in COUNT_MEASURES
        if cell[measure].is_suppressed
    } == hidden

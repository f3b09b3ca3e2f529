"""Activity's pure rules: months and periods, the cutting of a period for the rates, suppression of small
counts (primary and complementary), and the savings."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime

import pytest

from records.activity.model import (
    BadPeriod,
    Cell,
    Key,
    MalformedMonth,
    Month,
    Outcome,
    Period,
    SavingsRules,
    default_period,
    is_evening_rate,
    make_period,
    parse_month,
    protect,
    publish,
    roll_up,
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

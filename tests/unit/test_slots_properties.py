"""Slot generation (scheduling.model): properties over random windows, leave, bookings and search ranges,
and daylight-saving time, by example and by property.

Paris changes offset on the last Sunday of March (02:00 -> 03:00, +01:00 -> +02:00) and of October
(03:00 -> 02:00, +02:00 -> +01:00). In 2027 those are 28 March (also Easter Sunday; Easter Monday the 29th
is a public holiday) and 31 October (All Saints' Day, 1 November, is a public holiday).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.model import (
    PARIS,
    Leave,
    OutsideAvailability,
    Slot,
    Window,
    free_slots,
    offered_slot,
    window_slots,
)
from scheduling.service import is_french_holiday
from teleconsult.identity.model import Specialty

EXPERTS = (uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3))
SPECIALTIES = (Specialty.GERIATRIE, Specialty.PSYCHOGERIATRIE)
SPRING_2027 = date(2027, 3, 28)
AUTUMN_2027 = date(2027, 10, 31)
WINTER = timedelta(hours=1)
SUMMER = timedelta(hours=2)


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


#: Every change of offset from 2025 to 2035.
DST_CHANGES = tuple(last_sunday(year, month) for year in range(2025, 2036) for month in (3, 10))


def window(
    start: time = time(14, 0),
    end: time = time(17, 30),
    *,
    weekdays: Sequence[int] = range(7),
    expert_id: uuid.UUID = EXPERTS[0],
    valid_from: date = date(2025, 1, 1),
    valid_until: date | None = None,
    consultation: int = 30,
    report: int = 15,
) -> Window:
    return Window(
        uuid.uuid4(),
        expert_id,
        Specialty.GERIATRIE,
        frozenset(weekdays),
        start,
        end,
        valid_from,
        valid_until,
        consultation,
        report,
    )


def wall(moment: datetime) -> str:
    return moment.astimezone(PARIS).strftime("%H:%M")


def naive_local(moment: datetime) -> datetime:
    return moment.astimezone(PARIS).replace(tzinfo=None)


# ------------------------------------------------------------------------------------------ strategies

#: Days near the changes of offset are drawn often, any day of 2026-2028 otherwise.
near_a_change = st.builds(
    lambda change, shift: change + timedelta(days=shift),
    st.sampled_from(DST_CHANGES),
    st.integers(-3, 3),
)
any_day = st.dates(date(2026, 1, 1), date(2028, 12, 31))
base_days = st.one_of(near_a_change, any_day)


@st.composite
def windows(draw: st.DrawFn, around: date, earliest: int = 0) -> Window:
    consultation = draw(st.integers(10, 90))
    report = draw(st.integers(0, 30))
    unit = consultation + report
    # Any minute of the day, night included, so that windows meet the skipped and the repeated hour.
    start_minute = draw(st.integers(earliest, 24 * 60 - 1 - unit))
    count = draw(st.integers(1, (24 * 60 - 1 - start_minute) // unit))
    end_minute = min(start_minute + count * unit + draw(st.integers(0, unit - 1)), 24 * 60 - 1)
    valid_from = around + timedelta(days=draw(st.integers(-20, 10)))
    length = draw(st.none() | st.integers(0, 40))
    return Window(
        uuid.uuid4(),
        draw(st.sampled_from(EXPERTS)),
        draw(st.sampled_from(SPECIALTIES)),
        frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        time(start_minute // 60, start_minute % 60),
        time(end_minute // 60, end_minute % 60),
        valid_from,
        None if length is None else valid_from + timedelta(days=length),
        consultation,
        report,
    )


@st.composite
def periods(draw: st.DrawFn, around: datetime) -> tuple[datetime, datetime]:
    start = around + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 12 * 24 * 60)))
    return start, start + timedelta(minutes=draw(st.integers(1, 3 * 24 * 60)))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, object]:
    day = draw(base_days)
    origin = datetime.combine(day, time(), tzinfo=PARIS).astimezone(UTC)
    start = origin + timedelta(minutes=draw(st.integers(-3 * 24 * 60, 3 * 24 * 60)))
    end = start + timedelta(minutes=draw(st.integers(0, 12 * 24 * 60)))
    leave_periods = draw(st.lists(periods(origin), max_size=3))
    leaves = [
        Leave(uuid.uuid4(), draw(st.sampled_from(EXPERTS)), begin, finish) for begin, finish in leave_periods
    ]
    busy = {expert: draw(st.lists(periods(origin), max_size=4)) for expert in EXPERTS}
    return {
        "windows": draw(st.lists(windows(day), min_size=1, max_size=4)),
        "leaves": leaves,
        "busy": busy,
        "start": start,
        "end": end,
        "specialty": draw(st.none() | st.sampled_from(SPECIALTIES)),
        "limit": draw(st.none() | st.integers(1, 20)),
    }


def search(scenario: dict[str, object], **changes: object) -> list[Slot]:
    arguments = {**scenario, **changes}
    return free_slots(
        arguments["windows"],  # type: ignore[arg-type]
        arguments["leaves"],  # type: ignore[arg-type]
        arguments["busy"],  # type: ignore[arg-type]
        start=arguments["start"],  # type: ignore[arg-type]
        end=arguments["end"],  # type: ignore[arg-type]
        is_holiday=is_french_holiday,
        specialty=arguments["specialty"],  # type: ignore[arg-type]
        limit=arguments["limit"],  # type: ignore[arg-type]
    )


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def is_in_window(slot: Slot, candidate: Window) -> bool:
    """The slot is one of ``candidate``'s on the Paris wall clock: start + k units, on an allowed weekday,
    within validity, ending by the window's end, and lasting one unit on the wall and in real time."""
    local_start = naive_local(slot.starts_at)
    day = local_start.date()
    if (
        candidate.expert_id != slot.expert_id
        or candidate.specialty is not slot.specialty
        or day.weekday() not in candidate.weekdays
        or day < candidate.valid_from
        or (candidate.valid_until is not None and day > candidate.valid_until)
    ):
        return False
    offset = local_start - datetime.combine(day, candidate.start)
    return (
        offset >= timedelta(0)
        and offset % candidate.unit == timedelta(0)
        and local_start + candidate.unit <= datetime.combine(day, candidate.end)
        and slot.ends_at - slot.starts_at == candidate.unit
        and naive_local(slot.ends_at) - local_start == candidate.unit
        and slot.consultation_ends_at - slot.starts_at == timedelta(minutes=candidate.consultation_minutes)
    )


# ------------------------------------------------------------------------------------------ properties


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_free_slots_keep_every_rule_of_availability(scenario: dict[str, object]) -> None:
    found = search(scenario)
    start, end = scenario["start"], scenario["end"]
    assert isinstance(start, datetime) and isinstance(end, datetime)
    all_windows: list[Window] = scenario["windows"]  # type: ignore[assignment]
    leaves: list[Leave] = scenario["leaves"]  # type: ignore[assignment]
    busy: dict[uuid.UUID, list[tuple[datetime, datetime]]] = scenario["busy"]  # type: ignore[assignment]

    assert [(s.starts_at, s.expert_id) for s in found] == sorted((s.starts_at, s.expert_id) for s in found)
    limit = scenario["limit"]
    assert limit is None or len(found) <= limit  # type: ignore[operator]
    for n, slot in enumerate(found):
        assert slot.starts_at.tzinfo is not None and slot.starts_at.utcoffset() == timedelta(0)
        assert start <= slot.starts_at and slot.ends_at <= end
        assert scenario["specialty"] in (None, slot.specialty)
        assert any(is_in_window(slot, w) for w in all_windows), slot
        assert not is_french_holiday(slot.local_start.date())
        period = (slot.starts_at, slot.ends_at)
        for leave in leaves:
            assert leave.expert_id != slot.expert_id or not _overlap(period, (leave.starts_at, leave.ends_at))
        assert not any(_overlap(period, taken) for taken in busy[slot.expert_id])
        for other in found[n + 1 :]:
            assert other.expert_id != slot.expert_id or not _overlap(period, (other.starts_at, other.ends_at))


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_a_limited_search_gives_the_first_slots_of_the_unlimited_one(scenario: dict[str, object]) -> None:
    everything = search(scenario, limit=None)
    limited = search(scenario)
    assert limited == everything[: len(limited)]
    assert len(limited) == min(len(everything), scenario["limit"] or len(everything))  # type: ignore[operator]


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_every_slot_offered_is_accepted_when_booked(scenario: dict[str, object]) -> None:
    all_windows: list[Window] = scenario["windows"]  # type: ignore[assignment]
    leaves: list[Leave] = scenario["leaves"]  # type: ignore[assignment]
    for slot in search(scenario):
        accepted = offered_slot(
            all_windows, leaves, is_french_holiday, slot.expert_id, slot.starts_at, slot.specialty
        )
        assert (accepted.starts_at, accepted.expert_id) == (slot.starts_at, slot.expert_id)


@settings(max_examples=200, deadline=None)
@given(base_days, st.integers(0, 14))
def test_one_window_alone_offers_all_its_slots_on_working_days(first: date, length: int) -> None:
    """Nothing is lost: without leave or bookings, the search offers every slot of the window's days."""
    weekly = window(valid_from=first - timedelta(days=400))
    start = datetime.combine(first, time(), tzinfo=PARIS).astimezone(UTC)
    end = datetime.combine(first + timedelta(days=length), time(23, 59), tzinfo=PARIS).astimezone(UTC)
    found = free_slots([weekly], [], {}, start=start, end=end, is_holiday=is_french_holiday)
    days = [first + timedelta(days=n) for n in range(length + 1)]
    expected = [s for day in days if not is_french_holiday(day) for s in window_slots(weekly, day)]
    assert found == expected
    assert len(found) == 4 * sum(1 for day in days if not is_french_holiday(day))


@given(st.dates(date(2025, 1, 1), date(2035, 12, 31)))
def test_the_default_afternoon_is_the_same_on_the_wall_every_day_of_the_year(day: date) -> None:
    slots = window_slots(window(), day)
    assert [wall(s.starts_at) for s in slots] == ["14:00", "14:45", "15:30", "16:15"]
    noon = datetime.combine(day, time(12), tzinfo=PARIS).utcoffset()
    assert {s.starts_at.astimezone(PARIS).utcoffset() for s in slots} == {noon}
    assert all(s.ends_at - s.starts_at == timedelta(minutes=45) for s in slots)


def every_day(drawn: Window) -> Window:
    """The drawn window's times and unit, every day of the week, valid for all the years tested."""
    return Window(
        drawn.id,
        drawn.expert_id,
        drawn.specialty,
        frozenset(range(7)),
        drawn.start,
        drawn.end,
        date(2025, 1, 1),
        None,
        drawn.consultation_minutes,
        drawn.report_minutes,
    )


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DST_CHANGES), windows(date(2025, 1, 1), earliest=4 * 60))
def test_day_windows_give_the_same_wall_clock_slots_on_either_side_of_a_change(
    change: date, drawn: Window
) -> None:
    daily = every_day(drawn)
    walls = {
        offset: [wall(s.starts_at) for s in window_slots(daily, change + timedelta(days=offset))]
        for offset in (-7, -1, 0, 1, 7)
    }
    assert walls[-7] == walls[-1] == walls[0] == walls[1] == walls[7]
    assert walls[0], "the window offers at least one slot"
    before = window_slots(daily, change - timedelta(days=1))[0].starts_at.astimezone(PARIS).utcoffset()
    after = window_slots(daily, change)[0].starts_at.astimezone(PARIS).utcoffset()
    assert (before, after) == ((WINTER, SUMMER) if change.month == 3 else (SUMMER, WINTER))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DST_CHANGES), windows(date(2025, 1, 1)))
def test_windows_across_the_night_of_a_change_give_whole_slots_that_never_overlap(
    change: date, drawn: Window
) -> None:
    daily = every_day(drawn)
    for day in (change - timedelta(days=1), change, change + timedelta(days=1)):
        slots = window_slots(daily, day)
        for n, slot in enumerate(slots):
            assert is_in_window(slot, daily), (day, slot)
            assert slot.local_start.date() == day
            for later in slots[n + 1 :]:
                assert slot.ends_at <= later.starts_at


# ----------------------------------------------------------------------------------- DST, by example


def test_the_afternoon_slots_in_the_week_of_the_spring_change() -> None:
    afternoon = window()
    for day, offset in [
        (date(2027, 3, 26), "+01:00"),
        (date(2027, 3, 27), "+01:00"),
        (SPRING_2027, "+02:00"),
        (date(2027, 3, 29), "+02:00"),
        (date(2027, 3, 30), "+02:00"),
    ]:
        starts = [s.starts_at.astimezone(PARIS).isoformat() for s in window_slots(afternoon, day)]
        assert starts == [f"{day}T{hhmm}:00{offset}" for hhmm in ("14:00", "14:45", "15:30", "16:15")]
    # In UTC, the same wall clock is an hour earlier from the change on.
    assert window_slots(afternoon, date(2027, 3, 27))[0].starts_at == datetime(2027, 3, 27, 13, tzinfo=UTC)
    assert window_slots(afternoon, SPRING_2027)[0].starts_at == datetime(2027, 3, 28, 12, tzinfo=UTC)


def test_the_afternoon_slots_in_the_week_of_the_autumn_change() -> None:
    afternoon = window()
    for day, offset in [
        (date(2027, 10, 29), "+02:00"),
        (date(2027, 10, 30), "+02:00"),
        (AUTUMN_2027, "+01:00"),
        (date(2027, 11, 1), "+01:00"),
        (date(2027, 11, 2), "+01:00"),
    ]:
        starts = [s.starts_at.astimezone(PARIS).isoformat() for s in window_slots(afternoon, day)]
        assert starts == [f"{day}T{hhmm}:00{offset}" for hhmm in ("14:00", "14:45", "15:30", "16:15")]
        assert all(s.ends_at - s.starts_at == timedelta(minutes=45) for s in window_slots(afternoon, day))


def test_the_search_across_the_spring_change_skips_easter_monday() -> None:
    start = datetime(2027, 3, 26, tzinfo=UTC)
    found = free_slots(
        [window()], [], {}, start=start, end=start + timedelta(days=5), is_holiday=is_french_holiday
    )
    days = sorted({s.local_start.date() for s in found})
    assert days == [date(2027, 3, 26), date(2027, 3, 27), SPRING_2027, date(2027, 3, 30)]
    assert [s.local_start.isoformat() for s in found][7:9] == [
        "2027-03-27T16:15:00+01:00",
        "2027-03-28T14:00:00+02:00",
    ]


def test_the_search_across_the_autumn_change_skips_all_saints_day() -> None:
    start = datetime(2027, 10, 30, tzinfo=UTC)
    found = free_slots(
        [window()], [], {}, start=start, end=start + timedelta(days=4), is_holiday=is_french_holiday
    )
    assert sorted({s.local_start.date() for s in found}) == [
        date(2027, 10, 30),
        AUTUMN_2027,
        date(2027, 11, 2),
    ]
    assert [s.local_start.isoformat() for s in found][3:5] == [
        "2027-10-30T16:15:00+02:00",
        "2027-10-31T14:00:00+01:00",
    ]


def test_a_night_window_over_the_skipped_hour_gives_only_whole_slots() -> None:
    """01:30-04:00 on 28 March 2027: the wall clock jumps from 02:00 to 03:00. The slot 01:30-02:15 would
    end in the missing hour, and 02:15-03:00 would start in it (it used to come out as 03:15-03:00, of
    negative length, and 01:30-"02:15" as 01:30-03:15, overlapping 03:00-03:45): only 03:00-03:45 is whole."""
    night = window(time(1, 30), time(4, 0))
    slots = window_slots(night, SPRING_2027)
    assert [(s.local_start.isoformat(), s.ends_at - s.starts_at) for s in slots] == [
        ("2027-03-28T03:00:00+02:00", timedelta(minutes=45))
    ]
    assert [wall(s.starts_at) for s in window_slots(night, date(2027, 3, 27))] == ["01:30", "02:15", "03:00"]
    assert [wall(s.starts_at) for s in window_slots(night, date(2027, 3, 29))] == ["01:30", "02:15", "03:00"]


def test_a_night_window_over_the_repeated_hour_gives_only_unambiguous_whole_slots() -> None:
    """01:30-04:00 on 31 October 2027: the wall clock goes 02:59 -> 02:00 once. 01:30-02:15 ends at an
    ambiguous time, 02:15-03:00 would last 1 h 45 (it used to): only 03:00-03:45 is offered."""
    night = window(time(1, 30), time(4, 0))
    slots = window_slots(night, AUTUMN_2027)
    assert [(s.local_start.isoformat(), s.ends_at - s.starts_at) for s in slots] == [
        ("2027-10-31T03:00:00+01:00", timedelta(minutes=45))
    ]
    assert [wall(s.starts_at) for s in window_slots(night, date(2027, 10, 30))] == ["01:30", "02:15", "03:00"]


def test_a_night_slot_lost_to_the_change_cannot_be_booked() -> None:
    night = window(time(1, 30), time(4, 0))
    skipped = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)  # 01:30 in Paris, would end in the missing hour
    with pytest.raises(OutsideAvailability):
        offered_slot([night], [], is_french_holiday, night.expert_id, skipped, Specialty.GERIATRIE)

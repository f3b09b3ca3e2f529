"""records.retention.model: cut-off dates of each kind of data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from records.retention.model import RetentionKind, RetentionPeriods, months_before

PERIODS = RetentionPeriods(medical_records_years=20, technical_months=12, recordings_days=30)


def test_twenty_years_back_from_a_leap_day_lands_on_the_last_day_of_february() -> None:
    assert months_before(datetime(2028, 2, 29, 9, tzinfo=UTC), 12 * 21) == datetime(
        2007, 2, 28, 9, tzinfo=UTC
    )


def test_each_kind_has_its_cutoff() -> None:
    now = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)
    assert PERIODS.cutoff(RetentionKind.MEDICAL_RECORDS, now) == datetime(2006, 11, 23, 13, 30, tzinfo=UTC)
    assert PERIODS.cutoff(RetentionKind.TECHNICAL_DATA, now) == datetime(2025, 11, 23, 13, 30, tzinfo=UTC)
    assert PERIODS.cutoff(RetentionKind.RECORDINGS, now) == datetime(2026, 10, 24, 13, 30, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 31, tzinfo=UTC), 2) == datetime(2025, 11, 30, tzinfo=UTC)


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RetentionPeriods(0, 12, 30)

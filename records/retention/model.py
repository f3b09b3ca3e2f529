"""Retention rules: the kinds of data kept for a limited time, their periods, and when each becomes due.
Pure Python: no I/O, the clock is passed in.

Periods run from the last activity: a medical record's from its last change (20 years, Code de la santé
publique R1112-7, counted from the last consultation), technical data's from its last use (sessions, login
counters: 12 months at most), a recording's from its making (30 days in the reference deployment).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class RetentionKind(StrEnum):
    MEDICAL_RECORDS = "medical_records"
    TECHNICAL_DATA = "technical_data"
    RECORDINGS = "recordings"  # no recordings yet: the video work adds their purger


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier, on the month's last day when the day does
    not exist there (29 February of a leap year, 20 years back, is 28 February)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True, slots=True)
class RetentionPeriods:
    medical_records_years: int
    technical_months: int
    recordings_days: int

    def __post_init__(self) -> None:
        if min(self.medical_records_years, self.technical_months, self.recordings_days) <= 0:
            raise ValueError("retention periods are positive")

    def cutoff(self, kind: RetentionKind, now: datetime) -> datetime:
        """Data of ``kind`` whose last activity is before this moment is due."""
        if kind is RetentionKind.MEDICAL_RECORDS:
            return months_before(now, 12 * self.medical_records_years)
        if kind is RetentionKind.TECHNICAL_DATA:
            return months_before(now, self.technical_months)
        return now - timedelta(days=self.recordings_days)


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What one kind's run removed (or, in a dry run, would remove): counts by what was counted, and the
    ids of the records concerned when they are records (never anything but ids)."""

    kind: RetentionKind
    cutoff: datetime
    counts: Mapping[str, int]
    ids: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.counts.values())

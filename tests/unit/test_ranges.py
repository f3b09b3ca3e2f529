"""HTTP byte ranges: one range served exactly, several served whole, beyond the end unsatisfiable."""

from __future__ import annotations

import pytest

from teleconsult.ranges import ByteRange, RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 10, 100)),
        ("bytes=90-", ByteRange(90, 100, 100)),
        ("bytes=95-200", ByteRange(95, 100, 100)),
        ("bytes=-10", ByteRange(90, 100, 100)),
        ("bytes=-500", ByteRange(0, 100, 100)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole body
        ("bytes=9-3", None),  # invalid: ignored
        ("items=0-1", None),
        ("bytes=-", None),
        ("garbage", None),
    ],
)
def test_ranges(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    ("header", "length"), [("bytes=100-", 100), ("bytes=150-160", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_unsatisfiable_ranges(header: str, length: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, length)


def test_content_range_is_inclusive() -> None:
    assert ByteRange(0, 10, 100).content_range == "bytes 0-9/100"

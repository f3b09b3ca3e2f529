"""HTTP byte ranges (RFC 9110, section 14) for downloads: one range is served as 206, anything this
module does not serve exactly (several ranges, a header it cannot read) as the whole body with 200, which
the RFC allows, and a range wholly beyond the end as 416."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SINGLE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


class RangeNotSatisfiable(Exception):
    """No byte of the range exists: answer 416 with ``Content-Range: bytes */<length>``."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``[start, end)`` of a body of ``length`` bytes (``end`` exclusive, unlike the header)."""

    start: int
    end: int
    length: int

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end - 1}/{self.length}"


def parse_range(header: str | None, length: int) -> ByteRange | None:
    """The single range asked for in a Range header, clamped to the body; None to send the whole body."""
    if header is None:
        return None
    match = _SINGLE.fullmatch(header.strip().replace(" ", ""))
    if match is None:  # several ranges, another unit, or garbage: the whole body
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # "-n": the last n bytes
        suffix = int(last)
        if suffix == 0 or length == 0:
            raise RangeNotSatisfiable()
        return ByteRange(max(length - suffix, 0), length, length)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored, as the RFC says
    if start >= length:
        raise RangeNotSatisfiable()
    end = min(int(last) + 1, length) if last else length
    return ByteRange(start, end, length)

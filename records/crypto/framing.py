"""Canonical, unambiguous byte encoding of a labelled tuple of fields, used as associated data.

Every part (the label first) is written as its length (4 bytes, big-endian) then its bytes, so that no two
different tuples ever give the same bytes (``("ab", "c")`` and ``("a", "bc")`` differ).
"""

from __future__ import annotations

_MAX_FIELD = 2**32 - 1


def frame(label: bytes, *fields: bytes) -> bytes:
    """Encode ``label`` and ``fields`` as length-prefixed parts."""
    out = bytearray()
    for part in (label, *fields):
        if len(part) > _MAX_FIELD:
            raise ValueError("field too long to frame")
        out += len(part).to_bytes(4, "big")
        out += part
    return bytes(out)

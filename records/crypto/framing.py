"""Canonical, unambiguous byte encoding of a labelled tuple of fields, used as associated data.

Every part (the label first) is written as its length (4 bytes, big-endian) then its bytes, so that no two
different tuples ever give the same bytes (``("ab", "c")`` and ``("a", "bc")`` differ).
"""

from __future__ import annotations

_MAX_FIELD = 2**32 - 1


def frame(label: bytes, *fields: bytes) -> bytes:
    """Encode ``label`` and ``fields`` as length-prefixed parts."""
    return parts(label, *fields)


def parts(*fields: bytes) -> bytes:
    """The length-prefixed encoding of ``fields``, without a label: ``frame(label, a, b)`` is
    ``parts(label, a) + parts(b)``, so a constant prefix can be encoded once and reused."""
    out: list[bytes] = []
    for part in fields:
        size = len(part)
        if size > _MAX_FIELD:
            raise ValueError("field too long to frame")
        out.append(size.to_bytes(4, "big"))
        out.append(part)
    return b"".join(out)


def part(field: bytes) -> bytes:
    """The encoding of one field, as :func:`parts` writes it: ``parts(a, b) == part(a) + part(b)``. For the
    hot paths that append one variable field to a constant, already encoded prefix."""
    size = len(field)
    if size > _MAX_FIELD:
        raise ValueError("field too long to frame")
    return size.to_bytes(4, "big") + field

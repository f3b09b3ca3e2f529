"""blind_indexes (many values of one purpose at once) gives exactly what blind_index gives for each."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records.crypto import aead, blind_index, blind_indexes
from records.crypto.framing import frame, part, parts

INDEX_KEY = bytes(range(7, 39))


@given(values=st.lists(st.text(max_size=40), max_size=8), purpose=st.text(min_size=1, max_size=12))
def test_blind_indexes_are_the_blind_index_of_each_value_in_order(values: list[str], purpose: str) -> None:
    assert blind_indexes(INDEX_KEY, purpose, values) == [blind_index(INDEX_KEY, purpose, v) for v in values]


def test_blind_indexes_of_two_purposes_never_match() -> None:
    assert set(blind_indexes(INDEX_KEY, "ins", ["x", "y"])).isdisjoint(
        blind_indexes(INDEX_KEY, "name-token", ["x", "y"])
    )


def test_blind_indexes_refuse_a_short_key_or_an_empty_purpose_even_for_no_values() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        blind_indexes(bytes(16), "ins", [])
    with pytest.raises(ValueError, match="purpose"):
        blind_indexes(aead.new_key(), "", [])


@given(fields=st.lists(st.binary(max_size=20), min_size=1, max_size=5))
def test_a_framed_tuple_is_its_head_followed_by_each_part(fields: list[bytes]) -> None:
    assert frame(b"label", *fields) == parts(b"label") + b"".join(part(f) for f in fields)

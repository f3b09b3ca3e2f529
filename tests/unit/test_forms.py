"""Reading input: every missing or wrong field reported at once, never an exception that leaks."""

from __future__ import annotations

import pytest

from teleconsult.errors import InvalidInput
from teleconsult.forms import REQUIRED, Field, parse

FIELDS = [
    Field("name"),
    Field("beds", required=False, convert=int, invalid="Give a whole number."),
    Field("note", required=False, max_length=5),
]


def test_values_are_stripped_and_converted() -> None:
    assert parse({"name": "  Les Tilleuls ", "beds": "80"}, FIELDS) == {
        "name": "Les Tilleuls",
        "beds": 80,
        "note": None,
    }


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse({"name": "   ", "beds": "eighty", "note": "far too long"}, FIELDS)
    assert caught.value.fields == {
        "name": REQUIRED,
        "beds": "Give a whole number.",
        "note": "This value is too long.",
    }


def test_json_values_of_the_wrong_shape_are_invalid_not_crashes() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse({"name": ["a", "list"], "beds": True}, FIELDS)
    assert set(caught.value.fields) == {"name", "beds"}

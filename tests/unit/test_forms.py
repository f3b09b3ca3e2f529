"""Reading input: every missing or wrong field reported at once, never an exception that leaks."""

from __future__ import annotations

import pytest

from teleconsult.errors import InvalidInput
from teleconsult.forms import REQUIRED, Field, local_path, parse

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


def test_control_characters_are_refused_in_any_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse({"name": "Les\x00Tilleuls"}, FIELDS)
    assert set(caught.value.fields) == {"name"}
    assert parse({"name": "Ligne 1\nLigne 2\tfin"}, FIELDS)["name"] == "Ligne 1\nLigne 2\tfin"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example", "https://evil.example/", "ehpad", ""]
)
def test_redirect_targets_must_be_paths_on_this_site(target: str) -> None:
    assert local_path(target) is None


def test_a_local_path_with_its_query_is_kept() -> None:
    assert local_path("/admin/users?x=1") == "/admin/users?x=1"

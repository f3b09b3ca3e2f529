"""Normalisation of names for the blind-index name search (records/residents/model.py): the tokens stored
for a resident and the tokens a typed query looks up must agree, whatever accents, hyphens, apostrophes,
case or particles either side uses."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records.residents.model import (
    PREFIX_LENGTH,
    IdentityTraits,
    Sex,
    lookup_tokens,
    matches_name_query,
    name_tokens,
    name_words,
    query_token,
)


def traits(birth_name: str, used_name: str | None = None) -> IdentityTraits:
    return IdentityTraits(birth_name, ("Jeanne",), Sex.FEMALE, date(1938, 4, 12), "78646", used_name)


def finds(query: str, resident: IdentityTraits) -> bool:
    """What the search does: the index must hold every looked-up token, then every word must match."""
    words = name_words(query)
    return (
        bool(words) and lookup_tokens(words) <= name_tokens(resident) and matches_name_query(resident, words)
    )


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("Hélène", ["HELENE"]),
        ("ÉTIENNE", ["ETIENNE"]),
        ("Kerguélen", ["KERGUELEN"]),
        ("françois", ["FRANCOIS"]),
        ("Le Bœuf", ["LE", "BOEUF"]),
        ("LÆTITIA", ["LAETITIA"]),
        ("Dupont-Martin", ["DUPONT", "MARTIN"]),
        ("D'Almeida", ["D", "ALMEIDA"]),
        ("D\u2019Almeida", ["D", "ALMEIDA"]),  # typographic apostrophe, as phones type it
        ("de La Fontaine", ["DE", "LA", "FONTAINE"]),
        ("  Saint -  Martin ", ["SAINT", "MARTIN"]),
        ("Le\u00a0Gall", ["LE", "GALL"]),  # no-break space
        ("dupont", ["DUPONT"]),
        ("Müller", ["MULLER"]),
        ("", []),
        ("-'", []),
    ],
)
def test_name_words_are_uppercase_ascii_split_on_anything_but_letters_and_digits(
    raw: str, words: list[str]
) -> None:
    assert name_words(raw) == words


def test_composed_and_decomposed_accents_give_the_same_words() -> None:
    composed = "Hélène Lefèvre"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert name_words(composed) == name_words(decomposed) == ["HELENE", "LEFEVRE"]


def test_tokens_are_each_word_and_its_prefix_only_when_the_word_is_long_enough() -> None:
    assert name_tokens(traits("de La Fontaine", "Dupont-Martin")) == {
        "W:DE",
        "W:LA",
        "W:FONTAINE",
        "P:FON",
        "W:DUPONT",
        "P:DUP",
        "W:MARTIN",
        "P:MAR",
    }
    assert name_tokens(traits("Li")) == {"W:LI"}  # no "P:LI": a short word is never a prefix token


def test_a_query_word_is_looked_up_by_its_prefix_or_whole_when_short() -> None:
    assert query_token("DUPONT") == "P:DUP"
    assert query_token("DUP") == "P:DUP"
    assert query_token("DE") == "W:DE"
    assert PREFIX_LENGTH == 3


@pytest.mark.parametrize(
    ("query", "birth_name", "used_name"),
    [
        ("helene", "HÉLÈNE", None),
        ("HÉLÈNE", "Helene", None),
        ("dup mar", "DUPONT-MARTIN", None),
        ("martin dup", "DUPONT-MARTIN", None),
        ("dupont-martin", "Dupont Martin", None),
        ("d'alm", "D'ALMEIDA", None),
        ("almeida", "D\u2019Almeida", None),
        ("n'd", "N'DIAYE", None),  # the short last word is still being typed
        ("le g", "LE GALL", None),
        ("d mar", "DUPONT-MARTIN", None),
        ("fontaine", "de La Fontaine", None),
        ("de la font", "de La Fontaine", None),
        ("boeuf", "Le Bœuf", None),
        ("lef", "MOREAU", "Lefèvre"),  # the used name is searched too
        ("li", "LI", None),
    ],
)
def test_the_beginning_of_a_name_however_typed_finds_the_resident(
    query: str, birth_name: str, used_name: str | None
) -> None:
    assert finds(query, traits(birth_name, used_name))


@pytest.mark.parametrize(
    ("query", "birth_name"),
    [
        ("dupx", "DUPONT"),
        ("upont", "DUPONT"),  # a word's beginning, not any part of it
        ("dup mor", "DUPONT-MARTIN"),
        ("de", "DUPONT"),  # a short word alone is a whole word: "de" is not the beginning of every name
        ("jeanne", "DUPONT"),  # first names are not searched
        ("", "DUPONT"),
    ],
)
def test_what_is_not_the_beginning_of_a_name_finds_nobody(query: str, birth_name: str) -> None:
    assert not finds(query, traits(birth_name))


def test_lookup_tokens_of_only_short_words_keep_all_but_the_last_one_being_typed() -> None:
    assert lookup_tokens(["N", "D"]) == {"W:N"}
    assert lookup_tokens(["DE", "LA", "F"]) == {"W:DE", "W:LA"}
    assert lookup_tokens(["DE"]) == {"W:DE"}
    assert lookup_tokens(["D", "MARTIN"]) == {"P:MAR"}


# Letters as people type them, a decomposed accent ("E" + combining acute) among them.
NAME_LETTERS = st.sampled_from([*"abcdefghijklmnopqrstuvwxyzéèêëàâçîïôöùûüœæ", "E\u0301"])
NAME_WORD = st.lists(NAME_LETTERS, min_size=1, max_size=12).map("".join)
SEPARATOR = st.sampled_from([" ", "-", "'", "\u2019", " - ", "\u00a0"])


@st.composite
def names(draw: st.DrawFn) -> str:
    words = draw(st.lists(NAME_WORD, min_size=1, max_size=4))
    text = words[0]
    for word in words[1:]:
        text += draw(SEPARATOR) + word
    return text if draw(st.booleans()) else text.upper()


@given(name=names(), data=st.data())
def test_any_beginning_of_any_word_of_a_name_finds_it(name: str, data: st.DataObject) -> None:
    resident = traits(name)
    words = name_words(name)
    word = data.draw(st.sampled_from(words))
    # Alone, a query word shorter than the prefix length is a whole word (see the "de" case above).
    shortest = min(len(word), PREFIX_LENGTH)
    typed = word[: data.draw(st.integers(min_value=shortest, max_value=len(word)))].lower()
    assert finds(typed, resident), (name, typed)
    # Whole earlier words followed by the beginning (even one letter) of a later one, as a nurse types them.
    index = words.index(word)
    typed = word[: data.draw(st.integers(min_value=1 if index else shortest, max_value=len(word)))]
    assert finds(" ".join([*words[:index], typed]), resident), (name, words[:index], typed)

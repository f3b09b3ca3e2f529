"""The French catalogue covers every msgid of the sources, without fuzzy entries or broken placeholders.

Msgids are extracted here the way scripts/i18n-update extracts them (babel.cfg, same keywords), so a string
added to a template or a Python module fails this test until it is translated in
web/translations/fr/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from teleconsult.i18n import Catalogues

REPO = Path(__file__).resolve().parents[2]
TRANSLATIONS = REPO / "web" / "translations"
FRENCH_PO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "N_": None,
    "_": None,
    "gettext_": None,
    "ngettext_": (1, 2),
    "ngettext": (1, 2),
}
IGNORED_DIRS = {"__pycache__", "node_modules"}
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa%])")

MsgId = str | tuple[str, ...]


def visible_directory(dirpath: str) -> bool:
    name = os.path.basename(dirpath)
    return not (name.startswith(".") or name in IGNORED_DIRS)


@cache
def source_msgids() -> dict[MsgId, str]:
    """Each msgid of the sources, with the first place it was found (for failure messages)."""
    with (REPO / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config, filename="babel.cfg")  # type: ignore[no-untyped-call]
    found: dict[MsgId, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        REPO, method_map, options_map, keywords=KEYWORDS, directory_filter=visible_directory
    ):
        msgid: MsgId = message if isinstance(message, str) else tuple(m for m in message if m is not None)
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


@cache
def french_catalog() -> Catalog:
    with FRENCH_PO.open("rb") as po_file:
        return read_po(po_file, locale="fr")


def french_messages() -> list[Message]:
    return [message for message in french_catalog() if message.id]


def as_tuple(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ("",)
    return (value,) if isinstance(value, str) else tuple(value)


def strings_of(message: Message) -> tuple[str, ...]:
    return as_tuple(message.string)


def ids_of(message: Message) -> tuple[str, ...]:
    return as_tuple(message.id)


def msgid_of(message: Message) -> MsgId:
    ids = ids_of(message)
    return ids[0] if len(ids) == 1 else ids


def placeholders(text: str) -> list[str]:
    return sorted(f"{name or ''}:{conversion}" for name, conversion in PLACEHOLDER.findall(text))


def test_extraction_finds_msgids_in_python_and_templates() -> None:
    places = set(source_msgids().values())

    assert any(place.startswith("teleconsult/") for place in places)
    assert any(place.startswith("web/templates/") for place in places)
    assert "Wrong login or password." in source_msgids()
    assert ("Try again in %(num)d minute.", "Try again in %(num)d minutes.") in source_msgids()


def test_every_msgid_has_a_french_translation() -> None:
    translated = {msgid_of(message) for message in french_messages() if all(strings_of(message))}

    missing = {msgid: place for msgid, place in source_msgids().items() if msgid not in translated}

    assert not missing, "Untranslated msgids (run scripts/i18n-update, then translate):\n" + "\n".join(
        f"  {place}: {msgid!r}" for msgid, place in sorted(missing.items(), key=lambda item: item[1])
    )


def test_no_french_entry_is_fuzzy() -> None:
    fuzzy = [message.id for message in french_messages() if message.fuzzy]

    assert not french_catalog().fuzzy, "the catalogue header is marked fuzzy"
    assert not fuzzy, f"Fuzzy entries to review: {fuzzy}"


def test_french_plural_forms_header_is_n_greater_than_one() -> None:
    assert french_catalog().plural_forms == "nplurals=2; plural=(n > 1);"


def test_plural_entries_have_both_french_forms() -> None:
    wrong = [
        message.id for message in french_messages() if message.pluralizable and len(strings_of(message)) != 2
    ]

    assert not wrong, f"Plural entries without exactly 2 French forms: {wrong}"


def test_placeholders_are_the_same_in_msgid_and_msgstr() -> None:
    mismatched = []
    for message in french_messages():
        ids = ids_of(message)
        for index, translation in enumerate(strings_of(message)):
            if not translation:
                continue
            source = ids[min(index, len(ids) - 1)]
            if placeholders(source) != placeholders(translation):
                mismatched.append(f"{source!r} -> {translation!r}")

    assert not mismatched, "Placeholders differ:\n" + "\n".join(mismatched)


def test_python_format_flag_marks_every_entry_with_named_placeholders() -> None:
    unflagged = [
        message.id
        for message in french_messages()
        if any("%(" in text for text in ids_of(message)) and not message.python_format
    ]

    assert not unflagged, f"Entries with %(name)s placeholders but no python-format flag: {unflagged}"


@pytest.mark.parametrize(
    ("msgid", "french"),
    [
        ("Wrong login or password.", "Identifiant ou mot de passe incorrect."),
        (
            "Your session has expired. Please log in again.",
            "Votre session a expiré. Veuillez vous reconnecter.",
        ),
        ("Log in", "Se connecter"),
        ("Log out", "Se déconnecter"),
        ("Switch user", "Changer d'utilisateur"),
        ("Page not found", "Page introuvable"),
        ("Too many attempts", "Trop de tentatives"),
        (
            "This form has expired. Reload the page and send it again.",
            "Ce formulaire a expiré. Rechargez la page et envoyez-le à nouveau.",
        ),
        ("Care-home nurse (IDE)", "Infirmier(ère) d'EHPAD (IDE)"),
        ("Coordinating nurse (IDEC)", "Infirmier(ère) coordinateur(trice) (IDEC)"),
        ("Coordinating physician (médecin coordonnateur)", "Médecin coordonnateur"),
        ("Expert (hospital physician)", "Expert (médecin hospitalier)"),
        ("Territory coordinator", "Coordinateur territorial"),
    ],
)
def test_french_catalogue_uses_the_agreed_wording(msgid: str, french: str) -> None:
    assert Catalogues(TRANSLATIONS).get("fr").gettext(msgid) == french


def test_catalogues_translate_log_in_into_french() -> None:
    assert Catalogues(TRANSLATIONS).get("fr").gettext("Log in") == "Se connecter"


def test_english_falls_back_to_the_msgid() -> None:
    english = Catalogues(TRANSLATIONS).get("en")

    assert english.gettext("Log in") == "Log in"
    assert english.gettext("Wrong login or password.") == "Wrong login or password."


def test_french_plural_uses_the_singular_for_zero_and_one() -> None:
    french = Catalogues(TRANSLATIONS).get("fr")
    singular, plural = "Try again in %(num)d minute.", "Try again in %(num)d minutes."

    assert french.ngettext(singular, plural, 0) % {"num": 0} == "Réessayez dans 0 minute."
    assert french.ngettext(singular, plural, 1) % {"num": 1} == "Réessayez dans 1 minute."
    assert french.ngettext(singular, plural, 5) % {"num": 5} == "Réessayez dans 5 minutes."

"""Translations (Babel catalogues in web/translations) and French-first formatting of dates and numbers.

Source strings are English msgids; the French catalogue is the default. Catalogues are compiled in memory
from the .po files at start-up, so a fresh clone needs no build step and can never serve a stale .mo.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
PARIS = ZoneInfo("Europe/Paris")


def N_(message: str) -> str:
    """Marks a msgid for extraction where it is defined; it is translated later, when rendered."""
    return message


class Catalogues:
    def __init__(self, translations_dir: Path) -> None:
        self._translations: dict[str, gettext.NullTranslations] = {"en": gettext.NullTranslations()}
        for language in LANGUAGES:
            po_path = translations_dir / language / "LC_MESSAGES" / "messages.po"
            if po_path.exists():
                with po_path.open("rb") as po_file:
                    catalog = read_po(po_file, locale=language)
                buffer = io.BytesIO()
                write_mo(buffer, catalog)
                buffer.seek(0)
                self._translations[language] = Translations(buffer)

    def get(self, language: str) -> gettext.NullTranslations:
        fallback = self._translations.get(DEFAULT_LANGUAGE, self._translations["en"])
        return self._translations.get(language, fallback)


_current: ContextVar[tuple[str, gettext.NullTranslations] | None] = ContextVar("translations", default=None)


@contextmanager
def active_language(language: str, translations: gettext.NullTranslations) -> Iterator[None]:
    token = _current.set((language, translations))
    try:
        yield
    finally:
        _current.reset(token)


def current_language() -> str:
    current = _current.get()
    return current[0] if current else DEFAULT_LANGUAGE


def gettext_(message: str) -> str:
    current = _current.get()
    return current[1].gettext(message) if current else message


def ngettext_(singular: str, plural: str, n: int) -> str:
    current = _current.get()
    if current:
        return current[1].ngettext(singular, plural, n)
    return singular if n == 1 else plural


def pick_language(requested: str | None, default: str) -> str:
    return requested if requested in LANGUAGES else default


def local_datetime(value: datetime, fmt: str = "medium") -> str:
    """'23 nov. 2026, 15:00' in Europe/Paris, whatever zone the stored value is in."""
    return format_datetime(value.astimezone(PARIS), format=fmt, locale=Locale.parse(current_language()))


def local_date(value: datetime, fmt: str = "full") -> str:
    return format_date(value.astimezone(PARIS).date(), format=fmt, locale=Locale.parse(current_language()))


def local_day(value: date, fmt: str = "full") -> str:
    """A calendar date (no time, no zone): 'lundi 23 novembre 2026'."""
    return format_date(value, format=fmt, locale=Locale.parse(current_language()))


def local_time(value: datetime) -> str:
    return format_time(value.astimezone(PARIS), format="short", locale=Locale.parse(current_language()))


def local_decimal(value: float, digits: int = 1) -> str:
    """A measurement as the reader writes numbers (0,5 in French)."""
    return format_decimal(value, format=f"0.{'0' * digits}", locale=Locale.parse(current_language()))


def local_time_seconds(value: datetime) -> str:
    """With the seconds (a call's journal, where several events share a minute)."""
    return format_time(value.astimezone(PARIS), format="medium", locale=Locale.parse(current_language()))

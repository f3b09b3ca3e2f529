"""What the browser tests check on a page: axe-core, the page weight, the French catalogue."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from playwright.sync_api import Page, Request

from tests.e2e.server import REPO_ROOT

E2E_DIR = Path(__file__).resolve().parent
AXE_SCRIPT = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
FRENCH_CATALOGUE = REPO_ROOT / "web" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
BLOCKING_IMPACTS = ("serious", "critical")
#: A care-home page, everything included, must fit through a poor EHPAD connection: 100 KB gzipped.
CARE_HOME_BUDGET_BYTES = 100 * 1024


# ---------------------------------------------------------------------------------------------- axe


def run_axe(page: Page) -> list[dict[str, Any]]:
    """Inject axe-core into the page (its context needs bypass_csp=True) and return all its violations."""
    if not AXE_SCRIPT.exists():
        pytest.fail(
            f"{AXE_SCRIPT} is missing: run `npm ci` in tests/e2e (scripts/test does it)", pytrace=False
        )
    page.add_script_tag(path=str(AXE_SCRIPT))
    results: dict[str, Any] = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    violations: list[dict[str, Any]] = results["violations"]
    return violations


def blocking(violations: list[dict[str, Any]]) -> list[str]:
    """One line per serious or critical violation: rule id, impact, help text and the first element."""
    lines = []
    for violation in violations:
        if violation.get("impact") not in BLOCKING_IMPACTS:
            continue
        nodes = violation.get("nodes") or [{}]
        target = nodes[0].get("target", ["?"])
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} "
            f"-- first at {' '.join(map(str, target))} ({len(nodes)} element(s))"
        )
    return lines


def assert_accessible(page: Page, what: str) -> None:
    problems = blocking(run_axe(page))
    if problems:
        pytest.fail(
            f"axe-core found {len(problems)} serious or critical violation(s) on {what}:\n  "
            + "\n  ".join(problems),
            pytrace=False,
        )


def assert_lang_fr(page: Page, what: str) -> None:
    lang = page.locator("html").get_attribute("lang")
    assert lang == "fr", f'{what}: expected <html lang="fr">, found lang={lang!r}'


# ------------------------------------------------------------------------------------------- weight


@dataclass
class WeightRecorder:
    """The requests of one page load, from its document request on, and each body's gzipped size."""

    page: Page
    path: str
    requests: list[Request] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)

    def _record(self, request: Request) -> None:
        # A late request of the previous page (its favicon, say) is not part of this page.
        if not self.requests:
            is_document = request.is_navigation_request() and request.frame == self.page.main_frame
            if not (is_document and urlsplit(request.url).path == self.path):
                return
        self.requests.append(request)

    def _measure(self) -> None:
        for request in self.requests:
            response = request.response()
            if response is None:
                raise AssertionError(f"{request.url} failed: {request.failure}")
            if 300 <= response.status < 400:
                continue  # a redirect carries no body the page uses
            size = len(gzip.compress(response.body()))
            self.sizes[request.url] = self.sizes.get(request.url, 0) + size

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


@contextmanager
def recording_weight(page: Page, path: str) -> Iterator[WeightRecorder]:
    """Record everything the page at ``path`` loads: the block must open it (goto). Then this waits until
    the network is idle (the favicon comes after the load event) and measures each body before anything
    else can navigate away."""
    recorder = WeightRecorder(page, path)
    page.on("request", recorder._record)
    try:
        yield recorder
        page.wait_for_load_state("networkidle")
        page.evaluate("() => document.fonts.ready.then(() => true)")
    finally:
        page.remove_listener("request", recorder._record)
    recorder._measure()


# ---------------------------------------------------------------------------------- French catalogue


@cache
def _french_catalogue() -> Catalog | None:
    if not FRENCH_CATALOGUE.exists():
        return None
    with FRENCH_CATALOGUE.open("rb") as po_file:
        catalogue: Catalog = read_po(po_file, locale="fr")
    return catalogue


def french_catalogue_exists() -> bool:
    return _french_catalogue() is not None


def french(msgid: str) -> str:
    """The French translation of an English msgid; fails the test if the catalogue lacks it."""
    catalogue = _french_catalogue()
    if catalogue is None:
        pytest.fail(f"no French catalogue at {FRENCH_CATALOGUE}", pytrace=False)
    message = catalogue.get(msgid)
    if message is None or not message.string or message.fuzzy:
        pytest.fail(f"the French catalogue has no (non-fuzzy) translation for {msgid!r}", pytrace=False)
    text = message.string
    assert isinstance(text, str)
    return text


def french_msgid_of(text: str, **params: str) -> str | None:
    """The msgid whose French translation (filled with ``params``) is exactly ``text``, or None: tells
    that a text on a page is French from the catalogue, without tying the test to a template's wording."""
    catalogue = _french_catalogue()
    if catalogue is None:
        return None
    for message in catalogue:
        if not message.id or not isinstance(message.id, str) or message.fuzzy:
            continue
        if not isinstance(message.string, str) or not message.string:
            continue
        try:
            shown = message.string % params if "%(" in message.string else message.string
        except (KeyError, ValueError, TypeError):
            continue
        if shown == text:
            return message.id
    return None

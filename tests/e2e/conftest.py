"""Browser tests: the real ``teleconsult demo`` server in a subprocess, driven by Debian's Chromium.

Servers and the browser live for the whole session; every test gets fresh browser contexts (own cookies).
The server with the TOTP second factor (``--with-2fa``) only starts if a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.e2e.server import CHROMIUM, DemoServer, ServerDidNotStart, launch_chromium, start_demo_server

PAGE_WEIGHTS = pytest.StashKey[dict[str, int]]()
DEFAULT_VIEWPORT = (1024, 768)


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, with_2fa: bool) -> DemoServer:
    try:
        return start_demo_server(tmp_path_factory.mktemp(name), with_2fa=with_2fa)
    except ServerDidNotStart as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``teleconsult demo``: SQLite, demo accounts, no second factor."""
    server = _start(tmp_path_factory, "demo-server", with_2fa=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_server_2fa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``teleconsult demo --with-2fa``: the hospital roles and admins need a TOTP code, as in production."""
    server = _start(tmp_path_factory, "demo-server-2fa", with_2fa=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/test does it)")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch_chromium(playwright)
    try:
        yield chromium
    finally:
        chromium.close()


class PageFactory(Protocol):
    def __call__(self, *, viewport: tuple[int, int] = DEFAULT_VIEWPORT, bypass_csp: bool = False) -> Page: ...


@pytest.fixture
def new_page(browser: Browser) -> Iterator[PageFactory]:
    """A page in a fresh browser context (no cookies). ``bypass_csp=True`` only where axe-core must be
    injected: the app's Content-Security-Policy rightly refuses inline scripts."""
    contexts = []

    def make(*, viewport: tuple[int, int] = DEFAULT_VIEWPORT, bypass_csp: bool = False) -> Page:
        width, height = viewport
        context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=bypass_csp)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page_weights(request: pytest.FixtureRequest) -> dict[str, int]:
    """Page name -> gzipped bytes, reported at the end of the run."""
    return request.config.stash.setdefault(PAGE_WEIGHTS, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    weights = config.stash.get(PAGE_WEIGHTS, {})
    if weights:
        terminalreporter.section("care-home page weights (gzip, all resources)")
        for name, total in sorted(weights.items()):
            terminalreporter.write_line(f"{name:<30} {total:>7} bytes ({total / 1024:.1f} KB)")

"""Every page a person looks at, opened in Chromium as its PageSpec says: 200, French, no serious or
critical axe-core violation, and care-home pages within 100 KB gzipped, everything included.

A page joins these tests by being registered with ``page=PageSpec(...)`` (teleconsult/routing.py); pages
whose path has a ``{parameter}`` are not opened here.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from teleconsult.app import create_app
from teleconsult.identity.model import Role
from teleconsult.keys import ROUTE_SPECS
from teleconsult.routing import PageSpec, RouteSpec
from teleconsult.settings import Settings
from tests.e2e.checks import (
    CARE_HOME_BUDGET_BYTES,
    assert_accessible,
    assert_lang_fr,
    blocking,
    recording_weight,
    run_axe,
)
from tests.e2e.conftest import PageFactory
from tests.e2e.server import (
    ENROL_PATH,
    SECOND_FACTOR_PATH,
    DemoServer,
    demo_account,
    enrol_shown_secret,
    log_in,
    log_out,
    submit_login,
)

pytestmark = pytest.mark.e2e


def registered_pages() -> list[RouteSpec]:
    app = create_app(Settings())
    specs = app[ROUTE_SPECS].values()
    return sorted((s for s in specs if s.page is not None and "{" not in s.path), key=lambda s: s.name)


PAGES = registered_pages()


def path_of(page: Page, server: DemoServer) -> str:
    return urlsplit(page.url).path if page.url.startswith(server.base_url) else page.url


def test_the_harness_collects_the_pages() -> None:
    names = {spec.name for spec in PAGES}
    assert {"login", "home.care_home"} <= names, f"page collector found only {sorted(names)}"


def _reach_pending_second_factor(page: Page, server: DemoServer, spec: RouteSpec, role: Role) -> None:
    """Log in with the password only, so that the session waits for the second factor."""
    account = demo_account(role)
    if spec.path == ENROL_PATH:
        assert account.username not in server.totp_apps, (
            f"{account.username} already has a second factor on this server: {spec.name} needs one without"
        )
        submit_login(page, server, account.username, account.password)
        assert path_of(page, server) == ENROL_PATH
        return
    if account.username not in server.totp_apps:
        submit_login(page, server, account.username, account.password)
        assert path_of(page, server) == ENROL_PATH, "a first login should ask to set up the second factor"
        enrol_shown_secret(page, server, account.username)
        assert account.username in server.totp_apps, (
            f"enrolment refused; page shows: {page.inner_text('main')}"
        )
        log_out(page)
    submit_login(page, server, account.username, account.password)
    assert path_of(page, server) == SECOND_FACTOR_PATH


@pytest.mark.parametrize("spec", PAGES, ids=[spec.name for spec in PAGES])
def test_page(
    spec: RouteSpec, new_page: PageFactory, request: pytest.FixtureRequest, page_weights: dict[str, int]
) -> None:
    page_spec = spec.page
    assert isinstance(page_spec, PageSpec)
    fixture = "demo_server_2fa" if page_spec.pending_second_factor else "demo_server"
    server: DemoServer = request.getfixturevalue(fixture)
    page = new_page(bypass_csp=True)

    if page_spec.pending_second_factor:
        assert page_spec.role is not None, f"{spec.name}: a page before the second factor needs a role"
        _reach_pending_second_factor(page, server, spec, page_spec.role)
    elif page_spec.role is not None:
        log_in(page, server, demo_account(page_spec.role))
        assert path_of(page, server) != "/login", f"login as {page_spec.role.value} failed"
    # The page reached by logging in may still be fetching (its favicon): let it finish, so that none of its
    # requests is mistaken for one of the page measured below.
    page.wait_for_load_state("networkidle")

    with contextlib.ExitStack() as stack:
        recorder = stack.enter_context(recording_weight(page, spec.path)) if page_spec.care_home else None
        response = page.goto(server.url(spec.path))
    assert response is not None
    assert response.status == 200, f"GET {spec.path} as {page_spec.role}: {response.status}"
    assert path_of(page, server) == spec.path, f"GET {spec.path} was redirected to {page.url}"
    assert_lang_fr(page, spec.path)

    if recorder is not None:
        sizes, total = recorder.sizes, recorder.total
        page_weights[spec.name] = total
        detail = ", ".join(f"{urlsplit(url).path}: {size}" for url, size in sizes.items())
        print(f"\n{spec.name} ({spec.path}): {total} bytes gzipped [{detail}]")
        assert total <= CARE_HOME_BUDGET_BYTES, (
            f"{spec.path} weighs {total} bytes gzipped, over the {CARE_HOME_BUDGET_BYTES} budget: {detail}"
        )

    assert_accessible(
        page, f"{spec.path} ({spec.name}, as {page_spec.role.value if page_spec.role else 'anonymous'})"
    )


ERROR_CASES = [
    pytest.param(404, None, "/this-does-not-exist", id="404-anonymous"),
    pytest.param(404, Role.IDE, "/this-does-not-exist", id="404-logged-in"),
    pytest.param(403, Role.IDE, "/admin", id="403-care-home-nurse-on-admin"),
    pytest.param(405, None, "/logout", id="405-get-on-a-form-action"),
]


@pytest.mark.parametrize(("status", "role", "path"), ERROR_CASES)
def test_error_page(
    status: int, role: Role | None, path: str, new_page: PageFactory, demo_server: DemoServer
) -> None:
    page = new_page(bypass_csp=True)
    if role is not None:
        log_in(page, demo_server, demo_account(role))
    response = page.goto(demo_server.url(path))
    assert response is not None
    assert response.status == status
    assert_lang_fr(page, path)
    assert page.locator("h1").count() == 1
    assert_accessible(page, f"the {status} error page ({path})")


def test_axe_finds_a_known_violation(new_page: PageFactory) -> None:
    """The harness really runs axe-core: a page with an unlabelled field and an image without text fails."""
    page = new_page(bypass_csp=True)
    page.set_content('<!doctype html><html lang="fr"><title>t</title><main><img src="data:,"><input></main>')
    found = {line.split(" ", 1)[0] for line in blocking(run_axe(page))}
    assert {"image-alt", "label"} <= found, found

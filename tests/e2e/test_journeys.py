"""Real journeys in Chromium against ``teleconsult demo``: logging in per role, the shared tablet's
"switch user", the TOTP second factor (enrolment, fresh code, replay refused), a wrong password."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page

from teleconsult.demo import DEMO_ACCOUNTS, DemoAccount
from teleconsult.identity.model import Role
from tests.e2e.checks import assert_lang_fr, french, french_catalogue_exists, french_msgid_of
from tests.e2e.conftest import PageFactory
from tests.e2e.server import (
    ENROL_PATH,
    SECOND_FACTOR_PATH,
    DemoServer,
    ServerDidNotStart,
    TotpApp,
    demo_account,
    demo_account_named,
    fill_login_form,
    log_in,
    log_out,
    shown_totp_secret,
    start_demo_server,
    submit_code,
    submit_login,
)

pytestmark = pytest.mark.e2e

SESSION_COOKIE = "tc_session"
#: Each role's home page.
HOMES: dict[Role, str] = {
    Role.IDE: "/ehpad",
    Role.IDEC: "/ehpad",
    Role.MEDECIN_CO: "/ehpad",
    Role.EXPERT: "/expert",
    Role.SECRETARIAT: "/expert",
    Role.COORDINATEUR: "/coordination",
    Role.ADMIN: "/admin",
}


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def has_session(context: BrowserContext) -> bool:
    return any(cookie["name"] == SESSION_COOKIE for cookie in context.cookies())


def assert_home_in_french(page: Page, account: DemoAccount) -> None:
    path = HOMES[account.role]
    assert path_of(page) == path, f"{account.username} landed on {page.url}, not {path}"
    assert_lang_fr(page, path)
    heading = page.get_by_role("heading", level=1).inner_text().strip()
    assert heading, f"{path} has an empty heading"
    assert french_msgid_of(heading, name=account.display_name) is not None, (
        f"the heading {heading!r} of {path} is not a translation from the French catalogue"
    )


@pytest.mark.parametrize("account", DEMO_ACCOUNTS, ids=[a.username for a in DEMO_ACCOUNTS])
def test_each_role_logs_in_and_lands_on_its_home(
    account: DemoAccount, new_page: PageFactory, demo_server: DemoServer
) -> None:
    page = new_page()
    response = log_in(page, demo_server, account)
    assert response is not None
    assert response.status == 200
    assert_home_in_french(page, account)


def switch_user_label() -> str:
    if french_catalogue_exists():
        return french("Switch user")
    warnings.warn(
        "no French catalogue yet: looking for the English 'Switch user' button", UserWarning, stacklevel=2
    )
    return "Switch user"


def test_nurse_hands_the_shared_tablet_to_a_colleague(new_page: PageFactory, demo_server: DemoServer) -> None:
    nurse, colleague = demo_account_named("ide.demo"), demo_account_named("idec.demo")
    page = new_page()
    log_in(page, demo_server, nurse)
    assert_home_in_french(page, nurse)

    with page.expect_navigation():
        page.get_by_role("button", name=switch_user_label(), exact=True).click()
    assert path_of(page) == "/login"
    assert not has_session(page.context), "switching user must close the nurse's session"
    assert page.get_by_role("link", name=nurse.username, exact=True).is_visible(), (
        f"{nurse.username} is not among the recent logins: {page.inner_text('main')}"
    )

    fill_login_form(page, colleague.username, colleague.password)
    assert_home_in_french(page, colleague)
    assert colleague.display_name in page.locator("header.topbar").inner_text()
    assert nurse.display_name not in page.locator("header.topbar").inner_text()


@pytest.fixture
def own_2fa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """A ``--with-2fa`` server of this journey's own: it enrols admin.demo, which the page tests need
    without a second factor on the shared one."""
    try:
        server = start_demo_server(tmp_path_factory.mktemp("journey-2fa"), with_2fa=True)
    except ServerDidNotStart as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def test_admin_enrols_a_totp_app_then_needs_a_fresh_code(
    new_page: PageFactory, own_2fa_server: DemoServer
) -> None:
    server, admin = own_2fa_server, demo_account(Role.ADMIN)
    page = new_page()

    submit_login(page, server, admin.username, admin.password)
    assert path_of(page) == ENROL_PATH, "the first login of an admin must ask to set up the second factor"
    assert_lang_fr(page, ENROL_PATH)
    phone = TotpApp(shown_totp_secret(page))
    submit_code(page, phone.fresh_code())
    assert_home_in_french(page, admin)

    log_out(page)
    assert not has_session(page.context)
    submit_login(page, server, admin.username, admin.password)
    assert path_of(page) == SECOND_FACTOR_PATH, "with a second factor set up, the password is not enough"
    page.goto(server.url("/admin"))
    assert path_of(page) == SECOND_FACTOR_PATH, "the admin pages must wait for the code"

    # The code typed at enrolment, typed again within its validity: a replay, refused.
    refused = submit_code(page, phone.last_code())
    assert refused is not None
    assert refused.status == 401
    assert path_of(page) == SECOND_FACTOR_PATH
    alert = page.get_by_role("alert")
    assert alert.inner_text().strip() == french(
        "This code is not valid. Type the 6 digits shown now by your authenticator app."
    )

    submit_code(page, phone.fresh_code())
    assert_home_in_french(page, admin)


def test_wrong_password_shows_the_french_error_and_opens_no_session(
    new_page: PageFactory, demo_server: DemoServer
) -> None:
    nurse = demo_account(Role.IDE)
    page = new_page()
    response = submit_login(page, demo_server, nurse.username, "not-" + nurse.password)
    assert response is not None
    assert response.status == 401
    assert path_of(page) == "/login"
    assert_lang_fr(page, "/login")
    assert page.get_by_role("alert").inner_text().strip() == french("Wrong login or password.")
    assert not has_session(page.context)

    page.goto(demo_server.url("/ehpad"))
    assert path_of(page) == "/login", "without a session the care-home page must send to the login"
    assert parse_qs(urlsplit(page.url).query).get("next") == ["/ehpad"], page.url

"""An invited guest in a real call: the care home's IDEC invites the treating physician from the appointment
page, copies the link shown once, and the guest (a browser without any account) opens it, joins on the care
home's side and sees the geriatrician, who sees the guest (getStats framesDecoded on both pages). Opening
the link a second time and joining is refused in French. Every wait is a bounded poll of a condition."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Playwright

from tests.e2e import test_call as call
from tests.e2e.checks import assert_lang_fr
from tests.e2e.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DemoServer,
    demo_account_named,
    log_in,
    running_demo_server,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def guest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoServer, uuid.UUID]]:
    with running_demo_server(tmp_path_factory.mktemp("guest-server")) as server:
        yield server, call.move_appointment_to_now(server)


@pytest.fixture(scope="module")
def media_browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *call.MEDIA_ARGS]
    )
    try:
        yield browser
    finally:
        browser.close()


def test_an_invited_guest_joins_the_call_once(
    guest_server: tuple[DemoServer, uuid.UUID], media_browser: Browser
) -> None:
    server, appointment_id = guest_server
    contexts = [media_browser.new_context(viewport={"width": 1024, "height": 768}) for _ in range(3)]
    try:
        inviter = contexts[0].new_page()
        log_in(inviter, server, demo_account_named("idec.demo"))
        inviter.goto(server.url(f"/appointments/{appointment_id}"))
        inviter.select_option("#invite-role", "treating_physician")
        inviter.fill("#invite-name", "Dr Invité")
        with inviter.expect_navigation():
            inviter.get_by_role("button", name="Créer le lien d'invitation").click()
        link = inviter.input_value("#invite-link")
        assert link.startswith(server.url("/invitations/")), link

        expert = call.join_from_the_appointment(contexts[1], server, "geriatre.demo", appointment_id)
        guest = contexts[2].new_page()
        guest.on("console", lambda message: call.CONSOLE.append(f"guest: {message.type}: {message.text}"))
        guest.goto(link)
        assert_lang_fr(guest, "the guest's landing page")
        with guest.expect_navigation():
            guest.get_by_role("button", name="Rejoindre l'appel").click()
        pages = {"expert": expert, "guest": guest}
        call.PAGES.clear()
        call.PAGES.update(pages)
        for name, page in pages.items():
            call.wait_until(
                lambda p=page: call.frames(p) > 0,  # type: ignore[misc]
                call.CONNECT_TIMEOUT_SECONDS,
                f"{name} decodes the other's video",
            )

        # The same link again, from another browser: refused, in French.
        other = contexts[0].new_page()
        other.context.clear_cookies()
        response = other.goto(link)
        assert response is not None and response.status == 410
        assert "déjà été utilisé" in other.locator("#invite-state").inner_text()
    finally:
        for context in contexts:
            context.close()

"""A video call between two Chromium pages on the real demo server: the geriatrician and the care home's
coordinating nurse join the same room, both decode the other's video (getStats framesDecoded), one page
reloads (a drop) and the call resumes on both sides.

The demo seeds appointments on the next afternoons, whose rooms are not open now. To have one open,
deterministically and whatever the hour the test runs, the test moves one of the demo appointments between
geriatre.demo and idec.demo's care home to "now" (started 5 minutes ago, 30 minutes long) in the server's
SQLite database, before anyone opens it: the rooms' rules are then tested as they are, with the real clock.
Every wait is a bounded poll of a condition; no sleep is an assertion.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from scheduling.store import appointments
from teleconsult.identity.store import users
from tests.e2e.checks import assert_accessible, assert_lang_fr
from tests.e2e.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPO_ROOT,
    DemoServer,
    demo_account_named,
    log_in,
    running_demo_server,
)

pytestmark = pytest.mark.e2e

MEDIA_ARGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
)
#: Generous bounds: two Chromium pages encoding and decoding video on a shared two-core machine.
CONNECT_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.25
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
#: The pages' console, shown when a wait fails.
CONSOLE: list[str] = []


#: The call pages open, described when a wait fails.
PAGES: dict[str, Page] = {}


def describe(page: Page) -> str:
    try:
        return str(
            page.evaluate(
                "window.teleconsultCall ? [teleconsultCall.state(), teleconsultCall.generation(), "
                "teleconsultCall.connection()].join(' ') : 'no call'"
            )
        )
    except Exception as exc:  # a page that is navigating cannot be asked
        return f"unreadable ({type(exc).__name__})"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(POLL_SECONDS)  # polling interval of a bounded wait on a condition, not a timing assumption
    console = "\n".join(line for line in CONSOLE if "heartbeat" not in line)
    states = "; ".join(f"{name}: {describe(page)}" for name, page in PAGES.items())
    raise AssertionError(f"not within {timeout:.0f} s: {what}; pages: {states}; console:\n{console}")


def move_appointment_to_now(server: DemoServer) -> uuid.UUID:
    """One of idec.demo's care home's appointments, given to geriatre.demo, started 5 minutes ago."""
    engine = sa.create_engine(
        f"sqlite:///{server.data_dir / 'teleconsult.sqlite3'}", connect_args={"timeout": 30}
    )
    try:
        with engine.begin() as connection:
            expert = connection.execute(
                sa.select(users.c.id).where(users.c.username == "geriatre.demo")
            ).scalar_one()
            home = connection.execute(
                sa.select(users.c.establishment_id).where(users.c.username == "idec.demo")
            ).scalar_one()
            # The demo books the first care home's residents with whichever expert had a free slot: take
            # one of its appointments (a geriatric one if there is) and give it to geriatre.demo.
            appointment_id: uuid.UUID = connection.execute(
                sa.select(appointments.c.id)
                .where(appointments.c.ehpad_id == home, appointments.c.status == "booked")
                .order_by(appointments.c.specialty != "geriatrie", appointments.c.starts_at)
                .limit(1)
            ).scalar_one()
            now = datetime.now(UTC).replace(microsecond=0)
            connection.execute(
                sa.update(appointments)
                .where(appointments.c.id == appointment_id)
                .values(
                    expert_id=expert,
                    starts_at=now - timedelta(minutes=5),
                    ends_at=now + timedelta(minutes=25),
                    record_call=True,  # the call page then also feeds the recorder leg
                )
            )
    finally:
        engine.dispose()
    return appointment_id


@pytest.fixture(scope="module")
def call_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoServer, uuid.UUID]]:
    with running_demo_server(tmp_path_factory.mktemp("call-server")) as server:
        yield server, move_appointment_to_now(server)


@pytest.fixture(scope="module")
def media_browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium with a fake camera and microphone, permission granted."""
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *MEDIA_ARGS]
    )
    try:
        yield browser
    finally:
        browser.close()


def frames(page: Page) -> int:
    value = page.evaluate("window.teleconsultCall ? window.teleconsultCall.framesDecoded() : 0")
    return int(value)


def generation(page: Page) -> int:
    return int(page.evaluate("window.teleconsultCall ? window.teleconsultCall.generation() : 0"))


def join_from_the_appointment(
    context: BrowserContext, server: DemoServer, username: str, appointment_id: uuid.UUID
) -> Page:
    page = context.new_page()
    page.on("console", lambda message: CONSOLE.append(f"{username}: {message.type}: {message.text}"))
    log_in(page, server, demo_account_named(username))
    page.goto(server.url(f"/appointments/{appointment_id}"))
    with page.expect_navigation():
        page.get_by_role("link", name="Rejoindre l'appel").click()
    assert page.url.endswith(f"/appointments/{appointment_id}/call"), page.url
    return page


@contextlib.contextmanager
def both_sides_in_the_call(
    browser: Browser, server: DemoServer, appointment_id: uuid.UUID, viewport: tuple[int, int]
) -> Iterator[tuple[Page, Page]]:
    """geriatre.demo and idec.demo in the appointment's call, each in a browser context of their own."""
    size = {"width": viewport[0], "height": viewport[1]}
    contexts = [browser.new_context(viewport=size) for _ in range(2)]  # type: ignore[arg-type]
    try:
        expert = join_from_the_appointment(contexts[0], server, "geriatre.demo", appointment_id)
        nurse = join_from_the_appointment(contexts[1], server, "idec.demo", appointment_id)
        PAGES.clear()
        PAGES.update({"expert": expert, "nurse": nurse})
        yield expert, nurse
    finally:
        for context in contexts:
            context.close()


def test_two_pages_see_each_other_and_the_call_resumes_after_a_reload(
    call_server: tuple[DemoServer, uuid.UUID], media_browser: Browser
) -> None:
    server, appointment_id = call_server
    with both_sides_in_the_call(media_browser, server, appointment_id, (1024, 768)) as (expert, nurse):
        pages = {"expert": expert, "nurse": nurse}
        for name, page in pages.items():
            wait_until(lambda p=page: frames(p) > 0, CONNECT_TIMEOUT_SECONDS, f"{name} decodes video")  # type: ignore[misc]
        for name, page in pages.items():
            wait_until(
                lambda p=page: p.locator("#call-status").inner_text() == "Connecté",  # type: ignore[misc]
                CONNECT_TIMEOUT_SECONDS,
                f"{name}'s page says Connecté",
            )

        # With consent to record, both pages also send their tracks to the server's recorder leg.
        def recordings() -> int:
            found = expert.evaluate(
                "async (url) => (await (await fetch(url)).json()).recordings.length",
                f"/api/v1/appointments/{appointment_id}/recordings",
            )
            return int(found)

        wait_until(lambda: recordings() >= 2, CONNECT_TIMEOUT_SECONDS, "both sides are being recorded")

        # The nurse's page reloads (the tablet's browser restarts, the Wi-Fi drops): the expert stays.
        before = generation(expert)
        nurse.reload()
        wait_until(lambda: generation(expert) > before, CONNECT_TIMEOUT_SECONDS, "the expert renegotiates")
        for name, page in pages.items():
            wait_until(lambda p=page: frames(p) > 0, CONNECT_TIMEOUT_SECONDS, f"{name} decodes again")  # type: ignore[misc]
            seen = frames(page)
            wait_until(
                lambda p=page, s=seen: frames(p) > s,  # type: ignore[misc]
                CONNECT_TIMEOUT_SECONDS,
                f"{name} keeps decoding",
            )
        wait_until(
            lambda: nurse.locator("#call-status").inner_text() == "Connecté",
            CONNECT_TIMEOUT_SECONDS,
            "the nurse's page says Connecté again",
        )
        assert_lang_fr(nurse, "the call page")
        if os.environ.get("TELECONSULT_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            expert.screenshot(path=str(SCREENSHOTS / "call-expert.png"), full_page=True)
            nurse.screenshot(path=str(SCREENSHOTS / "call-nurse.png"), full_page=True)


def test_a_photo_during_the_call_the_fallbacks_of_a_weak_network_and_the_journal_after(
    call_server: tuple[DemoServer, uuid.UUID], media_browser: Browser
) -> None:
    server, appointment_id = call_server
    with both_sides_in_the_call(media_browser, server, appointment_id, (1280, 800)) as (expert, nurse):
        pages = {"expert": expert, "nurse": nurse}
        for name, page in pages.items():
            wait_until(lambda p=page: frames(p) > 0, CONNECT_TIMEOUT_SECONDS, f"{name} decodes video")  # type: ignore[misc]
            wait_until(
                lambda p=page: p.evaluate("teleconsultCall.quality()") in ("good", "fair", "poor"),  # type: ignore[misc]
                CONNECT_TIMEOUT_SECONDS,
                f"{name}'s quality indicator shows a level",
            )

        # The nurse photographs the wound with the tablet's camera: it lands beside the expert's video.
        nurse.get_by_role("button", name="Prendre une photo").click()
        wait_until(
            lambda: "Photo enregistrée" in nurse.locator("#call-photo-status").inner_text(),
            CONNECT_TIMEOUT_SECONDS,
            "the nurse's photo is saved",
        )
        photo = expert.locator("#call-documents li", has_text="Photo prise pendant l'appel")
        wait_until(lambda: photo.count() >= 1, CONNECT_TIMEOUT_SECONDS, "the expert sees the photo")
        wait_until(
            lambda: bool(
                expert.evaluate(
                    "() => [...document.querySelectorAll('#call-documents img')]"
                    ".some((i) => i.complete && i.naturalWidth > 0)"
                )
            ),
            CONNECT_TIMEOUT_SECONDS,
            "the photo's thumbnail is decoded (the download decrypts it)",
        )

        # The network turns bad on the tablet: audio only is offered, taken, and applies to both sides.
        nurse.evaluate("teleconsultCall.pretendQuality('poor')")
        wait_until(lambda: nurse.evaluate("teleconsultCall.offer()") == "audio", 30, "audio only is offered")
        nurse.get_by_role("button", name="Passer en audio seulement").click()
        for name, page in pages.items():
            wait_until(
                lambda p=page: p.evaluate("teleconsultCall.audioOnly()"), 30, f"{name} is in audio only"
            )  # type: ignore[misc]
        # Still too weak in audio only: the nurse is offered to go on as a tele-expertise.
        link = nurse.get_by_role("link", name="Continuer en téléexpertise")
        wait_until(lambda: link.is_visible(), 60, "the tele-expertise is offered")
        assert f"from_appointment={appointment_id}" in (link.get_attribute("href") or "")
        if os.environ.get("TELECONSULT_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            expert.screenshot(path=str(SCREENSHOTS / "call-expert-documents.png"), full_page=True)
            nurse.screenshot(path=str(SCREENSHOTS / "call-nurse-fallback.png"), full_page=True)

        for page in pages.values():
            page.get_by_role("button", name="Raccrocher").click()
        # After the call, the expert reads its journal on the appointment page.
        expert.goto(server.url(f"/appointments/{appointment_id}"))
        journal = expert.locator("#journal")
        wait_until(lambda: journal.count() == 1, 30, "the appointment page shows the call's journal")
        text = journal.text_content() or ""
        assert "Reconnexions" in text and "A rejoint l'appel" in text and "État du réseau" in text, text
        # The pages' quality summaries (the first after 10 s, the last at the hang-up) are there too.
        assert "Débit moyen reçu" in text and "Qualité de la connexion" in text, text
        if os.environ.get("TELECONSULT_SCREENSHOTS") == "1":
            expert.locator("#journal summary").click()
            journal.screenshot(path=str(SCREENSHOTS / "call-journal-expert.png"))


def test_the_call_page_is_accessible(
    call_server: tuple[DemoServer, uuid.UUID], media_browser: Browser
) -> None:
    server, appointment_id = call_server
    # axe-core is injected as a script: only this context lifts the Content-Security-Policy for it.
    context = media_browser.new_context(viewport={"width": 1024, "height": 768}, bypass_csp=True)
    try:
        page = join_from_the_appointment(context, server, "idec.demo", appointment_id)
        wait_until(lambda: page.locator("#call-status").inner_text() != "", 30, "the status line")
        assert_accessible(page, "the call page")
    finally:
        context.close()

"""The recorder leg from a real Chromium: the coordinating nurse joins the call (her seat is held), her page
starts web/static/recorder.js with the fake camera's stream (as call.js will), records a few seconds and
hangs up; the geriatrician then finds the recording on the appointment page and Chromium plays it (a
WebM with a finite duration, fetched with byte ranges).

As in test_call.py, a demo appointment is moved to "now" in the server's database, with the consent to
record. Every wait is a bounded poll of a condition.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page

from scheduling.store import appointments
from tests.e2e.server import DemoServer, demo_account_named, log_in, running_demo_server
from tests.e2e.test_call import (
    CONNECT_TIMEOUT_SECONDS,
    SCREENSHOTS,
    join_from_the_appointment,
    media_browser,
    move_appointment_to_now,
    wait_until,
)

pytestmark = pytest.mark.e2e
__all__ = ["media_browser"]  # the fixture, imported for this module


@pytest.fixture(scope="module")
def recorded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoServer, uuid.UUID]]:
    with running_demo_server(tmp_path_factory.mktemp("recorder-server")) as server:
        appointment_id = move_appointment_to_now(server)
        engine = sa.create_engine(f"sqlite:///{server.data_dir / 'teleconsult.sqlite3'}")
        try:
            with engine.begin() as connection:
                connection.execute(
                    sa.update(appointments)
                    .where(appointments.c.id == appointment_id)
                    .values(record_call=True)
                )
        finally:
            engine.dispose()
        yield server, appointment_id


def recorder_state(page: Page) -> str:
    return str(page.evaluate("window.__recorderState || ''"))


def test_a_browser_records_its_call_and_the_expert_plays_it_back(
    recorded_server: tuple[DemoServer, uuid.UUID], media_browser: Browser
) -> None:
    server, appointment_id = recorded_server
    nurse_context = media_browser.new_context(viewport={"width": 1024, "height": 768})
    expert_context = media_browser.new_context(viewport={"width": 1024, "height": 900})
    try:
        nurse = join_from_the_appointment(nurse_context, server, "idec.demo", appointment_id)
        wait_until(
            lambda: nurse.locator("#call-status").inner_text() != "", CONNECT_TIMEOUT_SECONDS, "joined"
        )
        nurse.add_script_tag(url=server.url("/static/recorder.js"))
        nurse.evaluate(
            """async (appointmentId) => {
                const csrf = document.querySelector('input[name="csrf_token"]').value;
                const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
                window.__recorder = window.teleconsultRecorder.start(stream, appointmentId, csrf, {
                    onState: (state) => { window.__recorderState = state; }
                });
            }""",
            str(appointment_id),
        )
        wait_until(lambda: recorder_state(nurse) == "recording", CONNECT_TIMEOUT_SECONDS, "recording")
        # Record until the recorder leg has received a few seconds of media (seen through its stats).
        nurse.evaluate("new Promise((resolve) => setTimeout(resolve, 4000))")
        nurse.evaluate("window.__recorder.stop()")

        expert = expert_context.new_page()
        log_in(expert, server, demo_account_named("geriatre.demo"))
        listing = server.url(f"/api/v1/appointments/{appointment_id}/recordings")

        def playable() -> bool:
            body = expert.request.get(listing).json()
            return any(item["playable"] for item in body["recordings"])

        wait_until(playable, CONNECT_TIMEOUT_SECONDS, "the recording is finished")
        expert.goto(server.url(f"/appointments/{appointment_id}"))
        video = expert.locator("video").first
        video.wait_for(timeout=CONNECT_TIMEOUT_SECONDS * 1000)
        wait_until(
            lambda: bool(video.evaluate("v => v.readyState >= 1 && isFinite(v.duration) && v.duration > 0")),
            CONNECT_TIMEOUT_SECONDS,
            "Chromium reads the recording's duration",
        )
        if os.environ.get("TELECONSULT_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            expert.locator("#recordings-title").scroll_into_view_if_needed()
            expert.screenshot(path=str(SCREENSHOTS / "appointment-recordings-expert.png"), full_page=True)
    finally:
        nurse_context.close()
        expert_context.close()

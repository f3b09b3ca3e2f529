"""A video call through the TURN relay: Debian's coturn (``turnserver``) on the loopback with a secret made
for this run, the demo server configured with that secret and ``call_force_relay``, and two Chromium pages
in one room. Both decode the other's video, and the candidate pair each page selected is a relayed one:
the media went through coturn, with credentials the server derived (signalling/turn.py) and coturn
checked (``use-auth-secret``).

coturn refuses loopback peers unless told (``--allow-loopback-peers``); both relayed addresses are on
127.0.0.1 here, so it must be. No TLS/DTLS listener (no certificate in a test), no CLI.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright

from tests.e2e import test_call as call
from tests.e2e.server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DemoServer,
    demo_account_named,
    log_in,
    running_demo_server,
)

pytestmark = pytest.mark.e2e

TURNSERVER = "turnserver"
READY_TIMEOUT_SECONDS = 20.0
#: Keeps every RTCPeerConnection a page makes, so that the test can read its selected candidate pair.
RECORD_PEERS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = function (...args) {
    const peer = new Original(...args);
    window.__peers.push(peer);
    return peer;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();
"""
#: The local and remote candidate types of the last connection's selected pair, and its transport policy.
SELECTED_PAIR = """
async () => {
  const peer = window.__peers[window.__peers.length - 1];
  if (!peer) return null;
  const stats = await peer.getStats();
  let pair = null;
  stats.forEach((report) => {
    if (report.type === "transport" && report.selectedCandidatePairId) {
      pair = stats.get(report.selectedCandidatePairId);
    }
  });
  if (!pair) return null;
  return {
    local: stats.get(pair.localCandidateId).candidateType,
    remote: stats.get(pair.remoteCandidateId).candidateType,
    policy: peer.getConfiguration().iceTransportPolicy,
  };
}
"""


def _free_port() -> int:
    # The same number must be free for UDP and TCP (coturn listens on both).
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Coturn:
    def __init__(self, work_dir: Path) -> None:
        self.port = _free_port()
        self.secret = secrets.token_hex(24)
        self.log_path = work_dir / "turnserver.log"
        command = [
            TURNSERVER,
            "--no-stdout-log",
            f"--log-file={self.log_path}",
            "--simple-log",
            f"--pidfile={work_dir / 'turnserver.pid'}",
            f"--userdb={work_dir / 'turndb'}",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={self.port}",
            "--min-port=49152",
            "--max-port=65535",
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            "--realm=teleconsult.test",
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if _listening(self.port):
                return
            time.sleep(0.1)  # polling interval of a bounded wait on a condition, not a timing assumption
        self.stop()
        pytest.fail(f"turnserver did not listen on {self.port}:\n{self.output()}", pytrace=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    if shutil.which(TURNSERVER) is None:
        message = f"{TURNSERVER} is missing: install Debian's coturn package (scripts/test does it)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = Coturn(tmp_path_factory.mktemp("coturn"))
    server.wait_ready()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def relay_server(
    tmp_path_factory: pytest.TempPathFactory, coturn: Coturn
) -> Iterator[tuple[DemoServer, uuid.UUID]]:
    settings = {
        "TELECONSULT_TURN_URLS": f"turn:127.0.0.1:{coturn.port}?transport=udp",
        "TELECONSULT_TURN_SECRET": coturn.secret,
        "TELECONSULT_CALL_FORCE_RELAY": "true",
    }
    with running_demo_server(tmp_path_factory.mktemp("relay-server"), settings=settings) as server:
        yield server, call.move_appointment_to_now(server)


@pytest.fixture(scope="module")
def relay_browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, *call.MEDIA_ARGS]
    )
    try:
        yield browser
    finally:
        browser.close()


def selected_pair(page: Page) -> dict[str, str] | None:
    pair = page.evaluate(SELECTED_PAIR)
    return pair if isinstance(pair, dict) else None


def test_two_pages_talk_through_the_turn_relay(
    relay_server: tuple[DemoServer, uuid.UUID], relay_browser: Browser, coturn: Coturn
) -> None:
    server, appointment_id = relay_server
    contexts = [relay_browser.new_context(viewport={"width": 1024, "height": 768}) for _ in range(2)]
    for context in contexts:
        context.add_init_script(RECORD_PEERS)
    try:
        expert = call.join_from_the_appointment(contexts[0], server, "geriatre.demo", appointment_id)
        nurse = call.join_from_the_appointment(contexts[1], server, "idec.demo", appointment_id)
        pages = {"expert": expert, "nurse": nurse}
        call.PAGES.clear()
        call.PAGES.update(pages)
        for name, page in pages.items():
            call.wait_until(
                lambda p=page: call.frames(p) > 0,  # type: ignore[misc]
                call.CONNECT_TIMEOUT_SECONDS,
                f"{name} decodes video through the relay (coturn log:\n{coturn.output()})",
            )
        for name, page in pages.items():
            call.wait_until(
                lambda p=page: selected_pair(p) is not None,  # type: ignore[misc]
                call.CONNECT_TIMEOUT_SECONDS,
                f"{name} has a selected candidate pair",
            )
            pair = selected_pair(page)
            assert pair == {"local": "relay", "remote": "relay", "policy": "relay"}, (name, pair)
    finally:
        for context in contexts:
            context.close()


def test_the_connection_test_goes_through_the_relay(
    relay_server: tuple[DemoServer, uuid.UUID], relay_browser: Browser
) -> None:
    """The connection test with relay only: the browser reaches the server's echo peer through coturn."""
    server, _appointment_id = relay_server
    context = relay_browser.new_context(viewport={"width": 1024, "height": 768})
    context.add_init_script(RECORD_PEERS)
    try:
        page = context.new_page()
        log_in(page, server, demo_account_named("ide.demo"))
        page.goto(server.url("/connection-test"))
        pairs: list[dict[str, str]] = []

        def relayed_media() -> bool:
            pair = selected_pair(page)
            if pair is not None:
                pairs.append(pair)
            state = page.evaluate("document.getElementById('conntest').dataset.state")
            return state == "done" and bool(pairs)

        call.wait_until(relayed_media, call.CONNECT_TIMEOUT_SECONDS * 2, "the connection test ends")
        steps = page.locator('[data-step="call"]').get_attribute("data-state")
        assert steps == "ok", page.locator("#conntest-verdict").inner_text()
        assert pairs[-1]["local"] == "relay" and pairs[-1]["policy"] == "relay", pairs[-1]
        assert page.locator("#conntest").get_attribute("data-verdict") in ("ready", "audio_only")
    finally:
        context.close()

"""The real demo server in a subprocess, Debian's Chromium, and the login steps a person takes.

Shared by the browser tests (tests/e2e/conftest.py) and scripts/screenshots.py, so that both drive the
service exactly as someone would: ``teleconsult demo`` on a free port, the login form, the TOTP pages.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pyotp
from playwright.sync_api import Browser, Page, Playwright, Response

from teleconsult.demo import DEMO_ACCOUNTS, DemoAccount
from teleconsult.identity.model import Role

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0
#: Attempts at starting the server when the free port found was taken by someone else in between.
START_ATTEMPTS = 3


class ServerDidNotStart(RuntimeError):
    """``teleconsult demo`` never answered /readyz with 200; the message holds its output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_environment() -> dict[str, str]:
    # The developer's own TELECONSULT_* settings (a database URL, production mode...) must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECONSULT_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class TotpApp:
    """The authenticator app on someone's phone: it knows the secret and never shows a used code again."""

    secret: str
    last_step: int = -1

    def fresh_code(self) -> str:
        """The code of the current time step, or of the next one if the current one was already used."""
        totp = pyotp.TOTP(self.secret)
        step = max(totp.timecode(datetime.now(UTC)), self.last_step + 1)
        self.last_step = step
        code: str = totp.generate_otp(step)
        return code

    def last_code(self) -> str:
        """The code typed last time (to try a replay)."""
        code: str = pyotp.TOTP(self.secret).generate_otp(self.last_step)
        return code


@dataclass
class DemoServer:
    """One running ``teleconsult demo`` process and what the tests learnt about its accounts."""

    base_url: str
    with_2fa: bool
    process: subprocess.Popen[bytes]
    log_path: Path
    #: The server's data directory (its SQLite database, keys and blobs).
    data_dir: Path
    #: username -> the authenticator app enrolled for it on this server (second-factor servers only).
    totp_apps: dict[str, TotpApp] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return self.base_url + path

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(server output unreadable: {exc})"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own http://127.0.0.1
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _launch(
    data_dir: Path,
    port: int,
    with_2fa: bool,
    log_file: IO[bytes],
    settings: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "teleconsult.cli",
        "demo",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if with_2fa:
        command.append("--with-2fa")
    # ``settings``: TELECONSULT_* variables for this server only (the relay test's TURN server).
    env = {**_server_environment(), **(settings or {})}
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def start_demo_server(
    work_dir: Path,
    *,
    with_2fa: bool = False,
    timeout: float = READY_TIMEOUT_SECONDS,
    settings: Mapping[str, str] | None = None,
) -> DemoServer:
    """Start ``teleconsult demo`` with a fresh data directory under ``work_dir`` and wait until /readyz
    answers 200. Raises :class:`ServerDidNotStart` with the server's output if it never does; the process
    is stopped before raising."""
    work_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        data_dir = work_dir / f"data-{attempt}"
        log_path = work_dir / f"server-{attempt}.log"
        with log_path.open("wb") as log_file:
            process = _launch(data_dir, port, with_2fa, log_file, settings)
        server = DemoServer(f"http://127.0.0.1:{port}", with_2fa, process, log_path, data_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _ready(server.url("/readyz")):
                return server
            time.sleep(0.1)  # polling interval of a bounded wait on a condition, not a timing assumption
        server.stop()
        output = server.output()
        if process.returncode is not None and "address already in use" in output.lower():
            failures.append(f"attempt {attempt}: port {port} was taken")
            continue
        state = (
            f"exited with status {process.returncode}"
            if process.returncode is not None
            else f"did not answer within {timeout:.0f} s"
        )
        raise ServerDidNotStart(
            f"teleconsult demo{' --with-2fa' if with_2fa else ''} on port {port} {state} "
            f"(GET /readyz never answered 200). Server output:\n{output}"
        )
    raise ServerDidNotStart("could not find a free port: " + "; ".join(failures))


@contextlib.contextmanager
def running_demo_server(
    work_dir: Path, *, with_2fa: bool = False, settings: Mapping[str, str] | None = None
) -> Iterator[DemoServer]:
    server = start_demo_server(work_dir, with_2fa=with_2fa, settings=settings)
    try:
        yield server
    finally:
        server.stop()


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; never a browser downloaded by Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS))


# ------------------------------------------------------------------------------------------ accounts


def demo_account(role: Role) -> DemoAccount:
    for account in DEMO_ACCOUNTS:
        if account.role is role:
            return account
    raise LookupError(f"no demo account for role {role.value}")


def demo_account_named(username: str) -> DemoAccount:
    for account in DEMO_ACCOUNTS:
        if account.username == username:
            return account
    raise LookupError(f"no demo account {username}")


# ------------------------------------------------------------------------------------ what a person does


def submit_login(page: Page, server: DemoServer, username: str, password: str) -> Response | None:
    """Open /login, type the login and password and send the form, as a person does. Returns the
    response of the page the browser lands on after the redirects."""
    page.goto(server.url("/login"))
    return fill_login_form(page, username, password)


def fill_login_form(page: Page, username: str, password: str) -> Response | None:
    """Type the login and password into the login form of the page shown, and send it."""
    form = page.locator("form:has(input[name='password'])")
    form.locator("input[name='username']").fill(username)
    form.locator("input[name='password']").fill(password)
    with page.expect_navigation() as navigation:
        form.locator("button[type='submit']").click()
    return navigation.value


def shown_totp_secret(page: Page) -> str:
    """The secret the enrolment page shows in groups of 4 characters, without the spaces."""
    return "".join(page.locator("code.secret").inner_text().split())


def submit_code(page: Page, code: str) -> Response | None:
    form = page.locator("form:has(input[name='code'])")
    form.locator("input[name='code']").fill(code)
    with page.expect_navigation() as navigation:
        form.locator("button[type='submit']").click()
    return navigation.value


def log_out(page: Page) -> None:
    with page.expect_navigation():
        page.locator("form[action='/logout'] button[type='submit']").click()


ENROL_PATH = "/login/totp/enrol"
SECOND_FACTOR_PATH = "/login/totp"


def enrol_shown_secret(page: Page, server: DemoServer, username: str) -> Response | None:
    """On the enrolment page: read the secret shown, set up the authenticator app with it, type its code."""
    app = TotpApp(shown_totp_secret(page))
    response = submit_code(page, app.fresh_code())
    if response is not None and response.ok and not page.url.startswith(server.url(ENROL_PATH)):
        server.totp_apps[username] = app
    return response


def log_in(page: Page, server: DemoServer, account: DemoAccount) -> Response | None:
    """The whole login: password, then on a second-factor server the enrolment (first time) or a fresh
    code from the account's authenticator app. Returns the response of the page landed on."""
    response = submit_login(page, server, account.username, account.password)
    path = page.url.removeprefix(server.base_url).split("?", 1)[0]
    if path == ENROL_PATH:
        return enrol_shown_secret(page, server, account.username)
    if path == SECOND_FACTOR_PATH:
        app = server.totp_apps.get(account.username)
        if app is None:
            raise LookupError(f"{account.username} has a second factor on this server that no test enrolled")
        return submit_code(page, app.fresh_code())
    return response

"""Screenshots of the login page and of each role's home page, for the documentation.

    python scripts/screenshots.py [--out docs/screenshots]

Starts ``teleconsult demo`` on a free port with a throw-away data directory, logs in through the real
login form as each demo role in Debian's Chromium (/usr/bin/chromium), and writes full-page PNGs named
``<page>-<width>x<height>.png`` at a tablet (1024x768) and a phone (390x844) size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # the shared helpers live in tests/e2e/server.py

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from teleconsult.identity.model import Role  # noqa: E402
from tests.e2e.server import (  # noqa: E402
    CHROMIUM,
    DemoServer,
    demo_account,
    launch_chromium,
    log_in,
    running_demo_server,
)

VIEWPORTS: tuple[tuple[int, int], ...] = ((1024, 768), (390, 844))
#: Screenshot name -> (role to log in as, None: anonymous; path to open).
PAGES: dict[str, tuple[Role | None, str]] = {
    "login": (None, "/login"),
    "ehpad": (Role.IDE, "/ehpad"),
    "expert": (Role.EXPERT, "/expert"),
    "coordination": (Role.COORDINATEUR, "/coordination"),
    "admin": (Role.ADMIN, "/admin"),
}


def _open(page: Page, server: DemoServer, role: Role | None, path: str) -> None:
    if role is not None:
        log_in(page, server, demo_account(role))
    response = page.goto(server.url(path))
    if response is None or response.status != 200 or not page.url.startswith(server.url(path)):
        status = response.status if response is not None else "no response"
        raise RuntimeError(f"{path} as {role.value if role else 'anonymous'}: {status}, at {page.url}")
    page.evaluate("() => document.fonts.ready.then(() => true)")


def take_screenshots(browser: Browser, server: DemoServer, out: Path) -> list[Path]:
    written = []
    for name, (role, path) in PAGES.items():
        for width, height in VIEWPORTS:
            context = browser.new_context(viewport={"width": width, "height": height})
            try:
                page = context.new_page()
                _open(page, server, role, path)
                target = out / f"{name}-{width}x{height}.png"
                page.screenshot(path=str(target), full_page=True, animations="disabled")
                written.append(target)
            finally:
                context.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "docs" / "screenshots",
        help="directory for the PNG files (default: docs/screenshots)",
    )
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium package", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="teleconsult-screenshots-") as work_dir,
        running_demo_server(Path(work_dir)) as server,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        try:
            written = take_screenshots(browser, server, out)
        finally:
            browser.close()
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

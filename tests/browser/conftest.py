"""A real Meridian server on 127.0.0.1 and Debian's Chromium driven by Playwright.

Each test gets its own server over a fresh database (SQLite, and PostgreSQL when configured),
so browser tests see exactly the data they set up.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from meridian.app import create_app
from meridian.http.deps import Workspace
from meridian.settings import Settings

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 360, "height": 780}

# Assertions wait as long as page actions do: on a busy CI machine a page settles in seconds,
# and a check that gave up after Playwright's default 5 s would fail on speed, not behaviour.
expect.set_options(timeout=10_000)


@dataclass(frozen=True)
class Server:
    url: str
    workspace: Workspace


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(settings: Settings, workspace: Workspace) -> Iterator[Server]:
    port = _free_port()
    app = create_app(settings, workspace=workspace)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield Server(f"http://127.0.0.1:{port}", workspace)
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


# Reports every Content-Security-Policy violation to the console, where the fixture sees it.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + event.blockedURI);
});
"""


def _breaks_the_page(message: ConsoleMessage) -> bool:
    """A policy violation, a frame or resource the browser refused, or an Alpine expression
    that failed (as one the CSP build of Alpine cannot evaluate would)."""
    text = message.text
    return any(
        sign in text
        for sign in ("Content Security Policy", "CSP violation", "Refused to", "Alpine")
    )


def open_watched(context: BrowserContext) -> tuple[Page, list[str]]:
    """A new tab and the list its JavaScript errors, policy violations and Alpine expression
    errors are collected in."""
    context.add_init_script(_REPORT_VIOLATIONS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on(
        "console",
        lambda message: errors.append(message.text) if _breaks_the_page(message) else None,
    )
    return tab, errors


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies); JavaScript errors and Content-Security-Policy
    violations fail the test."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    tab, errors = open_watched(context)
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


def log_in(page: Page, server: Server, email: str, password: str) -> None:
    """Signed in through the login page, on the page it leads to once that has loaded.
    (Waiting for the network to fall idle cost each sign-in half a second of quiet more.)"""
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login" not in page.url, page.content()


def drag(page: Page, source: str, target: str, *, below: bool = True) -> None:
    """Drag with real mouse movements (SortableJS runs in its pointer-event mode here): drop
    after the target's content (``below``) or before it."""
    page.locator(source).scroll_into_view_if_needed()
    start = page.locator(source).bounding_box()
    end = page.locator(target).bounding_box()
    assert start is not None and end is not None
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 5, start["y"] + start["height"] / 2 + 5)
    page.wait_for_timeout(50)  # SortableJS starts the drag on a later frame
    # Below: the target's bottom-right corner, past its last item; above: its top-left.
    x = end["x"] + (end["width"] - 8 if below else 8)
    y = end["y"] + (end["height"] - 4 if below else 4)
    page.mouse.move(x, y, steps=12)
    page.wait_for_timeout(50)
    page.mouse.move(x, y + 1, steps=2)
    page.wait_for_timeout(100)  # let it place the item before the drop, however busy the page
    page.mouse.up()

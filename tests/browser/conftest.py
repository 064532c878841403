"""Browser tests: the chat page and courant.js in headless Chromium (Debian's ``chromium``
package, driven by Playwright, which never downloads a browser of its own here).

They are skipped when ``/usr/bin/chromium`` is missing, unless ``COURANT_REQUIRE_BROWSER=1``
(CI sets it): then a missing browser fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..live import ROOT, Server, free_port, serve, server_env, uvicorn_command

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
#: The test project, with its static files served (courant.js and the chat page's scripts).
APP = "tests.browser.asgi:application"
#: How long a page may take to show what a test waits for, in ms.
WAIT = 15_000


def _unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    # Per module, not per session: Playwright's sync API keeps an event loop of its own
    # running in this thread while it is started, and the suite's async tests need none.
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("COURANT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"COURANT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"{reason}; the browser tests need it")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def expect(target: Any) -> Any:
    """Playwright's ``expect``, imported late: without Playwright the tests skip instead."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


#: Where the browser tests keep the screenshots they take (gitignored; CI keeps them as
#: artifacts of the run).
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"


def screenshot(page: Page, name: str) -> Path:
    """Save what ``page`` shows, whole, as ``.artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def new_room() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


def start_server(
    live_db: Path, log_dir: Path, courant: dict[str, Any] | None = None, port: int | None = None
) -> Any:
    """A context manager: the test project on uvicorn (static files included)."""
    port = free_port() if port is None else port
    log_dir.mkdir(parents=True, exist_ok=True)
    return serve(
        uvicorn_command(port, app=APP),
        port=port,
        env=server_env(live_db, courant),
        log_dir=log_dir,
    )


@dataclass
class ChatPage:
    """One user's browser tab on a chat room page."""

    page: Page
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> Any:
        return self.page.locator("[data-status]")

    @property
    def texts(self) -> Any:
        """The texts of the messages the page shows, in order."""
        return self.page.locator("[data-messages] li p")

    def close(self) -> None:
        """Close the tab (its browser context), as a user leaving: a server stopped after
        this has no open stream or poll left to wait for."""
        self.page.context.close()

    def say(self, text: str) -> None:
        self.page.get_by_label("Message").fill(text)
        self.page.get_by_role("button", name="Send").click()

    def client(self, expression: str) -> Any:
        """Evaluate a JS expression about the page's courant.js client (window.chat)."""
        return self.page.evaluate(f"() => {expression}")

    def wait_live(self, transport: str) -> None:
        expect(self.status).to_have_text(f"live · {transport}")
        assert self.client("window.chat.client.transport") == transport
        # Subscribed too: what others say from now on reaches this page.
        self.page.wait_for_function("() => window.chat.room.subscribed")


@pytest.fixture
def open_page(chromium: Browser) -> Iterator[Callable[[Server, str, str], ChatPage]]:
    """Open ``path`` on ``server`` logged in as ``username``, in a browser context of its
    own (its own cookies and sessionStorage, like another browser)."""
    contexts = []
    pages: list[ChatPage] = []

    def open_as(server: Server, username: str, path: str) -> ChatPage:
        context = chromium.new_context(base_url=server.http)
        context.set_default_timeout(WAIT)
        contexts.append(context)
        page = context.new_page()
        chat = ChatPage(page)
        page.on("pageerror", lambda error: chat.errors.append(str(error)))
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("courant-demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server.http}/")  # logged in: the home page
        page.goto(path)
        pages.append(chat)
        return chat

    yield open_as
    for context in contexts:
        context.close()
    # An exception in a page's script is a failure even when the test saw what it wanted.
    assert [error for chat in pages for error in chat.errors] == []


@pytest.fixture
def page(chromium: Browser, server: Server) -> Iterator[Page]:
    """A page of the module's ``server``, not logged in: where tests of courant.js's own
    logic import the module. A script error on it fails the test."""
    context = chromium.new_context(base_url=server.http)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/login/")  # any page of the site: the module is imported from there
    yield page
    context.close()
    assert errors == []

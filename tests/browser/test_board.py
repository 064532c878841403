"""The example's shared-documents board (example/board) in headless Chromium: two users in
two browser contexts of their own, on a real uvicorn server. The dashboard shows at once
who reads and who edits each document, saves reach the other readers as browser
notifications and as new text, authors hear who opened their documents, a lock is
enforced by the server, and the site's user counter follows pages as they open and close.

Each context is granted the notification permission, and an init script records every
``new Notification(title, options)`` the page makes while still calling the real
constructor, so the tests see what the user would see. Screenshots go to
``.artifacts/screenshots/``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..live import Server
from ..redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix
from .conftest import ChatPage, expect, start_server
from .conftest import screenshot as take_screenshot

# The colors of board.css, as computed styles report them.
GREEN = "rgb(31, 157, 85)"
YELLOW = "rgb(245, 197, 24)"
RED = "rgb(214, 69, 69)"

# Records each notification the page shows, and still shows it with the real API.
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.notifications = [];
  if (!Real) return;
  window.Notification = class extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.notifications.push({ title, body: options.body ?? "", tag: options.tag ?? "" });
    }
  };
})();
"""


def screenshot(page: Any, name: str) -> None:
    """conftest's screenshot, from the top: a page scrolled down (by a click on Save) would
    show the sticky top bar over its middle in a full-page picture."""
    page.evaluate("() => window.scrollTo(0, 0)")
    take_screenshot(page, name)


@pytest.fixture(scope="module")
def server(live_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(live_db, tmp_path_factory.mktemp("board")) as running:
        yield running


@dataclass
class User:
    """One user's browser (a context of its own), on one page at a time."""

    chat: ChatPage

    @property
    def page(self) -> Any:
        return self.chat.page

    def open(self, path: str) -> User:
        self.page.goto(path)
        if path.startswith("/board/") and path != "/board/":
            # The page is tracked on the document and has told its author: what a user
            # does next happens after the opening.
            self.page.wait_for_function("() => window.board?.subscription.subscribed")
            self.page.evaluate("() => window.board.opened")
        return self

    def new_document(self, title: str) -> int:
        """Start a document from the dashboard; returns its id (the page edits it)."""
        self.open("/board/")
        self.page.get_by_label("New document title").fill(title)
        self.page.get_by_role("button", name="New document").click()
        self.page.wait_for_url("**/board/*/?mode=edit")
        return int(self.page.url.split("/board/")[1].split("/")[0])

    def card(self, document: int) -> Any:
        return self.page.locator(f"[data-doc='{document}']")

    def notified(self, title: str) -> dict[str, str]:
        """Wait for the page to show a notification titled ``title``; return it."""
        self.page.wait_for_function(
            "(title) => window.notifications.some((shown) => shown.title === title)", arg=title
        )
        found: dict[str, str] = self.page.evaluate(
            "(title) => window.notifications.find((shown) => shown.title === title)", title
        )
        return found

    def notifications(self) -> list[str]:
        titles: list[str] = self.page.evaluate(
            "() => window.notifications.map((shown) => shown.title)"
        )
        return titles


@pytest.fixture
def login(open_page: Any, server: Server) -> Callable[..., User]:
    """Log ``username`` in (on the module's server, or ``on``), in a browser context of
    its own that may show notifications and records them."""

    def login_as(username: str, on: Server | None = None) -> User:
        chat = open_page(on or server, username, "/")
        chat.page.context.grant_permissions(["notifications"])
        chat.page.context.add_init_script(RECORD_NOTIFICATIONS)
        return User(chat)

    return login_as


def new_title(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:6]}"


def test_the_dashboard_turns_red_yellow_green_as_someone_edits_reads_and_leaves(login):
    alice = login("alice")
    doc = alice.new_document(new_title("Roadmap"))
    alice.open("/board/")
    card = alice.card(doc)
    badge = card.locator("[data-state-label]")
    expect(card).to_have_attribute("data-state", "free")
    expect(badge).to_have_css("background-color", GREEN)
    expect(badge).to_have_text("✓ Free")

    bob = login("bob").open(f"/board/{doc}/?mode=edit")
    expect(bob.page.get_by_label("Text")).to_be_visible()
    expect(bob.page.locator("[data-read]")).to_be_hidden()
    expect(card).to_have_attribute("data-state", "editing")
    expect(badge).to_have_css("background-color", RED)
    expect(badge).to_have_text("✎ Editing")  # a word and a symbol, not the color alone
    expect(card.locator("[data-who]")).to_have_text("Editing: Bob")
    screenshot(alice.page, "board-dashboard-editing")
    screenshot(bob.page, "board-document-editing")

    bob.page.get_by_role("button", name="Read").click()
    expect(card).to_have_attribute("data-state", "reading")
    expect(badge).to_have_css("background-color", YELLOW)
    expect(card.locator("[data-who]")).to_have_text("Reading: Bob")
    expect(bob.page.get_by_label("Text")).to_be_hidden()
    assert "mode=edit" not in bob.page.url  # the address says the mode too

    # Editing wins over reading: alice reads it in another tab, bob edits again.
    tab = alice.page.context.new_page()
    tab.goto(f"/board/{doc}/")
    bob.page.get_by_role("button", name="Edit").click()
    expect(card).to_have_attribute("data-state", "editing")
    expect(card.locator("[data-who]")).to_have_text("Editing: Bob · Reading: Alice")
    tab.close()

    bob.open("/board/")  # bob leaves the document
    expect(card).to_have_attribute("data-state", "free")
    expect(badge).to_have_css("background-color", GREEN)
    expect(card.locator("[data-who]")).to_have_text("Nobody has it open")


def test_documents_appear_change_and_go_live_on_every_dashboard(login):
    bob = login("bob").open("/board/")
    alice = login("alice")
    title = new_title("Agenda")
    doc = alice.new_document(title)  # and her page edits it
    card = bob.card(doc)
    expect(card.locator("[data-title]")).to_have_text(title)
    expect(card).to_have_attribute("data-state", "editing")  # a new card follows it too
    expect(card.locator("[data-who]")).to_have_text("Editing: Alice")

    alice.page.get_by_label("Title").fill(f"{title} (final)")
    alice.page.get_by_role("button", name="Save").click()
    expect(card.locator("[data-title]")).to_have_text(f"{title} (final)")
    expect(card.locator("[data-meta]")).to_contain_text("by Alice")
    alice.page.get_by_label("Locked: only I can save it").check()
    expect(card.locator("[data-lock]")).to_be_visible()

    alice.page.goto(f"/admin/board/document/{doc}/delete/")  # alice is an admin
    alice.page.get_by_role("button", name="Yes, I\u2019m sure").click()
    expect(card).to_have_count(0)
    # Its card stopped following the document's topic with it.
    assert bob.page.evaluate(f"() => window.board.cards.has({doc})") is False


def test_the_dashboard_pages_its_documents(login):
    alice = login("alice").open("/board/")
    pages = alice.page.evaluate(
        """async () => {
          const { pageOf } = await import("/static/board/state.js");
          const rows = Array.from({ length: 120 }, (_, index) => index);
          const summary = (found) => [found.shown[0], found.shown.length, found.page, found.pages];
          return [1, 3, 9, 0, NaN].map((page) => summary(pageOf(rows, page, 50)))
            .concat([summary(pageOf([], 1, 50))]);
        }"""
    )
    # Page 9 is past the last: the last. Nothing to show is one empty page.
    assert pages == [[0, 50, 1, 3], [100, 20, 3, 3], [100, 20, 3, 3], [0, 50, 1, 3],
                     [0, 50, 1, 3], [None, 0, 1, 1]]  # fmt: skip


def test_a_save_notifies_the_other_readers_and_shows_them_the_new_text(login):
    alice = login("alice")
    title = new_title("Minutes")
    doc = alice.new_document(title)
    alice.open(f"/board/{doc}/")  # reading
    bob = login("bob").open(f"/board/{doc}/?mode=edit")
    expect(alice.page.locator("[data-here]")).to_have_text("Editing: Bob · Reading: Alice")

    bob.page.get_by_label("Text").fill("Decided: ship on Friday.")
    bob.page.get_by_role("button", name="Save").click()
    expect(bob.page.locator("[data-save-status]")).to_have_text("Saved (revision 2)")

    shown = alice.notified(f"Bob saved {title}")
    assert shown["body"] == "Decided: ship on Friday."
    expect(alice.page.locator("[data-read] [data-body]")).to_have_text("Decided: ship on Friday.")
    expect(alice.page.locator("[data-edit]")).to_be_hidden()  # reading: no form
    screenshot(alice.page, "board-document-saved-by-another")
    assert bob.notifications() == []  # nobody is told of their own save
    # A reload shows what was saved: it is in the database, not only on the pages.
    alice.open(f"/board/{doc}/")
    expect(alice.page.locator("[data-read] [data-body]")).to_have_text("Decided: ship on Friday.")


def test_the_user_counter_follows_pages_opening_and_closing(login):
    alice = login("alice").open("/board/")
    count = alice.page.locator("[data-online-count]")
    expect(count).to_have_text("1")
    expect(alice.page.locator("[data-online-label]")).to_have_text("user on the site")
    bob = login("bob")
    bob.open("/board/")
    expect(count).to_have_text("2")
    expect(alice.page.locator("[data-online-names] .chip")).to_have_text(["Alice", "Bob"])
    screenshot(alice.page, "board-dashboard-two-online")
    bob.chat.close()
    expect(count).to_have_text("1")
    expect(alice.page.locator("[data-online-names] .chip")).to_have_text(["Alice"])


def test_the_author_hears_who_opened_their_document_once_per_opening(login):
    alice = login("alice")
    title = new_title("Budget")
    doc = alice.new_document(title)
    alice.open("/board/")
    bob = login("bob").open(f"/board/{doc}/")
    shown = alice.notified(f"Bob opened {title}")
    assert shown["body"] == "Bob opened your document to read it."
    expect(alice.page.locator("[data-toast]")).to_contain_text(f"Bob opened {title}")
    screenshot(alice.page, "board-dashboard-author-notified")

    # A second tab of bob's on the same document is not a new opening...
    tab = bob.page.context.new_page()
    tab.goto(f"/board/{doc}/?mode=edit")
    assert tab.evaluate("() => window.board.opened") == {"notified": False}
    # ...but carol's is. Notifications reach alice in order: bob's second tab would have
    # come before carol's, had it made one.
    login("carol").open(f"/board/{doc}/?mode=edit")
    alice.notified(f"Carol opened {title}")
    assert alice.notifications() == [f"Bob opened {title}", f"Carol opened {title}"]


def test_the_server_refuses_a_save_once_the_author_locked_the_document(login):
    alice = login("alice")
    title = new_title("Contract")
    doc = alice.new_document(title)
    alice.open(f"/board/{doc}/")
    bob = login("bob").open(f"/board/{doc}/?mode=edit")
    bob.page.get_by_label("Text").fill("Bob's changes")

    # Alice locks it while bob is editing: bob's page is told, and keeps his draft.
    alice.page.get_by_label("Locked: only I can save it").check()
    notice = bob.page.locator("[data-notice]")
    expect(notice).to_have_text("Alice locked this document: only Alice can save it now.")
    expect(bob.page.locator("[data-lock-badge]")).to_be_visible()

    bob.page.get_by_role("button", name="Save").click()
    refusal = bob.page.locator("[data-error]")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_text("Not saved: Alice locked this document: only they can save it")
    expect(refusal).to_have_attribute("data-code", "forbidden")
    expect(bob.page.get_by_label("Text")).to_have_value("Bob's changes")
    screenshot(bob.page, "board-document-save-refused")
    expect(alice.page.locator("[data-read] [data-body]")).to_have_text("")  # unchanged

    # Opened again, the locked document is for reading only, even asked for editing.
    bob.open(f"/board/{doc}/?mode=edit")
    expect(bob.page.locator("[data-document-page]")).to_have_attribute("data-mode", "reading")
    expect(bob.page.get_by_role("button", name="Edit")).to_be_disabled()
    expect(bob.page.get_by_text("Alice locked this document: you can read it")).to_be_visible()
    # And alice, its author, still saves it.
    alice.page.get_by_role("button", name="Edit").click()
    alice.page.get_by_label("Text").fill("Final wording.")
    alice.page.get_by_role("button", name="Save").click()
    expect(alice.page.locator("[data-save-status]")).to_have_text("Saved (revision 2)")
    expect(bob.page.locator("[data-read] [data-body]")).to_have_text("Final wording.")
    bob.notified(f"Alice saved {title}")


def test_the_board_runs_unchanged_on_two_processes_linked_by_redis(login, live_db, tmp_path):
    """COURANT_ENGINE=redis://...: alice's pages are served by one process, bob's and
    carol's by another; presence, the counter, saves and author notices cross over."""
    require_redis()
    prefix = new_prefix()
    engine = {"ENGINE": with_prefix(REDIS_URL, prefix)}
    try:
        with (
            start_server(live_db, tmp_path / "a", engine) as server_a,
            start_server(live_db, tmp_path / "b", engine) as server_b,
        ):
            alice = login("alice", server_a)
            title = new_title("Shared")
            doc = alice.new_document(title)
            alice.open("/board/")
            count = alice.page.locator("[data-online-count]")
            expect(count).to_have_text("1")
            bob = login("bob", server_b).open(f"/board/{doc}/?mode=edit")
            card = alice.card(doc)
            expect(card).to_have_attribute("data-state", "editing")
            expect(card.locator("[data-who]")).to_have_text("Editing: Bob")
            expect(count).to_have_text("2")
            alice.notified(f"Bob opened {title}")

            carol = login("carol", server_b).open(f"/board/{doc}/")
            alice.open(f"/board/{doc}/")
            expect(alice.page.locator("[data-here]")).to_have_text(
                "Editing: Bob · Reading: Alice, Carol"
            )
            bob.page.get_by_label("Text").fill("Written on process B.")
            bob.page.get_by_role("button", name="Save").click()
            alice.notified(f"Bob saved {title}")
            carol.notified(f"Bob saved {title}")
            expect(alice.page.locator("[data-body]")).to_have_text("Written on process B.")
            screenshot(alice.page, "board-document-two-processes")
    finally:
        delete_keys(REDIS_URL, prefix)

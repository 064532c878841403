"""Presence with courant.js, in headless Chromium against real uvicorn servers: logged-in
users on a board (``board:<id>``, tests/topics.py) see each other come, change their state
and go, on every transport and across a server restart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..live import Server, free_port
from ..redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix
from .conftest import ChatPage, expect, start_server


@pytest.fixture(scope="module")
def server(live_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A long-poll connection whose tab closed ends after LONGPOLL_EXPIRY without a poll
    # (30 s by default): shorter here, so that its user's leave comes within a test's wait.
    settings = {"LONGPOLL_EXPIRY": 3.0}
    with start_server(live_db, tmp_path_factory.mktemp("presence"), settings) as running:
        yield running


def new_board() -> str:
    return f"board:{uuid.uuid4().hex[:8]}"


# A small board page: it shows who is on the board ("name · state", one state per tab),
# as an app would render subscription.presence, and keeps what it was told, in order.
JOIN_BOARD = """
async ([topic, meta, transport]) => {
  const courant = await import("/static/courant/courant.js");
  const client = courant.connect("/courant/", {
    transports: [transport],
    backoff: { min: 100, max: 1000 },  // a restarted server is found again quickly
  });
  const list = document.body.appendChild(document.createElement("ul"));
  list.dataset.board = "";
  const name = (metas) => metas[0].name;
  const told = [];
  const board = client.subscribe(topic, {
    presence: meta,
    onJoin: (key, metas) => told.push(`join ${name(metas)}`),
    onLeave: (key, metas) => told.push(`leave ${name(metas)}`),
    onUpdate: (key, metas) => told.push(`update ${name(metas)}`),
    onPresence(members) {
      const rows = Object.values(members).map(
        (metas) => `${name(metas)} · ${metas.map((m) => m.state).sort().join(", ")}`);
      list.replaceChildren(...rows.sort().map((row) => {
        const item = document.createElement("li");
        item.textContent = row;
        return item;
      }));
    },
  });
  window.board = { client, board, told };
}
"""


class BoardPage:
    """A logged-in user's tab on a board."""

    def __init__(self, chat: ChatPage, topic: str, state: str | None, transport: str) -> None:
        self.chat = chat
        self.page = chat.page
        meta = None if state is None else {"state": state}
        self.page.evaluate(JOIN_BOARD, [topic, meta, transport])

    @property
    def members(self) -> Any:
        """What the page shows: one row per member, ``name · state[, state]``."""
        return self.page.locator("[data-board] li")

    def told(self, *events: str) -> None:
        """Wait until the page was told ``events``, in this order, as its latest events."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(
                """(events) => {
                  const told = window.board.told;
                  return JSON.stringify(told.slice(-events.length)) === JSON.stringify(events);
                }""",
                arg=list(events),
            )
        except PlaywrightTimeout:
            told = self.page.evaluate("() => window.board.told")
            raise AssertionError(f"the page was told {told}, not ending with {events}") from None

    def set_state(self, state: str | None) -> Any:
        meta = None if state is None else {"state": state}
        return self.page.evaluate("(meta) => window.board.board.setPresence(meta)", meta)

    def keys(self) -> list[str]:
        return sorted(self.page.evaluate("() => Object.keys(window.board.board.presence)"))


def open_board(
    open_page: Any, server: Server, user: str, topic: str, state: str | None, transport: str
) -> BoardPage:
    return BoardPage(open_page(server, user, "/"), topic, state, transport)


@pytest.mark.parametrize("transport", ["websocket", "sse", "longpoll"])
def test_users_on_a_board_see_each_other_come_change_and_go(open_page, server, transport):
    topic = new_board()
    alice = open_board(open_page, server, "alice", topic, "reading", transport)
    expect(alice.members).to_have_text(["alice · reading"])
    bob = open_board(open_page, server, "bob", topic, "reading", transport)
    for page in (alice, bob):
        expect(page.members).to_have_text(["alice · reading", "bob · reading"])
    alice.told("join alice", "join bob")
    bob.told("join alice", "join bob")  # both were there in the first presence it got
    assert len(alice.keys()) == 2  # a member's key is its user's id
    assert alice.keys() == bob.keys()

    assert bob.set_state("editing") is None
    expect(alice.members).to_have_text(["alice · reading", "bob · editing"])
    alice.told("update bob")

    # A second tab of bob's (same browser, same session): bob is still one member.
    tab = bob.page.context.new_page()
    tab.goto("/")
    BoardPage(ChatPage(tab), topic, "reading", transport)
    expect(alice.members).to_have_text(["alice · reading", "bob · editing, reading"])
    assert len(alice.keys()) == 2

    bob.chat.close()  # both of bob's tabs go
    expect(alice.members).to_have_text(["alice · reading"])
    alice.told("leave bob")

    # Watching without being counted.
    assert alice.set_state(None) is None
    expect(alice.members).to_have_count(0)
    alice.told("leave alice")


def test_a_page_that_reconnects_shows_who_left_and_came_meanwhile(open_page, live_db, tmp_path):
    """Alice's server process stops (a deploy) while bob and carol, on another process
    linked by Redis, stay; carol leaves and bob starts editing while alice is cut off. When
    a new process comes up on the same address, alice's page resubscribes by itself with
    the state she last set, and its presence is right again: no ghost of carol."""
    require_redis()
    prefix = new_prefix()
    engine = {"ENGINE": with_prefix(REDIS_URL, prefix)}
    port = free_port()
    topic = new_board()
    try:
        with start_server(live_db, tmp_path / "b", engine) as server_b:
            bob = open_board(open_page, server_b, "bob", topic, "reading", "websocket")
            carol = open_board(open_page, server_b, "carol", topic, "reading", "websocket")
            with start_server(live_db, tmp_path / "a", engine, port=port) as server_a:
                alice = open_board(open_page, server_a, "alice", topic, "reading", "websocket")
                everyone = ["alice · reading", "bob · reading", "carol · reading"]
                expect(alice.members).to_have_text(everyone)
                assert alice.set_state("editing") is None
                expect(bob.members).to_have_text(
                    ["alice · editing", "bob · reading", "carol · reading"]
                )
            # A clean shutdown removes the process's entries at once.
            expect(bob.members).to_have_text(["bob · reading", "carol · reading"])
            bob.told("leave alice")
            carol.chat.close()
            assert bob.set_state("editing") is None
            expect(bob.members).to_have_text(["bob · editing"])
            # Cut off, alice's page still shows what it last knew.
            expect(alice.members).to_have_text(
                ["alice · editing", "bob · reading", "carol · reading"]
            )
            assert alice.page.evaluate("() => window.board.client.state") == "reconnecting"
            with start_server(live_db, tmp_path / "a2", engine, port=port):
                expect(alice.members).to_have_text(["alice · editing", "bob · editing"])
                alice.told("leave carol", "update bob")
                expect(bob.members).to_have_text(["alice · editing", "bob · editing"])
                bob.told("join alice")
    finally:
        delete_keys(REDIS_URL, prefix)

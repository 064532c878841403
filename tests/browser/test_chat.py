"""The chat page on courant.js, in headless Chromium, against a real uvicorn server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..live import Server, free_port
from ..redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix
from .conftest import expect, new_room, start_server


@pytest.fixture(scope="module")
def server(live_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The test project with every transport on, shared by the tests that need no other."""
    with start_server(live_db, tmp_path_factory.mktemp("browser")) as running:
        yield running


def room_path(room: str) -> str:
    return f"/chat/{room}/"


def chat_between_two_pages(open_page, server: Server, room: str, transport: str) -> None:
    alice = open_page(server, "alice", room_path(room))
    bob = open_page(server, "bob", room_path(room))
    alice.wait_live(transport)
    bob.wait_live(transport)
    alice.say("hello bob")
    expect(bob.texts).to_have_text(["hello bob"])
    bob.say("hi alice")
    expect(alice.texts).to_have_text(["hello bob", "hi alice"])
    expect(bob.texts).to_have_text(["hello bob", "hi alice"])
    expect(alice.page.locator("[data-messages] li b")).to_have_text(["alice", "bob"])
    alice.close()
    bob.close()


def test_two_pages_chat_over_websocket(open_page, server):
    chat_between_two_pages(open_page, server, new_room(), "websocket")


@pytest.mark.parametrize(
    ("transports", "expected"),
    [(["sse", "longpoll"], "sse"), (["longpoll"], "longpoll")],
    ids=["sse-when-websocket-is-off", "longpoll-when-websocket-and-sse-are-off"],
)
def test_two_pages_chat_over_the_fallback_transports(
    open_page, live_db, tmp_path, transports, expected
):
    """The server refuses the transports it does not serve, as a proxy that breaks them
    would; the pages fall back by themselves."""
    with start_server(live_db, tmp_path, {"TRANSPORTS": transports}) as server:
        chat_between_two_pages(open_page, server, new_room(), expected)


def test_the_room_shows_who_is_in_it(open_page, server):
    room = new_room()
    alice = open_page(server, "alice", room_path(room))
    expect(alice.page.locator("[data-here]")).to_have_text("alice")
    bob = open_page(server, "bob", room_path(room))
    for page in (alice, bob):
        expect(page.page.locator("[data-here]")).to_have_text("alice, bob")
    bob.close()
    expect(alice.page.locator("[data-here]")).to_have_text("alice")


def test_the_consumer_page_and_the_courant_js_page_share_a_room(open_page, server):
    """The low-level page (a hand-written WebSocket client of ChatConsumer) and the page on
    courant.js publish the same events to the same topic."""
    room = new_room()
    alice = open_page(server, "alice", f"/chat/{room}/socket/")
    bob = open_page(server, "bob", room_path(room))
    expect(alice.status).to_have_text("live")
    bob.wait_live("websocket")
    alice.say("from the consumer page")
    expect(bob.texts).to_have_text(["from the consumer page"])
    bob.say("from courant.js")
    expect(alice.texts).to_have_text(["from the consumer page", "from courant.js"])


def test_the_messages_are_stored_and_rpc_calls_answer(open_page, server):
    room = new_room()
    alice = open_page(server, "alice", room_path(room))
    alice.wait_live("websocket")
    alice.say("kept")
    expect(alice.texts).to_have_text(["kept"])
    # ChatRoom.clean() stored it: a page opened later shows it from the database.
    later = open_page(server, "bob", room_path(room))
    expect(later.texts).to_have_text(["kept"])
    rooms = later.client('window.chat.client.call("chat.rooms")')
    assert {"room": room, "messages": 1} in rooms
    failed = later.client(
        'window.chat.client.call("no.such.method").catch((error) => [error.code, error.message])'
    )
    assert failed == ["unknown_method", "no method 'no.such.method'"]


def test_a_refused_subscription_shows_in_the_page(open_page, server):
    room = new_room()
    bob = open_page(server, "bob", room_path(room))
    alice = open_page(server, "alice", room_path(room))  # alice is staff
    refused = bob.page.locator("[data-staff]")
    expect(refused).to_have_text(re.compile(r"^refused \(forbidden\): not allowed"))
    expect(refused).to_have_class(re.compile(r"\berror\b"))
    expect(alice.page.locator("[data-staff]")).to_have_text("following")
    # The refusal ended that subscription only: the room works.
    bob.wait_live("websocket")
    bob.say("still here")
    expect(alice.texts).to_have_text(["still here"])


@pytest.mark.parametrize("transport", ["websocket", "sse", "longpoll"])
def test_a_page_cut_off_gets_every_missed_message_once_and_in_order(
    open_page, live_db, tmp_path, transport
):
    """Alice's server process stops for real (as in a deploy: its connections end) while
    bob, on another process linked by Redis, keeps talking. A new process comes up on the
    same address; alice's page reconnects by itself, resubscribes from the last message it
    saw, and shows what it missed once, in order, then what follows. Alice's servers serve
    only ``transport``; bob's serve them all."""
    require_redis()
    prefix = new_prefix()
    engine = {"ENGINE": with_prefix(REDIS_URL, prefix)}
    alices = {**engine, "TRANSPORTS": [transport]}
    port = free_port()
    room = new_room()
    missed = [f"missed {n}" for n in range(1, 5)]
    try:
        with start_server(live_db, tmp_path / "b", engine) as server_b:
            bob = open_page(server_b, "bob", room_path(room))
            bob.wait_live("websocket")
            with start_server(live_db, tmp_path / "a", alices, port=port) as server_a:
                alice = open_page(server_a, "alice", room_path(room))
                alice.wait_live(transport)
                bob.say("before the cut")
                expect(alice.texts).to_have_text(["before the cut"])
            expect(alice.status).to_have_text("reconnecting…")
            for text in missed:
                bob.say(text)
            expect(bob.texts).to_have_text(["before the cut", *missed])
            with start_server(live_db, tmp_path / "a2", alices, port=port):
                # The backoff grew while the server was down: allow for its longest delay.
                expect(alice.texts).to_have_text(["before the cut", *missed], timeout=45_000)
                alice.wait_live(transport)
                bob.say("after the cut")
                expect(alice.texts).to_have_text(["before the cut", *missed, "after the cut"])
                expect(alice.page.locator("[data-notice]")).to_be_hidden()
                alice.close()
                bob.close()
    finally:
        delete_keys(REDIS_URL, prefix)

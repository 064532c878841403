"""The demo site in headless Chromium against real uvicorn servers, with two users in two
browser contexts of their own: the live blog, the chat (presence, typing, mentions), the
online counter and the status page, on one process and on two linked by Redis. The pages
they look at are saved as screenshots (.artifacts/screenshots/)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..live import Server
from ..redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix
from .conftest import ChatPage, expect, new_room, screenshot, start_server


@pytest.fixture(scope="module")
def server(live_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(live_db, tmp_path_factory.mktemp("demo")) as running:
        yield running


def online(chat: ChatPage) -> Any:
    """The nav's "N online" counter."""
    return chat.page.locator("[data-online]")


# -- the live blog ---------------------------------------------------------------------------


class Editor:
    """Alice, staff, writing on the editor page (plain forms) and in the Django admin."""

    def __init__(self, chat: ChatPage) -> None:
        self.page = chat.page

    def row(self, title: str) -> Any:
        """The editor's table row of the post titled ``title``."""
        return self.page.locator("tr", has=self.page.get_by_role("link", name=title, exact=True))

    def write(self, title: str, body: str, *, published: bool = True) -> None:
        self.page.goto("/blog/editor/new/")
        self.page.get_by_label("Title").fill(title)
        self.page.get_by_label("Body").fill(body)
        self.page.get_by_label("Published").set_checked(published)
        self.page.get_by_role("button", name="Publish").click()
        self.page.wait_for_url("**/blog/editor/")

    def edit(self, post: str, *, title: str | None = None, published: bool | None = None) -> None:
        self.page.goto("/blog/editor/")
        self.row(post).get_by_role("link", name="Edit", exact=True).click()
        if title is not None:
            self.page.get_by_label("Title").fill(title)
        if published is not None:
            self.page.get_by_label("Published").set_checked(published)
        self.page.get_by_role("button", name="Save").click()
        self.page.wait_for_url("**/blog/editor/")

    def retitle_in_admin(self, title: str, new_title: str) -> None:
        self.page.goto("/admin/blog/post/")
        self.page.get_by_role("link", name=title, exact=True).click()
        self.page.locator("#id_title").fill(new_title)
        self.page.get_by_role("button", name="Save", exact=True).click()
        self.page.wait_for_url("**/admin/blog/post/")

    def delete(self, title: str) -> None:
        self.page.goto("/blog/editor/")
        self.row(title).get_by_role("link", name="Delete", exact=True).click()
        self.page.get_by_role("button", name="Delete").click()
        self.page.wait_for_url("**/blog/editor/")


class Reader:
    """A tab on the blog's reader page."""

    def __init__(self, page: Any) -> None:
        self.page = page
        page.wait_for_function("() => window.blog && window.blog.posts.subscription.subscribed")
        page.evaluate("() => window.blog.posts.ready")

    @property
    def titles(self) -> Any:
        return self.page.locator("[data-posts] [data-post]:not(.leaving) [data-title]")

    def post(self, title: str) -> Any:
        return self.page.locator("[data-posts] [data-post]:not(.leaving)").filter(
            has=self.page.locator("[data-title]", has_text=re.compile(f"^{re.escape(title)}$"))
        )

    def held(self) -> str:
        """Everything the page's synced list holds, as JSON."""
        return str(self.page.evaluate("() => JSON.stringify([...window.blog.posts.items])"))


def test_readers_see_posts_appear_change_and_vanish_as_the_editor_saves(
    open_page, server, chromium
):
    tag = uuid.uuid4().hex[:6]
    bob = Reader(open_page(server, "bob", "/blog/").page)
    expect(bob.titles).to_contain_text(["Welcome to the live blog"])
    # Anyone may read, logged in or not.
    anonymous_context = chromium.new_context(base_url=server.http)
    anonymous_page = anonymous_context.new_page()
    anonymous_page.goto("/blog/")
    anonymous = Reader(anonymous_page)
    alice = Editor(open_page(server, "alice", "/blog/editor/"))

    title = f"Fresh news {tag}"
    alice.write(title, "Written on the editor page.")
    for reader in (bob, anonymous):
        expect(reader.titles.first).to_have_text(title)  # the newest first
        expect(reader.post(title).locator("[data-body]")).to_have_text(
            "Written on the editor page."
        )
    toast = bob.page.locator("[data-toast] .toast")
    expect(toast.locator(".toast-title")).to_have_text("New post")
    expect(toast.locator("p")).to_have_text(title)
    screenshot(bob.page, "blog")

    edited = f"Fresh news {tag}, edited in the admin"
    alice.retitle_in_admin(title, edited)
    for reader in (bob, anonymous):
        expect(reader.post(edited)).to_have_count(1)
        expect(reader.post(edited).locator("[data-edited]")).to_be_visible()
        expect(reader.post(title)).to_have_count(0)

    alice.edit(edited, published=False)  # back to a draft: gone from readers' pages
    for reader in (bob, anonymous):
        expect(reader.post(edited)).to_have_count(0)
    alice.edit(edited, published=True)
    expect(bob.post(edited)).to_have_count(1)

    alice.delete(edited)
    for reader in (bob, anonymous):
        expect(reader.post(edited)).to_have_count(0)
    expect(bob.titles).to_contain_text(["Welcome to the live blog"])  # the rest stays
    assert edited not in bob.held()
    anonymous_context.close()


def test_a_draft_never_reaches_readers(open_page, server):
    tag = uuid.uuid4().hex[:6]
    bob = Reader(open_page(server, "bob", "/blog/").page)
    alice = Editor(open_page(server, "alice", "/blog/editor/"))
    alice.write(f"Secret plan {tag}", "Not for readers yet.", published=False)
    alice.edit(f"Secret plan {tag}", title=f"Secret plan {tag}, revised")
    alice.write(f"Public note {tag}", "For everyone.")
    # Messages of a topic arrive in order: once the public note is shown, whatever the
    # draft's saves sent has arrived too, and none of it says what the draft is.
    expect(bob.titles.first).to_have_text(f"Public note {tag}")
    assert "Secret plan" not in bob.held()
    assert "Not for readers" not in bob.held()
    expect(bob.post(f"Secret plan {tag}, revised")).to_have_count(0)
    alice.delete(f"Public note {tag}")
    alice.delete(f"Secret plan {tag}, revised")
    expect(bob.post(f"Public note {tag}")).to_have_count(0)


# -- the chat -------------------------------------------------------------------------------


def test_two_users_in_a_room_see_each_other_talk_and_type(open_page, server):
    room = new_room()
    alice = open_page(server, "alice", f"/chat/{room}/")
    bob = open_page(server, "bob", f"/chat/{room}/")
    for user in (alice, bob):
        user.wait_live("websocket")
        expect(user.page.locator("[data-here]")).to_have_text("alice, bob")

    alice.say("hello bob")
    expect(bob.texts).to_have_text(["hello bob"])
    bob.say("hi alice")
    for user in (alice, bob):
        expect(user.texts).to_have_text(["hello bob", "hi alice"])
        expect(user.page.locator("[data-messages] li b")).to_have_text(["alice", "bob"])

    # Bob types: alice sees it, and sees it stop ~3 s after his last key.
    typing = alice.page.locator("[data-typing]")
    bob.page.get_by_label("Message").fill("let me th")
    expect(typing).to_have_text("bob is typing…")
    expect(bob.page.locator("[data-typing]")).to_have_text("")  # not shown to himself
    expect(typing).to_have_text("", timeout=8_000)
    # He types again and sends: the indicator goes as the message comes.
    bob.page.get_by_label("Message").fill("on my way")
    expect(typing).to_have_text("bob is typing…")
    screenshot(alice.page, "chat")
    bob.page.get_by_role("button", name="Send").click()
    expect(alice.texts).to_have_text(["hello bob", "hi alice", "on my way"])
    expect(typing).to_have_text("", timeout=2_000)  # at once, not after 3 s


def test_a_mention_notifies_the_user_on_whatever_page_they_are(open_page, server):
    """``@bob`` in a message reaches bob's own topic (user:<id>), which site.js follows on
    every page: bob, reading the blog, gets a toast linking to the room."""
    room = new_room()
    bob = open_page(server, "bob", "/blog/")
    alice = open_page(server, "alice", f"/chat/{room}/")
    alice.wait_live("websocket")
    bob.page.wait_for_function("() => window.site.personal.subscribed")
    alice.say("@bob have a look")
    toast = bob.page.locator("[data-toast] .toast")
    expect(toast).to_have_count(1)
    expect(toast.locator(".toast-title")).to_have_text(f"Alice mentioned you in #{room}")
    expect(toast.locator(".toast-title")).to_have_attribute("href", f"/chat/{room}/")
    expect(toast.locator("p")).to_have_text("@bob have a look")
    # Alice, who did not mention herself, gets nothing.
    expect(alice.page.locator("[data-toast] .toast")).to_have_count(0)


def test_the_chat_index_counts_who_is_in_each_room_live(open_page, server):
    room = new_room()
    alice = open_page(server, "alice", f"/chat/{room}/")
    alice.wait_live("websocket")
    alice.say("anyone here?")
    expect(alice.texts).to_have_text(["anyone here?"])
    bob = open_page(server, "bob", "/chat/")
    row = bob.page.locator(f'[data-room="{room}"]')
    expect(row.locator("[data-members]")).to_have_text("1 here")
    expect(row.locator("[data-count]")).to_have_text("1 message")
    alice.say("still me")
    expect(row.locator("[data-count]")).to_have_text("2 messages")
    alice.close()
    expect(row.locator("[data-members]")).to_be_hidden()
    # The form opens any room.
    bob.page.get_by_label("Room name").fill("Tea Room")
    bob.page.get_by_role("button", name="Open room").click()
    bob.page.wait_for_url(re.compile(r"/chat/tea-room/$"))


# -- the site's shell ------------------------------------------------------------------------


def test_the_online_counter_follows_users_coming_and_going(open_page, server):
    alice = open_page(server, "alice", "/")
    expect(online(alice)).to_have_text("1 online")
    expect(alice.page.locator("[data-online-list]")).to_have_text("Alice")
    bob = open_page(server, "bob", "/blog/")
    expect(online(alice)).to_have_text("2 online")
    expect(online(bob)).to_have_text("2 online")
    expect(alice.page.locator("[data-online-list] .chip")).to_have_text(["Alice", "Bob"])
    # A second tab of bob's is still one bob.
    second = bob.page.context.new_page()
    second.goto("/chat/")
    expect(second.locator("[data-online]")).to_have_text("2 online")
    screenshot(alice.page, "home")
    bob.close()
    expect(online(alice)).to_have_text("1 online")
    expect(alice.page.locator("[data-online-list]")).to_have_text("Alice")


def test_the_home_page_and_the_nav_lead_to_every_app(open_page, server):
    alice = open_page(server, "alice", "/")
    page = alice.page
    cards = page.locator(".cards [data-app]")
    expect(cards.locator("h2")).to_have_text(["Live blog", "Chat", "Board"])
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Blog").click()
    page.wait_for_url("**/blog/")
    expect(nav.get_by_role("link", name="Blog")).to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="Chat").click()
    page.wait_for_url("**/chat/")
    nav.get_by_role("link", name="Status").click()
    page.wait_for_url("**/status/")
    expect(page.locator(".session .chip")).to_have_text("Alice")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{server.http}/")
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()
    expect(page.locator("[data-online]")).to_have_count(0)  # anonymous: not counted


def test_the_notifications_button_asks_once_then_goes(chromium, server):
    """The nav's button shows while the browser has not asked, and goes once the user
    has answered; a granted permission shows notify()'s events as system notifications
    too (and always as a toast)."""
    context = chromium.new_context(base_url=server.http)
    try:
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Password").fill("courant-demo")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server.http}/")
        button = page.locator("[data-notify-permission]")
        expect(button).to_be_visible()
        context.grant_permissions(["notifications"])
        button.click()
        expect(button).to_be_hidden()
        page.reload()
        expect(page.locator("[data-online]")).to_be_visible()
        expect(button).to_be_hidden()  # granted: nothing left to ask
        shown = page.evaluate(
            """async () => {
              // What the page asks the browser to show (headless Chromium shows nothing).
              const seen = [];
              const real = window.Notification;
              window.Notification = class {
                static get permission() { return real.permission; }
                constructor(title, options) { seen.push([title, options.body]); }
              };
              const { notify } = await import("/static/demo/site.js");
              notify("Hello", "from the test", { tag: "t" });
              return seen;
            }"""
        )
        assert shown == [["Hello", "from the test"]]
        expect(page.locator("[data-toast] .toast .toast-title")).to_have_text("Hello")
    finally:
        context.close()


# -- the status page -------------------------------------------------------------------------


def test_the_status_page_shows_the_engine_and_live_counts(open_page, live_db, tmp_path):
    # A server of its own, so that its counts are this test's connections only.
    with start_server(live_db, tmp_path) as server:
        alice = open_page(server, "alice", "/status/")
        page = alice.page
        connections = page.locator('[data-stat="connections"]')
        expect(page.locator("[data-engine]")).to_have_text("memory")
        expect(page.locator("[data-engine-class]")).to_have_text(
            "courant.engines.memory.MemoryEngine"
        )
        expect(page.locator("[data-engine-urls]")).to_have_text("memory://")
        expect(page.locator("[data-transport]")).to_have_text("websocket")
        expect(connections).to_have_text("1")
        expect(page.locator('[data-stat="online"]')).to_have_text("1")
        bob = open_page(server, "bob", "/chat/")
        expect(connections).to_have_text("2")
        expect(page.locator('[data-stat="online"]')).to_have_text("2")
        expect(page.locator("[data-online-list] .chip")).to_have_text(["Alice", "Bob"])
        topics = int(page.locator('[data-stat="topics"]').inner_text())
        assert topics >= 3  # site:online, its presence companion, each user's own topic
        screenshot(page, "status")
        bob.close()
        expect(connections).to_have_text("1")
        expect(page.locator('[data-stat="online"]')).to_have_text("1")
        alice.close()


def test_the_demo_on_two_processes_linked_by_redis(open_page, live_db, tmp_path):
    """COURANT_ENGINE=redis://...: alice's process and bob's are different, and each
    sees the other online, in the room and on the blog; the status page counts its own
    process."""
    require_redis()
    prefix = new_prefix()
    engine = {"ENGINE": with_prefix(REDIS_URL, prefix)}
    room = new_room()
    try:
        with (
            start_server(live_db, tmp_path / "a", engine) as server_a,
            start_server(live_db, tmp_path / "b", engine) as server_b,
        ):
            alice = open_page(server_a, "alice", "/status/")
            bob = open_page(server_b, "bob", f"/chat/{room}/")
            page = alice.page
            expect(page.locator("[data-engine]")).to_have_text("redis")
            expect(page.locator("[data-engine-urls]")).to_have_text(
                re.compile(r"^redis://127\.0\.0\.1:\d+/\d+")
            )
            expect(online(alice)).to_have_text("2 online")
            expect(online(bob)).to_have_text("2 online")
            expect(page.locator('[data-stat="connections"]')).to_have_text("1")  # bob is on b
            pids = {
                page.locator('[data-stat="pid"]').inner_text(),
                str(bob.client("window.site.client.call('demo.stats').then((s) => s.pid)")),
            }
            assert pids == {str(server_a.process.pid), str(server_b.process.pid)}
            page.goto(f"/chat/{room}/")
            alice.wait_live("websocket")
            bob.wait_live("websocket")
            bob.say("from process b")
            expect(alice.texts).to_have_text(["from process b"])
            expect(alice.page.locator("[data-here]")).to_have_text("alice, bob")
            # A post saved on process a reaches a reader on process b.
            bob.page.goto("/blog/")
            reader = Reader(bob.page)
            title = f"Saved on process a {uuid.uuid4().hex[:6]}"
            Editor(alice).write(title, "Read on process b.")
            expect(reader.titles.first).to_have_text(title)
            Editor(alice).delete(title)
            expect(reader.post(title)).to_have_count(0)
            alice.close()
            bob.close()
    finally:
        delete_keys(REDIS_URL, prefix)

"""client.sync() in headless Chromium: a page keeps a list of the example's tasks
(docs/binding.md) in sync while another user changes them in the Django admin, over each
transport; and the helper's bookkeeping (initial state, holes in offsets, reload after a
gap, changes that arrive while loading) against a scripted socket."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..live import Browser, Server
from .conftest import expect, screenshot, start_server
from .test_client_js import FAKE_SOCKETS, run


@pytest.fixture(scope="module")
def server(live_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_server(live_db, tmp_path_factory.mktemp("binding")) as running:
        yield running


# The page of docs/binding.md: its module (todos/static/todos/tasks.js) keeps the list.
TASK_LIST = """
const courant = await import("/static/courant/courant.js");
const { showTasks } = await import("/static/todos/tasks.js");
const list = document.createElement("ul");
list.dataset.tasks = "";
document.body.prepend(list);
const client = courant.connect("/courant/", { transports: [TRANSPORT] });
const call = client.call.bind(client);
window.loads = 0;  // how many times the whole state was loaded
client.call = (...args) => { window.loads += 1; return call(...args); };
window.tasks = showTasks(client, list);
await window.tasks.ready;
return client.transport;
"""


def user_id(changelist: str, username: str) -> str:
    found = re.search(rf'href="/admin/auth/user/(\d+)/change/">{username}</a>', changelist)
    assert found, f"{username} is not in the admin's list of users"
    return found.group(1)


def admin_save(admin: Browser, path: str, fields: dict[str, str]) -> None:
    status, _ = admin.post(path, fields)
    assert status == 200, path


@pytest.mark.parametrize("transport", ["websocket", "sse", "longpoll"])
def test_a_synced_list_follows_admin_changes_and_skips_what_it_may_not_see(
    server, open_page, transport
):
    tab = open_page(server, "bob", "/")
    page = tab.page
    assert page.evaluate(f"async () => {{ {TASK_LIST.replace('TRANSPORT', repr(transport))} }}")
    assert page.evaluate("() => window.tasks.client.transport") == transport
    alice = Browser(server).login("alice")
    users = alice.get("/admin/auth/user/")
    ids = {name: user_id(users, name) for name in ("alice", "bob", "carol")}
    tag = uuid.uuid4().hex[:6]
    secret, shared = f"carol's secret {tag}", f"shared {tag}"

    add = "/admin/todos/task/add/"
    admin_save(alice, add, {"owner": ids["carol"], "title": secret, "private": "on"})
    admin_save(alice, add, {"owner": ids["alice"], "title": shared})
    shown = page.locator("[data-tasks] li")
    expect(shown.filter(has_text=shared)).to_have_count(1)
    pk = page.evaluate(
        f"() => [...window.tasks.items.values()].find((t) => t.title === {shared!r}).pk"
    )

    change = f"/admin/todos/task/{pk}/change/"
    admin_save(alice, change, {"owner": ids["alice"], "title": f"{shared}!", "done": "on"})
    expect(shown.filter(has_text=f"{shared}! (done)")).to_have_count(1)
    screenshot(page, f"binding-sync-{transport}")
    admin_save(alice, f"/admin/todos/task/{pk}/delete/", {"post": "yes"})
    expect(shown.filter(has_text=shared)).to_have_count(0)

    # Carol's private task never reached bob's page, neither loaded nor streamed; and the
    # list moved on with every message of the topic, allowed or not, without a gap.
    assert secret not in shown.all_inner_texts()
    titles = page.evaluate("() => [...window.tasks.items.values()].map((t) => t.title)")
    assert secret not in titles
    others_private = f"(t) => t.private && String(t.owner) !== {ids['bob']!r}"
    assert page.evaluate(f"() => [...window.tasks.items.values()].filter({others_private})") == []
    assert page.evaluate("() => window.loads") == 1


def test_sync_applies_changes_keeps_order_and_reloads_after_a_gap(page):
    """Against a scripted socket: the initial rows, then changes; a hole in the offsets (a
    message this subscriber was not allowed) is no gap; a real gap reloads through `load`,
    and a change arriving while the load runs is applied on top of what it returns."""
    result = run(
        page,
        FAKE_SOCKETS
        + """
        const events = [], loads = [];
        let answer;  // resolves the load that runs
        const client = courant.connect("/courant/", { backoff: { min: 1, max: 5 } });
        const sync = client.sync("todos", {
          initial: [{ pk: 2, title: "b" }, { pk: 1, title: "a" }],
          order: (x, y) => x.title.localeCompare(y.title),
          load: () => { loads.push(loads.length); return new Promise((r) => (answer = r)); },
          onChange: (items, event) => events.push([
            event.action, event.pk ?? event.reason, [...items.values()].map((t) => t.title),
          ].join(":")),
          onGap: (info) => events.push(`gap:${info.reason}`),
        });
        const titles = () => [...sync.items.values()].map((t) => t.title).join();
        const message = (socket, offset, data) => socket.frame(
          { type: "message", topic: "todos", epoch: "e", offset, data });

        let socket = await hello(0);
        const first = await op(socket, "subscribe");
        socket.frame({ type: "subscribed", id: first.id, topic: "todos", epoch: "e",
                       offset: 4, recovered: false });
        // With `initial`, the load after subscribing catches up what changed since.
        await waitFor(() => answer);
        message(socket, 5, { action: "update", pk: 1, data: { title: "a2" } });
        answer([{ pk: 1, title: "a1" }, { pk: 2, title: "b" }, { pk: 3, title: "c" }]);
        await waitFor(() => events.length >= 2);
        answer = null;
        const afterLoad = titles();
        message(socket, 7, { action: "create", pk: 4, data: { title: "0" } });  // 6: a hole
        message(socket, 8, { action: "delete", pk: 2, data: { title: "b" } });
        message(socket, 9, { action: "delete", pk: 99, data: { title: "never had" } });
        message(socket, 10, "not a change");
        message(socket, 11, { action: "update", pk: 5, data: { title: "now visible" } });
        const beforeGap = titles();
        const gapsBefore = events.filter((e) => e.startsWith("gap")).length;

        socket.drop(1006);
        socket = await hello(1);
        const second = await op(socket, "subscribe");
        socket.frame({ type: "subscribed", id: second.id, topic: "todos", epoch: "f",
                       offset: 20, recovered: false });
        await waitFor(() => answer);
        message(socket, 21, { action: "create", pk: 6, data: { title: "during" } });
        answer([{ pk: 1, title: "fresh" }]);
        await sync.reload();
        return { events, afterLoad, beforeGap, gapsBefore, since: second.since,
                 after: titles(), loads: loads.length };
        """,
    )
    assert result["afterLoad"] == "a2,b,c"  # the load's rows, then the update on top
    assert result["beforeGap"] == "0,a2,c,now visible"
    assert result["gapsBefore"] == 0  # offset 6 never came: not a gap
    assert result["since"] == {"epoch": "e", "offset": 11}
    assert result["after"] == "during,fresh"
    assert result["loads"] == 2
    assert result["events"] == [
        "load:initial:a,b",
        "load:initial:a2,b,c",
        "create:4:0,a2,b,c",
        "delete:2:0,a2,c",
        "create:5:0,a2,c,now visible",
        "gap:unrecovered",
        "load:gap:during,fresh",
    ]

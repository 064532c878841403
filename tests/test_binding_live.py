"""Model data binding on a real server: docs/binding.md's example app (todos), changed
through the Django admin (a sync view on uvicorn), watched by real WebSocket clients
logged in as different users.

Every wait here is bounded in time.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from .live import Browser, Server


async def subscriber(server: Server, browser: Browser, topic: str) -> ClientConnection:
    """A WebSocket to /courant/ with ``browser``'s session, subscribed to ``topic``."""
    socket = await connect(
        server.ws + "/courant/",
        additional_headers={"Cookie": browser.cookie_header()},
        open_timeout=10,
    )
    assert (await next_frame(socket))["type"] == "hello"
    await socket.send(json.dumps({"op": "subscribe", "id": 1, "topic": topic}))
    assert (await next_frame(socket))["type"] == "subscribed"
    return socket


async def next_frame(socket: ClientConnection, timeout: float = 10) -> Any:
    async with asyncio.timeout(timeout):
        return json.loads(await socket.recv())


async def call(socket: ClientConnection, method: str) -> Any:
    await socket.send(json.dumps({"op": "call", "id": 9, "method": method}))
    reply = await next_frame(socket)
    assert reply["ok"], reply
    return reply["result"]


def add_task(admin: Browser, owner: str, title: str, private: bool) -> None:
    """Add a task through the admin's form, as a person would."""
    form = admin.get("/admin/todos/task/add/")
    owner_id = re.search(rf'<option value="(\d+)">{owner}</option>', form)
    assert owner_id, "the owner is not in the admin's list"
    fields = {"owner": owner_id.group(1), "title": title, "_save": "Save"}
    if private:
        fields["private"] = "on"
    status, _ = admin.post("/admin/todos/task/add/", fields)
    assert status == 200  # redirected to the list: saved


async def test_an_admin_save_reaches_only_the_subscribers_allowed_to_receive_it(uvicorn_server):
    alice = Browser(uvicorn_server).login("alice")
    bob = Browser(uvicorn_server).login("bob")
    carol = Browser(uvicorn_server).login("carol")
    secret, public = f"bob's secret {uuid.uuid4().hex[:6]}", f"for all {uuid.uuid4().hex[:6]}"
    async with (
        await subscriber(uvicorn_server, bob, "todos") as at_bob,
        await subscriber(uvicorn_server, carol, "todos") as at_carol,
    ):
        await asyncio.to_thread(add_task, alice, "bob", secret, True)
        private_frame = await next_frame(at_bob)
        await asyncio.to_thread(add_task, alice, "bob", public, False)
        public_at_bob, public_at_carol = await next_frame(at_bob), await next_frame(at_carol)
        # The RPC of the example gives each user the same view as the stream.
        bobs_list = await call(at_bob, "todos.list")
        carols_list = await call(at_carol, "todos.list")

    message = private_frame["data"]
    assert (private_frame["topic"], message["action"]) == ("todos", "create")
    assert message["data"]["title"] == secret
    assert message["data"]["private"] is True
    assert set(message["data"]) == {"title", "done", "private", "owner", "updated"}
    # Carol's first message is the public task: the private one never reached her.
    assert public_at_carol["data"]["data"]["title"] == public
    assert public_at_carol == public_at_bob
    assert public_at_carol["offset"] == private_frame["offset"] + 1
    assert secret in [row["title"] for row in bobs_list]
    assert secret not in [row["title"] for row in carols_list]
    assert public in [row["title"] for row in carols_list]
    assert {"pk": message["pk"], **message["data"]} in bobs_list

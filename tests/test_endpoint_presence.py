"""Presence through the topics endpoint, in-process on the memory engine."""

import asyncio
import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model

import courant
from courant.hub import get_hub
from courant.testing import WebSocketClient
from tests.asgi import application
from tests.test_endpoint import Endpoint, error

pytestmark = pytest.mark.django_db(transaction=True)


async def user(name: str) -> Any:
    return await get_user_model().objects.acreate(username=name)


async def join(ws: Endpoint, topic: str, state: str | None = "reading") -> dict[str, Any]:
    """Subscribe (tracked when ``state``) and return the presence frame that follows."""
    fields: dict[str, Any] = {"topic": topic}
    if state is not None:
        fields["presence"] = {"state": state}
    assert (await ws.ask("subscribe", **fields))["type"] == "subscribed"
    frame = await ws.receive_json()
    assert frame["type"] == "presence", frame
    members: dict[str, Any] = frame["members"]
    return members


async def test_subscribers_get_the_whole_presence_then_only_changes():
    ada, bob = await user("ada"), await user("bo")
    async with Endpoint(user=ada) as a, Endpoint(user=bob) as b:
        assert await join(a, "board:1") == {str(ada.pk): [{"state": "reading", "name": "ada"}]}
        members = await join(b, "board:1", "editing")
        assert set(members) == {str(ada.pk), str(bob.pk)}
        assert await a.receive_json() == {
            "type": "presence_diff",
            "topic": "board:1",
            "joins": {str(bob.pk): [{"state": "editing", "name": "bo"}]},
        }
        assert await b.receive_nothing()  # its own join came in the whole state
        await b.op("presence", topic="board:1", meta={"state": "reading"})
        own, reply = await b.receive_json(), await b.receive_json()
        assert own["updates"] == {str(bob.pk): [{"state": "reading", "name": "bo"}]}
        assert reply["ok"] is True
        assert (await a.receive_json())["updates"] == {
            str(bob.pk): [{"state": "reading", "name": "bo"}]
        }
        await b.disconnect()
        assert (await a.receive_json())["leaves"] == {
            str(bob.pk): [{"state": "reading", "name": "bo"}]
        }


async def test_three_tabs_of_one_user_count_once_and_leave_with_the_last():
    ada = await user("ada")
    async with Endpoint() as watcher:
        assert await join(watcher, "board:2", state=None) == {}
        tabs = [Endpoint(user=ada) for _ in range(3)]
        for tab in tabs:
            await tab.__aenter__()
            await join(tab, "board:2")
        diffs = [await watcher.receive_json() for _ in range(3)]
        assert list(diffs[0]["joins"]) == [str(ada.pk)]
        assert [len(d["updates"][str(ada.pk)]) for d in diffs[1:]] == [2, 3]
        assert len(await courant.apresence("board:2")) == 1
        await tabs[0].disconnect()
        assert len((await watcher.receive_json())["updates"][str(ada.pk)]) == 2
        await tabs[1].disconnect()
        await watcher.receive_json()
        await tabs[2].disconnect()
        assert list((await watcher.receive_json())["leaves"]) == [str(ada.pk)]
        assert await courant.apresence("board:2") == {}


async def test_bad_presence_requests_get_errors():
    async with Endpoint() as ws:
        answer = await ws.ask("subscribe", topic="board:3", presence={"state": "dancing"})
        assert error(answer) == ("rejected", "state is reading or editing")
        assert error(await ws.ask("presence", topic="board:3", meta={"state": "reading"}))[0] == (
            "not_subscribed"
        )
        assert error(await ws.ask("subscribe", topic="open:x", presence={}))[0] == "no_presence"
        await join(ws, "board:3")
        big = {"state": "reading", "pad": "x" * 2000}
        assert error(await ws.ask("presence", topic="board:3", meta=big))[0] == "too_big"
        await ws.op("presence", topic="board:3", meta=None)
        assert (await ws.receive_json())["type"] == "presence_diff"  # its own leave
        assert (await ws.receive_json())["ok"] is True
        assert await courant.apresence("board:3") == {}


async def test_the_entry_cap_refuses_tracking_and_the_subscription(settings):
    settings.COURANT = {"PRESENCE_MAX_ENTRIES": 1}
    async with Endpoint() as first, Endpoint() as second:
        await join(first, "board:4")
        code, message = error(
            await second.ask("subscribe", topic="board:4", presence={"state": "reading"})
        )
        assert code == "presence_full"
        assert "1 presence entries" in message
        await courant.apublish("board:4", "hello")
        assert (await first.receive_json())["data"] == "hello"
        assert await second.receive_nothing()  # it was not subscribed either


async def test_views_read_presence_with_the_sync_api():
    ada = await user("ada")
    async with Endpoint(user=ada) as ws:
        await join(ws, "board:5", "editing")
        found: list[Any] = []
        thread = threading.Thread(target=lambda: found.append(courant.presence("board:5")))
        thread.start()
        await asyncio.to_thread(thread.join, 5)
    assert found == [{str(ada.pk): [{"state": "editing", "name": "ada"}]}]


async def test_a_clean_shutdown_removes_the_presence_of_the_process_at_once():
    async with Endpoint() as ws:
        await join(ws, "board:6")
        assert len(await courant.apresence("board:6")) == 1
        await get_hub().shutdown(courant.CloseCode.GOING_AWAY, "restarting")
        assert await ws.receive_close() == courant.CloseCode.GOING_AWAY
    assert await courant.apresence("board:6") == {}


async def test_a_consumer_of_its_own_tracks_updates_and_untracks(settings):
    async with WebSocketClient(application, "/ws/present/r1/") as ws:
        assert await ws.receive_json() == "tracked"
        members = await courant.apresence("board:r1")
        assert list(members.values()) == [[{"state": "reading"}]]
        await ws.send_json({"state": "editing"})  # from a sync handler: track()
        assert await ws.receive_json() == "done"
        assert list((await courant.apresence("board:r1")).values()) == [[{"state": "editing"}]]
        await ws.send_json({"leave": True})
        assert await ws.receive_json() == "done"
        assert await courant.apresence("board:r1") == {}
        await ws.send_json({"state": "reading"})
        await ws.receive_json()
    assert await courant.apresence("board:r1") == {}  # gone with its connection

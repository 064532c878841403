import asyncio
import threading

import pytest

import courant
from courant import EncodeError, InvalidTopic
from courant.testing import WebSocketClient
from tests.asgi import application


async def test_apublish_reaches_subscribers_and_returns_the_offset():
    async with WebSocketClient(application, "/ws/bench/news/") as ws:
        first = await courant.apublish("news", {"headline": "one"})
        second = await courant.apublish("news", "two")
        assert await ws.receive_json() == {"headline": "one"}
        assert await ws.receive_text() == "two"
    assert (first.topic, first.offset, second.offset) == ("news", 1, 2)
    assert first.epoch == second.epoch


async def test_sync_publish_from_another_thread_reaches_the_websocket_in_order():
    async with WebSocketClient(application, "/ws/bench/sync/") as ws:
        offsets: list[int] = []

        def task():  # a thread of its own, as a management command or a task would be
            offsets.extend(courant.publish("sync", f"m{i}").offset for i in range(10))

        thread = threading.Thread(target=task)
        thread.start()
        received = [await ws.receive_text(timeout=5) for _ in range(10)]
        thread.join()
    assert received == [f"m{i}" for i in range(10)]
    assert offsets == list(range(1, 11))


async def test_sync_publish_inside_async_code_explains_the_fix():
    with pytest.raises(RuntimeError, match=r"await courant\.apublish"):
        courant.publish("t", "x")


def test_bad_topics_and_data_fail_in_the_caller():
    with pytest.raises(InvalidTopic):
        courant.publish("has space", "x")
    with pytest.raises(EncodeError):
        courant.publish("t", object())
    with pytest.raises(InvalidTopic):
        asyncio.run(courant.apublish("", "x"))


def test_publish_without_any_connection_still_counts_offsets():
    assert [courant.publish("lonely", "x").offset for _ in range(3)] == [1, 2, 3]

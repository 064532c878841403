"""Consumers through the whole in-process stack, with courant.testing."""

import asyncio
import logging

import pytest
from django.contrib.auth import get_user_model

import courant
from courant import CloseCode
from courant.hub import get_hub
from courant.testing import ConnectionClosed, HandshakeRefused, WebSocketClient
from tests.asgi import application


async def test_route_captures_init_kwargs_and_sync_handlers_reach_the_consumer():
    async with WebSocketClient(application, "/ws/echo/pre/") as ws:
        await ws.send_json({"n": 1})
        reply = await ws.receive_json()
    assert reply["echo"] == {"n": 1}
    assert reply["kwargs"] == {"prefix": "pre"}
    assert reply["greeting"] == "hello"  # from as_asgi(greeting="hello")
    assert reply["thread"].startswith("courant-sync-")  # a plain def runs on a worker thread
    async with WebSocketClient(application, "/ws/items/42/") as ws:
        await ws.send_json(None)
        assert (await ws.receive_json())["args"] == ["42"]


async def test_sync_handlers_of_one_connection_share_one_thread():
    async with WebSocketClient(application, "/ws/echo/") as ws:
        threads = set()
        for index in range(5):
            await ws.send_json(index)
            threads.add((await ws.receive_json())["thread"])
    assert len(threads) == 1


def test_as_asgi_refuses_unknown_keywords():
    with pytest.raises(TypeError, match="'colour', which is not an attribute"):
        courant.JsonConsumer.as_asgi(colour="blue")


async def test_invalid_json_closes_with_1007_and_binary_with_1003():
    async with WebSocketClient(application, "/ws/echo/") as ws:
        await ws.send_text("{not json")
        assert await ws.receive_close() == CloseCode.INVALID_PAYLOAD
    async with WebSocketClient(application, "/ws/echo/") as ws:
        await ws.send_bytes(b"\x00")
        assert await ws.receive_close() == CloseCode.UNSUPPORTED_DATA


async def test_messages_over_the_size_limit_close_with_1009(settings):
    settings.COURANT = {"MAX_MESSAGE_SIZE": 16}
    async with WebSocketClient(application, "/ws/echo/") as ws:
        await ws.send_json("x" * 10)  # 12 bytes with quotes: fine
        assert (await ws.receive_json())["echo"] == "x" * 10
        await ws.send_json("é" * 8)  # 8 characters, but 18 bytes of UTF-8
        assert await ws.receive_close() == CloseCode.MESSAGE_TOO_BIG


async def test_an_exception_in_a_handler_closes_with_1011_and_is_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="courant.websocket"):
        async with WebSocketClient(application, "/ws/broken/receive/") as ws:
            await ws.send_text("boom")
            assert await ws.receive_close() == CloseCode.INTERNAL_ERROR
    assert "BrokenConsumer.receive() raised" in caplog.text
    assert "receive is broken: boom" in caplog.text


async def test_an_exception_in_connect_refuses_the_connection(caplog):
    with (
        caplog.at_level(logging.ERROR, logger="courant.websocket"),
        pytest.raises(HandshakeRefused),
    ):
        await WebSocketClient(application, "/ws/broken/connect/").connect()
    assert "connect() raised; refusing" in caplog.text


async def test_connect_without_accept_refuses():
    # ChatConsumer lets only logged-in users in.
    with pytest.raises(HandshakeRefused):
        await WebSocketClient(application, "/ws/chat/lobby/").connect()


async def test_unknown_paths_and_foreign_origins_are_refused_before_any_consumer_runs(caplog):
    with caplog.at_level(logging.WARNING, logger="courant"):
        with pytest.raises(HandshakeRefused):
            await WebSocketClient(application, "/ws/missing/").connect()
        with pytest.raises(HandshakeRefused):
            await WebSocketClient(
                application, "/ws/echo/", headers=[(b"origin", b"https://evil.example")]
            ).connect()
    assert "no route matches this path" in caplog.text
    assert "foreign origin 'https://evil.example'" in caplog.text
    async with WebSocketClient(
        application, "/ws/echo/", headers=[(b"origin", b"http://localhost:8000")]
    ) as ws:
        await ws.send_json(1)
        assert (await ws.receive_json())["echo"] == 1


@pytest.mark.parametrize("path", ["/ws/hook/r/", "/ws/synchook/r/"])
async def test_a_topic_message_hook_sees_every_message_in_offset_order(path):
    async with WebSocketClient(application, path) as ws:
        for index in range(5):
            await ws.send_json({"i": index})
        received = [await ws.receive_json() for _ in range(5)]
    assert [r["offset"] for r in received] == [1, 2, 3, 4, 5]
    assert [r["data"]["i"] for r in received] == [0, 1, 2, 3, 4]
    assert all(r["topic"] == "r" for r in received)
    assert all(r.get("sync") for r in received) == (path == "/ws/synchook/r/")


async def test_disconnect_leaves_every_topic_and_forgets_the_connection():
    hub = get_hub()
    async with (
        WebSocketClient(application, "/ws/bench/room/") as a,
        WebSocketClient(application, "/ws/bench/room/"),
    ):
        assert hub.subscribers("room") == 2
        assert hub.stats()["connections"] == 2
        await a.disconnect()
        assert hub.subscribers("room") == 1
    assert hub.subscribers("room") == 0
    assert hub.stats() == {"engine": "memory", "connections": 0, "topics": 0}


async def test_disconnect_handler_gets_the_close_code_once():
    ended = []

    class Recording(courant.Consumer):
        async def disconnect(self, code):
            ended.append(code)

    async with WebSocketClient(Recording.as_asgi(), "/") as ws:
        pass
    assert ended == [1000]
    ws = WebSocketClient(Recording.as_asgi(), "/")
    await ws.connect()
    await ws.disconnect(4001)
    assert ended == [1000, 4001]


async def test_sync_twins_called_from_async_code_explain_the_fix():
    class Mistaken(courant.Consumer):
        async def connect(self):
            self.join("t")

    with pytest.raises(HandshakeRefused):
        await WebSocketClient(Mistaken.as_asgi(), "/").connect()


async def test_sync_twins_work_from_sync_handlers():
    class Syncer(courant.Consumer):
        def connect(self):
            self.join("a")
            self.join("b")
            self.leave("a")
            self.accept()

        def receive(self, text_data=None, bytes_data=None):
            message = self.publish("b", text_data)
            self.send(text_data=f"published at {message.offset}")

    async with WebSocketClient(Syncer.as_asgi(), "/") as ws:
        assert get_hub().subscribers("a") == 0
        await ws.send_text("hi")
        replies = {await ws.receive_text(), await ws.receive_text()}
    assert replies == {"hi", "published at 1"}


async def test_test_client_can_assert_that_nothing_arrives():
    async with WebSocketClient(application, "/ws/bench/quiet/") as ws:
        assert await ws.receive_nothing(0.05)
        await courant.apublish("quiet", "now")
        assert not await ws.receive_nothing(0.5)
        assert await ws.receive_text() == "now"  # what arrived was kept
    async with WebSocketClient(application, "/ws/echo/") as ws:
        await ws.send_text("{bad")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive_text()
        assert closed.value.code == CloseCode.INVALID_PAYLOAD


@pytest.mark.django_db(transaction=True)
async def test_chat_between_two_users_stores_messages_with_the_orm():
    from chat.models import ChatMessage

    User = get_user_model()
    alice, _ = await User.objects.aget_or_create(username="alice")
    bob, _ = await User.objects.aget_or_create(username="bob")
    async with (
        WebSocketClient(application, "/ws/chat/lobby/", user=alice) as a,
        WebSocketClient(application, "/ws/chat/lobby/", user=bob) as b,
    ):
        await a.send_json({"text": "  hello bob  "})
        seen_by_a, seen_by_b = await a.receive_json(), await b.receive_json()
        await b.send_json({"nope": 1})
        assert (await b.receive_json())["type"] == "error"
        assert await a.receive_nothing()
    assert seen_by_a == seen_by_b
    assert seen_by_a["author"] == "alice"
    assert seen_by_a["text"] == "hello bob"
    stored = [
        row async for row in ChatMessage.objects.values_list("room", "author__username", "text")
    ]
    assert stored == [("lobby", "alice", "hello bob")]
    assert seen_by_a["id"] == (await ChatMessage.objects.aget()).pk


async def test_a_slow_hook_consumer_is_closed_when_its_inbox_overflows(settings):
    # Its hook never returns: the close is sent, and past CLOSE_TIMEOUT the stuck
    # conversation is ended too.
    settings.COURANT = {"SEND_QUEUE_LIMIT": 3, "CLOSE_TIMEOUT": 0.2}
    gate = asyncio.Event()
    ended = []

    class Slow(courant.Consumer):
        async def connect(self):
            await self.ajoin("busy")
            self.accept()

        async def topic_message(self, message):
            await gate.wait()

        async def disconnect(self, code):
            ended.append(code)

    ws = WebSocketClient(Slow.as_asgi(), "/")
    await ws.connect()
    for index in range(10):
        await courant.apublish("busy", str(index))
    assert await ws.receive_close() == CloseCode.SEND_QUEUE_FULL
    assert ended == [CloseCode.SEND_QUEUE_FULL]
    assert get_hub().stats()["connections"] == 0


async def test_nothing_of_a_connection_outlives_it():
    """Freed at once by reference counting: the cyclic collector is off for the test."""
    import gc
    import weakref

    alive: list[weakref.ref[object]] = []

    class Tracked(courant.JsonConsumer):
        async def connect(self):
            alive.extend([weakref.ref(self), weakref.ref(self.connection)])
            await self.ajoin("leak:a")
            await self.ajoin(f"leak:{id(self)}")
            self.accept()

        async def receive_json(self, content):
            await self.apublish("leak:a", content)

    app = Tracked.as_asgi()
    gc.disable()
    try:
        for round_ in range(50):
            async with WebSocketClient(app, "/") as one, WebSocketClient(app, "/") as two:
                await one.send_json(round_)
                assert await two.receive_json() == round_
                assert await one.receive_json() == round_
        for _ in range(3):  # the writers' cancellation completes on the next iterations
            await asyncio.sleep(0)
        assert len(alive) == 200
        assert [ref for ref in alive if ref() is not None] == []
    finally:
        gc.enable()
    assert get_hub().stats() == {"engine": "memory", "connections": 0, "topics": 0}


async def test_a_burst_of_publishes_reaches_a_client_that_reads(settings):
    settings.COURANT = {"SEND_QUEUE_LIMIT": 16}
    async with WebSocketClient(application, "/ws/bench/burst/") as ws:
        for index in range(200):  # far more than the limit, with no pause in between
            await courant.apublish("burst", str(index))
        assert [await ws.receive_text() for _ in range(200)] == [str(i) for i in range(200)]
        assert await ws.receive_nothing()


async def test_a_burst_of_own_sends_in_connect_is_not_a_slow_client(settings):
    settings.COURANT = {"SEND_QUEUE_LIMIT": 16}

    class Replay(courant.Consumer):
        async def connect(self):
            self.accept()
            for index in range(100):  # e.g. replaying history on arrival
                self.send(text_data=str(index))

    async with WebSocketClient(Replay.as_asgi(), "/") as ws:
        assert [await ws.receive_text() for _ in range(100)] == [str(i) for i in range(100)]


async def test_forward_from_a_sync_hook_runs_on_the_loop():
    asyncio.get_running_loop().set_debug(True)  # makes thread-unsafe loop calls raise

    class Relay(courant.Consumer):
        async def connect(self):
            await self.ajoin("relay")
            self.accept()

        def topic_message(self, message):
            if message.data != "skip":
                self.forward(message)

    async with WebSocketClient(Relay.as_asgi(), "/") as ws:
        for text in ("one", "skip", "two"):
            await courant.apublish("relay", text)
        assert [await ws.receive_text(), await ws.receive_text()] == ["one", "two"]
        assert await ws.receive_nothing()


async def test_ajoin_since_replays_what_the_client_missed_before_new_messages():
    missed = [await courant.apublish("track:r1", {"n": n}) for n in range(4)]
    epoch = missed[0].epoch
    query = f"epoch={epoch}&offset=1".encode()
    async with WebSocketClient(application, "/ws/track/r1/", query_string=query) as ws:
        joined = await ws.receive_json()
        assert joined == {"joined": {"recovered": True, "epoch": epoch, "offset": 4}}
        await courant.apublish("track:r1", {"n": "live"})
        got = [await ws.receive_json() for _ in range(4)]
        assert [(m["offset"], m["data"]) for m in got] == [
            (2, {"n": 1}),
            (3, {"n": 2}),
            (4, {"n": 3}),
            (5, {"n": "live"}),
        ]


async def test_ajoin_since_a_lost_position_says_so_and_carries_on():
    await courant.apublish("track:r2", "x")
    query = b"epoch=forgotten&offset=3"
    async with WebSocketClient(application, "/ws/track/r2/", query_string=query) as ws:
        joined = (await ws.receive_json())["joined"]
        assert (joined["recovered"], joined["offset"]) == (False, 1)
        await courant.apublish("track:r2", "y")
        assert (await ws.receive_json())["offset"] == 2


async def test_a_gap_the_hub_cannot_fill_reaches_topic_gap_in_order():
    async with WebSocketClient(application, "/ws/track/r3/") as ws:
        epoch = (await ws.receive_json())["joined"]["epoch"]
        await courant.apublish("track:r3", "before")
        assert (await ws.receive_json())["offset"] == 1
        # As after an engine restart that lost the topic: a message of a new epoch.
        hub = get_hub()
        hub.fan_out(courant.Message("track:r3", 1, "new-epoch", courant.message.Kind.TEXT, "after"))
        assert await ws.receive_json() == {"gap": {"epoch": "new-epoch", "offset": 0}}
        assert await ws.receive_json() == {"epoch": "new-epoch", "offset": 1, "data": "after"}
        assert epoch != "new-epoch"

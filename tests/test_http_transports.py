"""The SSE and long-poll transports, live: a real uvicorn server, and an HTTP client that
reads events as a browser does (tests/sse_client.py).

Every loop here is bounded in count, and every wait in time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from courant import CloseCode
from courant.hub import get_hub

from .live import Browser, Server, free_port, serve, server_env, uvicorn_command
from .sse_client import Event, Opened, request, stream

#: Tight limits, so that each is quick to reach.
LIMITS = {
    "MAX_MESSAGE_SIZE": 4096,
    "SEND_QUEUE_LIMIT": 16,
    "LONGPOLL_TIMEOUT": 1,
    "LONGPOLL_EXPIRY": 2,
    "SSE_KEEPALIVE": 0.5,
}


@pytest.fixture(scope="module")
def server(live_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log_dir = tmp_path_factory.mktemp("http-transports")
    with serve(
        uvicorn_command(port), port=port, env=server_env(live_db, LIMITS), log_dir=log_dir
    ) as running:
        yield running


def room() -> str:
    return f"r{uuid.uuid4().hex[:8]}"


async def bench_socket(server: Server, name: str) -> ClientConnection:
    return await connect(f"{server.ws}/ws/bench/{name}/", open_timeout=10)


async def echoes(socket: ClientConnection, *texts: str) -> None:
    """Publish ``texts`` to the socket's room, and wait until they were fanned out."""
    for text in texts:
        await socket.send(text)
    async with asyncio.timeout(10):
        for text in texts:
            assert await socket.recv() == text


def close_of(event: Event) -> int:
    assert event.type == "close", event
    code: int = event.json()["code"]
    return code


async def test_an_sse_stream_carries_a_consumers_frames_and_posts_reach_it(server):
    events = await stream(server, "/ws/echo/?transport=sse")
    assert events.status == 200
    assert events.headers["content-type"].startswith("text/event-stream")
    opened = Opened.of(await events.next())
    answer = await opened.post(server, "/ws/echo/", "sse", json.dumps({"n": 1}))
    assert answer.status == 204
    echo = (await events.next()).json()
    assert (echo["echo"], echo["user"]) == ({"n": 1}, None)
    # The JSON consumer takes no binary frame: it closes, and the stream ends.
    assert (await opened.post(server, "/ws/echo/", "sse", b"\x00")).status == 204
    [close] = await events.rest()
    assert close_of(close) == CloseCode.UNSUPPORTED_DATA
    events.close()


async def test_binary_frames_and_keepalives_on_sse(server):
    name = room()
    events = await stream(server, f"/ws/resume/{name}/?transport=sse")
    opened = Opened.of(await events.next())
    assert await events.comment() == "keep-alive"  # SSE_KEEPALIVE is 0.5 s here
    assert (await opened.post(server, f"/ws/resume/{name}/", "sse", b"\x00\xff")).status == 204
    event = await events.next()
    assert (event.type, base64.b64decode(event.data)) == ("binary", b"\x00\xff")
    events.close()


async def test_the_session_user_is_on_sse_and_long_poll(server):
    alice = Browser(server).login("alice")
    cookie = {"Cookie": alice.cookie_header()}
    events = await stream(server, "/ws/echo/?transport=sse", cookie)
    opened = Opened.of(await events.next())
    await opened.post(server, "/ws/echo/", "sse", "{}")
    assert (await events.next()).json()["user"] == "alice"
    events.close()

    first = await request(server, "GET", "/ws/echo/?transport=longpoll", headers=cookie)
    assert first.status == 200
    polled = Opened.of(first.events()[0])
    # The requests that name the connection run as its user, cookie or not.
    assert (await polled.post(server, "/ws/echo/", "longpoll", "{}")).status == 204
    [echo] = (await polled.poll(server, "/ws/echo/")).events()
    assert echo.json()["user"] == "alice"

    # A consumer that refuses (the chat lets no anonymous user in) answers 403.
    for transport in ("sse", "longpoll"):
        refused = await request(server, "GET", f"/ws/chat/{room()}/?transport={transport}")
        assert refused.status == 403


async def test_long_poll_opens_polls_posts_and_expires(server):
    name = room()
    path = f"/ws/watched/{name}/"
    async with await bench_socket(server, "watch") as watcher:
        first = await request(server, "GET", f"{path}?transport=longpoll")
        assert first.status == 200
        assert first.headers["content-type"].startswith("text/event-stream")
        opened = Opened.of(first.events()[0])
        assert (await opened.post(server, path, "longpoll", "hello")).status == 204
        assert [event.data for event in (await opened.poll(server, path)).events()] == ["hello"]
        # Nothing within LONGPOLL_TIMEOUT: an empty answer.
        empty = await opened.poll(server, path)
        assert (empty.status, empty.events()) == (200, [])
        # No poll for LONGPOLL_EXPIRY: the connection ends as if the client had left.
        async with asyncio.timeout(10):
            report = json.loads(await watcher.recv())
        assert report == {"room": name, "closed": CloseCode.GOING_AWAY}
        assert (await opened.poll(server, path)).status == 404
    assert "expired: no poll for 2.0s" in server.log()


async def test_a_dropped_sse_stream_recovers_what_it_missed_with_last_event_id(server):
    name = room()
    path = f"/ws/resume/{name}/?transport=sse"
    async with await bench_socket(server, name) as publisher:
        first = await stream(server, path)
        Opened.of(await first.next())
        await echoes(publisher, "m1", "m2")
        seen = [await first.next(), await first.next()]
        assert [event.data for event in seen] == ["m1", "m2"]
        first.close()

        await echoes(publisher, "m3", "m4")  # while no stream is open
        second = await stream(server, path, {"Last-Event-ID": seen[-1].last_event_id})
        Opened.of(await second.next())
        await echoes(publisher, "m5")
        resumed = [await second.next() for _ in range(3)]
        second.close()
    # Exactly what was missed, once and in order, then what came after.
    assert [event.data for event in resumed] == ["m3", "m4", "m5"]
    topic, position = resumed[-1].last_event_id.split()
    assert topic == name
    assert position.endswith(":5")


async def test_requests_naming_a_connection_are_checked(server):
    name = room()
    path = f"/ws/resume/{name}/"
    events = await stream(server, f"{path}?transport=sse")
    opened = Opened.of(await events.next())

    wrong = Opened(opened.connection, "not-the-secret")
    assert (await wrong.post(server, path, "sse", "x")).status == 403
    unknown = Opened("no-such-connection", opened.secret)
    assert (await unknown.post(server, path, "sse", "x")).status == 404
    assert (await opened.post(server, path, "longpoll", "x")).status == 404  # other transport
    foreign = {"Origin": "https://evil.example"}
    assert (await opened.post(server, path, "sse", "x", headers=foreign)).status == 403
    refused = await stream(server, f"{path}?transport=sse", foreign)
    assert refused.status == 403
    refused.close()

    # Over MAX_MESSAGE_SIZE (4096 here): refused, and the connection closes with 1009.
    assert (await opened.post(server, path, "sse", "x" * 5000)).status == 413
    [close] = await events.rest()
    assert close_of(close) == CloseCode.MESSAGE_TOO_BIG
    events.close()
    assert "from foreign origin 'https://evil.example'" in server.log()
    assert "wrong secret" in server.log()


async def test_a_handler_exception_closes_with_1011(server):
    for transport in ("sse", "longpoll"):
        path = "/ws/broken/receive/"
        if transport == "sse":
            events = await stream(server, f"{path}?transport=sse")
            opened = Opened.of(await events.next())
            assert (await opened.post(server, path, transport, "boom")).status == 204
            [close] = await events.rest()
            events.close()
        else:
            first = await request(server, "GET", f"{path}?transport=longpoll")
            opened = Opened.of(first.events()[0])
            assert (await opened.post(server, path, transport, "boom")).status == 204
            [close] = (await opened.poll(server, path)).events()
        assert close_of(close) == CloseCode.INTERNAL_ERROR
    assert "receive is broken: boom" in server.log()


async def test_a_long_poll_client_that_does_not_poll_is_closed_with_4000(server):
    name = room()
    path = f"/ws/bench/{name}/"
    first = await request(server, "GET", f"{path}?transport=longpoll")
    opened = Opened.of(first.events()[0])
    async with await bench_socket(server, name) as publisher:
        # SEND_QUEUE_LIMIT is 16 here: the 17th message waiting for a poll is one too many.
        await echoes(publisher, *(f"m{index}" for index in range(20)))
        [close] = (await opened.poll(server, path)).events()
        assert close_of(close) == CloseCode.SEND_QUEUE_FULL
        # The others were not affected.
        await echoes(publisher, "still here")


async def test_other_http_requests_still_reach_django(server):
    page = await request(server, "GET", "/login/?transport=nothing")
    assert page.status == 200
    assert b"csrfmiddlewaretoken" in page.body
    # A path no consumer route matches goes to Django, transport or not.
    assert (await request(server, "GET", "/nowhere/?transport=sse")).status == 404


async def test_disabled_transports_are_not_served(live_db, tmp_path):
    port = free_port()
    env = server_env(live_db, {"TRANSPORTS": ["sse"]})
    with serve(uvicorn_command(port), port=port, env=env, log_dir=tmp_path) as only_sse:
        assert (await request(only_sse, "GET", "/ws/echo/?transport=longpoll")).status == 404
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{only_sse.ws}/ws/echo/", open_timeout=10)
        assert refused.value.response.status_code == 403
        events = await stream(only_sse, "/ws/echo/?transport=sse")
        assert events.status == 200
        Opened.of(await events.next())
        events.close()


# -- in-process: the lifespan's shutdown -----------------------------------------------------


class Request:
    """One HTTP request driven in-process, as a server would: its events, as they are sent."""

    def __init__(self, path: str, transport: str) -> None:
        self.scope = {
            "type": "http", "method": "GET", "scheme": "http", "path": path, "root_path": "",
            "query_string": f"transport={transport}".encode(), "headers": [],
        }  # fmt: skip
        self.sent: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.requested = False
        self.gone = asyncio.Event()  # the client never leaves by itself here

    async def receive(self) -> dict[str, Any]:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, event) -> None:
        self.sent.append(dict(event))
        self.changed.set()

    def body(self) -> bytes:
        return b"".join(e.get("body", b"") for e in self.sent if e["type"] == "http.response.body")

    async def wait_for(self, data: bytes) -> None:
        async with asyncio.timeout(10):
            while data not in self.body():
                self.changed.clear()
                await self.changed.wait()


class Reports:
    """A subscriber of the hub's own: what WatchedConsumer.disconnect() publishes."""

    direct = None  # not a connection: the hub calls deliver()

    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []

    def deliver(self, message) -> None:
        self.data.append(message.data)

    def gap(self, topic, position) -> None:
        pass


async def test_the_lifespan_shutdown_ends_sse_streams_and_long_poll_connections(settings):
    from tests.asgi import application

    settings.COURANT = {"CLOSE_TIMEOUT": 0.5}
    name = room()
    sse = Request(f"/ws/watched/{name}/", "sse")
    longpoll = Request(f"/ws/watched/{name}-lp/", "longpoll")
    streaming = asyncio.create_task(application(sse.scope, sse.receive, sse.send))
    await sse.wait_for(b"event: open")
    await application(longpoll.scope, longpoll.receive, longpoll.send)
    assert b"event: open" in longpoll.body()

    lifespan = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    answers: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return lifespan.pop(0)

    async def send(event) -> None:
        answers.append(event)

    reports = Reports()
    await get_hub().join("watch", reports)
    async with asyncio.timeout(10):
        await application({"type": "lifespan"}, receive, send)
        await streaming
    assert [a["type"] for a in answers] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    events = sse.body().split(b"\n\n")
    assert events[-2] == b'event: close\ndata: {"code":1001,"reason":"server shutting down"}'
    assert sse.sent[-1]["more_body"] is False
    # Both conversations ended, and called disconnect() with 1001, before the engine closed.
    assert sorted(reports.data, key=str) == [
        {"room": name, "closed": 1001},
        {"room": f"{name}-lp", "closed": 1001},
    ]

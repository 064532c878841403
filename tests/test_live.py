"""Live tests: real servers in subprocesses on free ports, real WebSocket clients.

Every loop here is bounded in count, and every wait in time.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
import urllib.request
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from courant import CloseCode

from .live import (
    ROOT,
    Browser,
    Server,
    free_port,
    raw_websocket,
    read_frames,
    serve,
    server_env,
    uvicorn_command,
)


def room() -> str:
    return f"r{uuid.uuid4().hex[:8]}"


async def open_socket(
    server: Server, path: str, browser: Browser | None = None, **options
) -> ClientConnection:
    headers = {"Cookie": browser.cookie_header()} if browser else {}
    return await connect(server.ws + path, additional_headers=headers, open_timeout=10, **options)


async def next_json(socket: ClientConnection) -> Any:
    async with asyncio.timeout(10):
        return json.loads(await socket.recv())


async def test_chat_between_two_logged_in_users(uvicorn_server):
    alice, bob = Browser(uvicorn_server).login("alice"), Browser(uvicorn_server).login("bob")
    name = room()
    origin = {"origin": uvicorn_server.http}  # as the browser sends it from the chat page
    async with (
        await open_socket(uvicorn_server, f"/ws/chat/{name}/", alice, **origin) as a,
        await open_socket(uvicorn_server, f"/ws/chat/{name}/", bob, **origin) as b,
    ):
        await a.send(json.dumps({"text": "hello from alice"}))
        at_a, at_b = await next_json(a), await next_json(b)
        await b.send(json.dumps({"text": "hi alice"}))
        reply_a, reply_b = await next_json(a), await next_json(b)
    assert at_a == at_b
    assert (at_a["author"], at_a["text"]) == ("alice", "hello from alice")
    assert reply_a == reply_b
    assert reply_a["author"] == "bob"
    # The sync consumer stored both with the ORM: the page's history shows them.
    page = bob.get(f"/chat/{name}/")
    assert "hello from alice" in page
    assert "hi alice" in page


async def test_anonymous_users_cannot_join_the_chat(uvicorn_server):
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(uvicorn_server, f"/ws/chat/{room()}/")
    assert refused.value.response.status_code == 403


async def test_publish_from_a_sync_view_reaches_the_websocket(uvicorn_server):
    alice, bob = Browser(uvicorn_server).login("alice"), Browser(uvicorn_server).login("bob")
    name = room()
    async with await open_socket(uvicorn_server, f"/ws/chat/{name}/", alice) as socket:
        status, body = bob.post(
            f"/chat/{name}/post/",
            {"text": "posted over HTTP"},
            form_page=f"/chat/{name}/",
            accept="application/json",
        )
        assert status == 201
        event = await next_json(socket)
    assert event == json.loads(body)
    assert (event["author"], event["text"]) == ("bob", "posted over HTTP")


async def test_foreign_origins_and_unknown_paths_are_refused(uvicorn_server):
    for path, origin in [("/ws/bench/x/", "https://evil.example"), ("/ws/nowhere/", None)]:
        with pytest.raises(InvalidStatus) as refused:
            await open_socket(uvicorn_server, path, origin=origin)
        assert refused.value.response.status_code == 403
    async with await open_socket(uvicorn_server, "/ws/bench/x/", origin=uvicorn_server.http) as own:
        await own.send("same origin is fine")
        assert await own.recv() == "same origin is fine"
    log = uvicorn_server.log()
    assert "from foreign origin 'https://evil.example'" in log
    assert "to /ws/nowhere/: no route matches this path" in log


async def test_an_oversized_message_closes_its_sender_only(uvicorn_server):
    name = room()
    async with (
        await open_socket(uvicorn_server, f"/ws/bench/{name}/") as big,
        await open_socket(uvicorn_server, f"/ws/bench/{name}/") as other,
    ):
        await big.send("x" * (1024 * 1024 + 1))
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(10):
                await big.recv()
        assert big.close_code == CloseCode.MESSAGE_TOO_BIG
        await other.send("still here")
        async with asyncio.timeout(10):
            assert await other.recv() == "still here"


FRAME = 16 * 1024
FRAMES = 800  # 12.8 MB: more than the kernel buffers (4 MiB here) between server and client
WINDOW = 8  # frames a healthy client may lag behind, well under SEND_QUEUE_LIMIT


async def test_a_client_that_never_reads_is_closed_without_slowing_the_others(live_db, tmp_path):
    port = free_port()
    limits = {"SEND_QUEUE_LIMIT": 32, "CLOSE_TIMEOUT": 1}
    with serve(
        uvicorn_command(port), port=port, env=server_env(live_db, limits), log_dir=tmp_path
    ) as server:
        name = room()
        async with (
            await open_socket(server, "/ws/bench/watch/") as watcher,
            await open_socket(server, f"/ws/bench/{name}/", max_size=None) as sender,
            await open_socket(server, f"/ws/bench/{name}/", max_size=None) as reader,
        ):
            stuck = raw_websocket(server, f"/ws/watched/{name}/", receive_buffer=4096)
            received: dict[str, list[int]] = {"sender": [], "reader": []}
            progress = asyncio.Event()

            async def drain(label: str, socket: ClientConnection) -> None:
                while len(received[label]) < FRAMES:
                    received[label].append(int((await socket.recv())[:5]))
                    progress.set()

            async def send_all() -> None:
                # Healthy clients keep up: at most WINDOW frames ahead of the slower of them.
                for index in range(FRAMES):
                    while index - min(map(len, received.values())) >= WINDOW:
                        progress.clear()
                        await progress.wait()
                    await sender.send(f"{index:05d}" + "x" * (FRAME - 5))

            started = time.monotonic()
            async with asyncio.timeout(60):
                await asyncio.gather(drain("sender", sender), drain("reader", reader), send_all())
                report = await next_json(watcher)
            elapsed = time.monotonic() - started

            # Every frame reached both healthy clients, in order, while the stuck one was held.
            assert received["sender"] == list(range(FRAMES))
            assert received["reader"] == list(range(FRAMES))
            assert report == {"room": name, "closed": CloseCode.SEND_QUEUE_FULL}
            assert elapsed < 60  # bounded by the timeout above: no stall on the stuck client
            assert "more than SEND_QUEUE_LIMIT=32 frames waiting" in server.log()

            # The server let go of the stuck client: once it reads, its socket ends.
            frames = await asyncio.to_thread(lambda: list(read_frames(stuck, timeout=10)))
            stuck.close()
            data = [payload for opcode, payload in frames if opcode == 1]
            assert len(data) < FRAMES  # it got only what the buffers held before the cut


async def test_the_heartbeat_drops_a_client_that_stopped_answering(live_db, tmp_path):
    port = free_port()
    heartbeat = ["--ws-ping-interval", "0.3", "--ws-ping-timeout", "0.3"]
    with serve(
        uvicorn_command(port, *heartbeat), port=port, env=server_env(live_db), log_dir=tmp_path
    ) as server:
        async with await open_socket(server, "/ws/bench/watch/") as watcher:
            name = room()
            dead = raw_websocket(server, f"/ws/watched/{name}/")  # never answers a ping
            report = await next_json(watcher)
            frames = await asyncio.to_thread(lambda: list(read_frames(dead, timeout=10)))
            dead.close()
            # The healthy watcher answers pings itself and stays connected.
            await watcher.send("alive")
            async with asyncio.timeout(10):
                assert await watcher.recv() == "alive"
    assert report["room"] == name
    opcodes = [opcode for opcode, _ in frames]
    assert 9 in opcodes  # it was pinged
    assert opcodes[-1] == 8  # then closed by the server
    assert struct.unpack("!H", frames[-1][1][:2])[0] == 1011  # "keepalive ping timeout"


async def echo_works(server: Server) -> None:
    async with (
        await open_socket(server, "/ws/bench/demo/") as one,
        await open_socket(server, "/ws/bench/demo/") as two,
    ):
        await one.send("ping")
        async with asyncio.timeout(10):
            assert await one.recv() == "ping"
            assert await two.recv() == "ping"


def http_get(server: Server, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(server.http + path, timeout=10) as response:
        return int(response.status), response.read().decode()


async def test_runserver_serves_http_static_files_and_websockets(live_db, tmp_path):
    port = free_port()
    command = [
        sys.executable,
        "manage.py",
        "runserver",
        f"127.0.0.1:{port}",
    ]  # with the autoreloader
    env = server_env(live_db, DJANGO_SETTINGS_MODULE="example.settings")
    example = ROOT / "example"
    with serve(command, port=port, env=env, log_dir=tmp_path, cwd=example, group=True) as server:
        await echo_works(server)
        status, page = await asyncio.to_thread(http_get, server, "/")
        assert status == 200
        assert "Real-time applications on plain Django" in page  # the demo's home page
        status, css = await asyncio.to_thread(http_get, server, "/static/demo/style.css")
        assert status == 200
        assert "--accent" in css
        assert "Starting Courant development server (HTTP and WebSocket)" in server.log()


async def test_gunicorn_with_uvicorn_workers_as_documented(live_db, tmp_path):
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "tests.asgi:application",
        "--worker-class", "uvicorn_worker.UvicornWorker",
        "--workers", "2", "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip
    with serve(command, port=port, env=server_env(live_db), log_dir=tmp_path) as server:
        # Each connection lands on either worker, a process with its own memory engine:
        # every one must be served, and hear what it publishes.
        for index in range(6):
            async with await open_socket(server, f"/ws/bench/g{index}/") as socket:
                await socket.send(f"hello {index}")
                async with asyncio.timeout(10):
                    assert await socket.recv() == f"hello {index}"
        workers = {line for line in server.log().splitlines() if "Booting worker with pid" in line}
        assert len(workers) == 2


async def test_the_topics_endpoint_on_a_real_server(uvicorn_server):
    """Two users of /courant/ over real WebSockets: the session's user reaches the topic
    class, and what one publishes reaches both, stamped by clean()."""
    alice = Browser(uvicorn_server).login("alice")
    topic = f"stamped:{room()}:chat"
    async with (
        await open_socket(uvicorn_server, "/courant/", alice) as a,
        await open_socket(uvicorn_server, "/courant/") as anonymous,
    ):
        for socket in (a, anonymous):
            assert (await next_json(socket))["type"] == "hello"
            await socket.send(json.dumps({"op": "subscribe", "id": 1, "topic": topic}))
            assert (await next_json(socket))["type"] == "subscribed"
        await anonymous.send(json.dumps({"op": "publish", "id": 2, "topic": topic, "data": {}}))
        assert (await next_json(anonymous))["error"]["code"] == "forbidden"
        await a.send(
            json.dumps({"op": "publish", "id": 2, "topic": topic, "data": {"text": "hi all"}})
        )
        heard = await next_json(anonymous)
        assert heard["data"] == {"text": "hi all", "user": "alice", "room": topic.split(":")[1]}
        frames = [await next_json(a), await next_json(a)]
        assert {f["type"] for f in frames} == {"message", "reply"}

"""Many processes on the Redis engine, for real: three uvicorn servers of the test project
on a redis-server of the test's own, clients on each, publishers in other processes."""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from websockets.asyncio.client import connect

from .live import ROOT, Browser, free_port, serve, server_env, uvicorn_command
from .redis_support import own_redis


async def _next(socket, timeout=15.0):
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def _messages(socket, count):
    return [await _next(socket) for _ in range(count)]


def _publish_from_plain_process(env, topic, values):
    """``courant.publish()`` from a Python process that serves no connections, as a
    management command or a task worker would."""
    code = (
        "import sys, json, django; django.setup(); import courant\n"
        "for value in json.loads(sys.argv[2]): courant.publish(sys.argv[1], value)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, topic, json.dumps(values)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )


@pytest.fixture
def redis_and_servers(live_db, tmp_path):
    with own_redis(tmp_path, persistent=True) as redis_server:
        env = server_env(live_db, {"ENGINE": redis_server.url})
        with contextlib.ExitStack() as stack:
            servers = []
            for _ in range(3):
                port = free_port()
                servers.append(
                    stack.enter_context(
                        serve(uvicorn_command(port), port=port, env=env, log_dir=tmp_path)
                    )
                )
            yield redis_server, servers, env


async def test_three_processes_share_topics_in_order_and_survive_a_redis_restart(
    redis_and_servers,
):
    redis_server, servers, env = redis_and_servers
    room = uuid.uuid4().hex[:8]
    topic = f"track:{room}"
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(connect(f"{server.ws}/ws/track/{room}/"))
            for server in servers
        ]
        joined = [(await _next(client))["joined"] for client in clients]
        epoch = joined[0]["epoch"]
        assert all(j["epoch"] == epoch and j["offset"] == 0 for j in joined)

        # A publish from a process serving no connections reaches every server, in order.
        await asyncio.to_thread(_publish_from_plain_process, env, topic, [1, 2, 3, 4, 5])
        for client in clients:
            got = await _messages(client, 5)
            assert [(m["offset"], m["data"]) for m in got] == [(i, i) for i in range(1, 6)]

        # Messages sent through each server reach all three, in one order everywhere.
        for index, client in enumerate(clients):
            await client.send(json.dumps({"from": index}))
        seen = [await _messages(client, 3) for client in clients]
        assert seen[0] == seen[1] == seen[2]
        assert [m["offset"] for m in seen[0]] == [6, 7, 8]
        assert sorted(m["data"]["from"] for m in seen[0]) == [0, 1, 2]

        # The third client leaves; Redis restarts (keeping its data on disk); two more
        # messages are published once it is back.
        await clients[2].close()
        redis_server.stop()
        await asyncio.sleep(0.5)
        redis_server.start()
        await asyncio.to_thread(_publish_from_plain_process, env, topic, ["a", "b"])
        # The clients that stayed were not dropped, and miss nothing: no gap, same epoch.
        for client in clients[:2]:
            got = await _messages(client, 2)
            assert [(m["epoch"], m["offset"], m["data"]) for m in got] == [
                (epoch, 9, "a"),
                (epoch, 10, "b"),
            ]
        # The one that left recovers exactly what it missed when it comes back.
        async with connect(f"{servers[2].ws}/ws/track/{room}/?epoch={epoch}&offset=8") as back:
            assert (await _next(back))["joined"] == {
                "recovered": True,
                "epoch": epoch,
                "offset": 10,
            }
            got = await _messages(back, 2)
            assert [(m["offset"], m["data"]) for m in got] == [(9, "a"), (10, "b")]
        # Every server logged the outage once, however many topics and messages it had.
        for server in servers:
            log = server.log()
            assert log.count("Lost the pub/sub link") == 1, log
            assert log.count("is back after") == 1, log


async def test_a_restart_that_loses_the_history_is_reported_to_connected_clients(live_db, tmp_path):
    with own_redis(tmp_path) as redis_server:
        env = server_env(live_db, {"ENGINE": redis_server.url})
        port = free_port()
        room = uuid.uuid4().hex[:8]
        with serve(uvicorn_command(port), port=port, env=env, log_dir=tmp_path) as server:
            async with connect(f"{server.ws}/ws/track/{room}/") as client:
                old_epoch = (await _next(client))["joined"]["epoch"]
                await client.send(json.dumps("before"))
                assert (await _next(client))["offset"] == 1
                redis_server.stop()
                redis_server.start()  # empty: the topic's history and offsets are gone
                gap = (await _next(client, timeout=30))["gap"]
                assert gap["epoch"] != old_epoch
                await client.send(json.dumps("after"))
                after = await _next(client)
                assert (after["epoch"], after["offset"], after["data"]) == (
                    gap["epoch"],
                    gap["offset"] + 1,
                    "after",
                )
            # A client that comes back with a position of the lost epoch is told plainly.
            url = f"{server.ws}/ws/track/{room}/?epoch={old_epoch}&offset=1"
            async with connect(url) as back:
                assert (await _next(back))["joined"]["recovered"] is False


async def test_presence_across_processes_without_ghosts_after_kill_9(live_db, tmp_path):
    """Two servers on one Redis. Alice has three tabs (two processes), Bob one; a watcher
    on the second server sees them, one member per user; the first server is killed with
    SIGKILL, and its entries leave within the TTL, reaped by the survivor."""
    with own_redis(tmp_path) as redis_server:
        env = server_env(live_db, {"ENGINE": redis_server.url, "PRESENCE_TTL": 3})
        first_port, second_port = free_port(), free_port()
        with (
            serve(
                uvicorn_command(first_port), port=first_port, env=env, log_dir=tmp_path
            ) as doomed,
            serve(
                uvicorn_command(second_port), port=second_port, env=env, log_dir=tmp_path
            ) as kept,
        ):
            alice = {"Cookie": Browser(kept).login("alice").cookie_header()}
            bob = {"Cookie": Browser(kept).login("bob").cookie_header()}
            topic = f"board:{uuid.uuid4().hex[:8]}"
            async with contextlib.AsyncExitStack() as stack:

                async def tab(server, headers, state):
                    socket = await stack.enter_async_context(
                        connect(f"{server.ws}/courant/", additional_headers=headers)
                    )
                    assert (await _next(socket))["type"] == "hello"
                    subscribe = {"op": "subscribe", "id": 1, "topic": topic}
                    if state:
                        subscribe["presence"] = {"state": state}
                    await socket.send(json.dumps(subscribe))
                    assert (await _next(socket))["type"] == "subscribed"
                    assert (await _next(socket))["type"] == "presence"
                    return socket

                watcher = await tab(kept, {}, None)
                for server in (doomed, kept, doomed):
                    await tab(server, alice, "reading")
                bob_tab = await tab(doomed, bob, "reading")
                diffs = [await _next(watcher) for _ in range(4)]
                members = {}
                for diff in diffs:
                    members.update(diff.get("joins", {}))
                    members.update(diff.get("updates", {}))
                assert len(members) == 2  # alice and bob, however many tabs
                alice_key = next(k for k, metas in members.items() if len(metas) == 3)
                bob_key = next(k for k in members if k != alice_key)

                # A meta update arrives as an update.
                await bob_tab.send(
                    json.dumps(
                        {"op": "presence", "id": 2, "topic": topic, "meta": {"state": "editing"}}
                    )
                )
                update = await _next(watcher)
                assert update["updates"][bob_key] == [{"state": "editing", "name": "bob"}]

                os.kill(doomed.process.pid, signal.SIGKILL)
                doomed.process.wait(10)
                # Within the TTL (3 s) and a reap interval (1 s), plus slack.
                left: dict[str, object] = {}
                async with asyncio.timeout(15):
                    while bob_key not in left or len(members[alice_key]) != 1:
                        diff = await _next(watcher)
                        left.update(diff.get("leaves", {}))
                        members.update(diff.get("updates", {}))
                assert members[alice_key] == [{"state": "reading", "name": "alice"}]

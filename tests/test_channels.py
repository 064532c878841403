"""Channels and workers: point-to-point messages that reach exactly one receiver."""

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import threading
import uuid
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from websockets.asyncio.client import connect

import courant

from .live import ROOT, Browser, free_port, serve, server_env, uvicorn_command
from .redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix


class Recorder(courant.Worker):
    seen: list[tuple[Any, ...]]

    def __init__(self, channel):
        super().__init__(channel)
        self.seen = []
        self.done = asyncio.Event()

    async def job_async(self, message):
        self.seen.append(("async", message["n"]))
        if message.get("last"):
            self.done.set()

    def job_sync(self, message):  # plain def: runs on a worker thread
        self.seen.append(("sync", message["n"], threading.current_thread().name))

    def job_broken(self, message):
        raise RuntimeError("this job is broken")


async def run_until_done(worker, caplog):
    """Run ``worker`` until it has handled a message marked ``last``, logging warnings."""
    stop = asyncio.Event()
    with caplog.at_level(logging.WARNING, logger="courant.channels"):
        running = asyncio.ensure_future(worker.run(stop, poll=0.05))
        await asyncio.wait_for(worker.done.wait(), 10)
        stop.set()
        await running


@pytest.mark.parametrize(
    ("channel", "message", "error"),
    [
        ("", {"type": "x"}, courant.InvalidChannel),
        ("has space", {"type": "x"}, courant.InvalidChannel),
        ("jobs", {"no": "type"}, courant.EncodeError),
        ("jobs", ["not", "a", "dict"], courant.EncodeError),
        ("jobs", {"type": "x", "when": object()}, courant.EncodeError),
    ],
)
async def test_bad_channels_and_messages_are_refused_clearly(channel, message, error):
    with pytest.raises(error):
        await courant.asend(channel, message)
    with pytest.raises(error):
        await asyncio.to_thread(courant.send, channel, message)


async def test_a_worker_calls_the_method_named_by_the_type_and_survives_errors(caplog):
    worker = Recorder("jobs")
    for message in (
        {"type": "job.async", "n": 1},
        {"type": "job.sync", "n": 2},
        {"type": "job.broken"},
        {"type": "job.unknown"},
        {"type": "_private"},
        {"type": "job.async", "n": 3, "last": True},
    ):
        await courant.asend("jobs", message)
    await run_until_done(worker, caplog)
    assert worker.seen[0] == ("async", 1)
    assert worker.seen[1][:2] == ("sync", 2)
    assert worker.seen[1][2].startswith("courant-sync")
    assert worker.seen[2] == ("async", 3)
    text = caplog.text
    assert "this job is broken" in text
    assert "no handler for message type 'job.unknown'" in text
    assert "no handler for message type '_private'" in text


def test_the_worker_command_refuses_channels_it_has_no_worker_for():
    with pytest.raises(CommandError, match=r"No worker for channel 'nobody'.*it names: chat"):
        call_command("courant_worker", "nobody")


def test_the_worker_command_refuses_a_path_that_is_not_a_worker(settings):
    settings.COURANT = {"WORKERS": {"bad": "courant.Consumer"}}
    with pytest.raises(CommandError, match=r"not a courant\.Worker subclass"):
        call_command("courant_worker", "bad")


@pytest.fixture
def redis_env(live_db):
    """Settings for server processes on the test Redis, under a prefix of their own."""
    require_redis()
    prefix = new_prefix()
    url = with_prefix(REDIS_URL, prefix)
    yield url, server_env(live_db, {"ENGINE": url})
    delete_keys(REDIS_URL, prefix)


@pytest.fixture
def chat_worker(redis_env):
    """``manage.py courant_worker chat``, as a deployment runs it; yields its output."""
    output: list[str] = []
    worker = subprocess.Popen(
        [sys.executable, "example/manage.py", "courant_worker", "chat"],
        cwd=ROOT,
        env=redis_env[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield output
    worker.terminate()
    output.append(worker.communicate(timeout=20)[0].decode())
    assert "handling channel(s) chat" in output[0]
    assert "Courant worker stopped." in output[0]
    assert worker.returncode == 0, output[0]


async def test_a_worker_process_takes_work_sent_from_another_process(
    redis_env, chat_worker, tmp_path, settings
):
    """A view (here: the test) sends work; the chat worker, a separate process, stores a
    message and publishes it; the browser in the room sees it live."""
    url, env = redis_env
    port = free_port()
    with serve(uvicorn_command(port), port=port, env=env, log_dir=tmp_path) as server:
        alice = Browser(server).login("alice")
        room = uuid.uuid4().hex[:8]
        headers = {"Cookie": alice.cookie_header()}
        async with connect(f"{server.ws}/ws/chat/{room}/", additional_headers=headers) as ws:
            settings.COURANT = {"ENGINE": [url]}
            work = {"type": "chat.post", "room": room, "username": "bob", "text": "from a job"}
            await asyncio.to_thread(courant.send, "chat", work)
            event = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert (event["author"], event["text"]) == ("bob", "from a job")


async def test_a_worker_waits_out_an_engine_outage(monkeypatch, caplog):
    from courant.hub import get_hub

    engine = get_hub().engine
    real_receive = engine.receive
    failures = 3

    async def flaky(channel, timeout=None):
        nonlocal failures
        if failures:
            failures -= 1
            raise courant.EngineError("Redis at redis://x:6379/0: connection refused")
        return await real_receive(channel, timeout)

    monkeypatch.setattr(engine, "receive", flaky)
    worker = Recorder("flaky")
    await courant.asend("flaky", {"type": "job.async", "n": 1, "last": True})
    await run_until_done(worker, caplog)
    assert worker.seen == [("async", 1)]
    assert caplog.text.count("cannot be received") == 1
    assert "received again" in caplog.text


async def test_cancelled_receives_leave_nothing_behind():
    from courant.hub import get_hub

    engine = get_hub().engine
    for _ in range(100):
        waiting = asyncio.ensure_future(courant.areceive("idle"))
        await asyncio.sleep(0)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    assert "idle" not in engine._channels  # type: ignore[attr-defined]
    await courant.asend("idle", {"type": "x"})
    assert await courant.areceive("idle", timeout=1) == {"type": "x"}

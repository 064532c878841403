"""Recovery through the hub: joining with ``since``, and filling the gap a lost link left.

The join tests run on both engines; the link tests on the Redis engine, against the
shared test Redis (killing only this test's own pub/sub connection) or a redis-server
the test starts, stops and starts again.
"""

import asyncio
import logging
import re

import pytest
import redis

from courant.conf import Settings
from courant.engines import Engine, create_engine
from courant.exceptions import EngineError
from courant.history import History, Position
from courant.hub import Hub
from courant.message import Kind

from .redis_support import (
    REDIS_URL,
    delete_keys,
    new_prefix,
    own_redis,
    require_redis,
    with_prefix,
)


class Subscriber:
    direct = None  # not a connection: the hub calls deliver()

    def __init__(self):
        self.messages = []
        self.gaps = []
        self.arrived = asyncio.Event()

    def deliver(self, message):
        self.messages.append(message)
        self.arrived.set()

    def gap(self, topic, position):
        self.gaps.append((topic, position))
        self.arrived.set()

    @property
    def offsets(self):
        return [m.offset for m in self.messages]

    async def wait_for(self, predicate, timeout=10.0):
        async with asyncio.timeout(timeout):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture(params=["memory", "redis"])
async def engines(request):
    """A factory of engines that share topics: processes on one Redis, or one memory
    engine for every caller."""
    made: list[Engine] = []
    prefix = new_prefix()
    if request.param == "redis":
        require_redis()

    def make():
        if request.param == "memory" and made:
            return made[0]
        url = "memory://" if request.param == "memory" else with_prefix(REDIS_URL, prefix)
        made.append(create_engine([url], Settings(history=(("*", History(100, None)),))))
        return made[-1]

    yield make
    for engine in made:
        await engine.close()
    delete_keys(REDIS_URL, prefix)


async def test_join_since_hands_over_the_missed_messages_then_new_ones(engines):
    hub, publisher = Hub(engines()), engines()
    first = await publisher.publish("doc:1", Kind.TEXT, "seen")
    for text in ("a", "b", "c"):
        await publisher.publish("doc:1", Kind.TEXT, text)
    subscriber = Subscriber()
    recovery = await hub.join("doc:1", subscriber, since=Position(first.epoch, 1))
    assert recovery.recovered
    assert recovery.position == Position(first.epoch, 4)
    await publisher.publish("doc:1", Kind.TEXT, "d")
    await subscriber.wait_for(lambda: len(subscriber.messages) == 4)
    assert [m.payload for m in subscriber.messages] == ["a", "b", "c", "d"]
    assert subscriber.offsets == [2, 3, 4, 5]


async def test_join_without_since_starts_at_the_current_position(engines):
    hub, publisher = Hub(engines()), engines()
    await publisher.publish("doc:2", Kind.TEXT, "old")
    subscriber = Subscriber()
    recovery = await hub.join("doc:2", subscriber)
    assert not recovery.recovered
    assert recovery.position.offset == 1
    await publisher.publish("doc:2", Kind.TEXT, "new")
    await subscriber.wait_for(lambda: subscriber.messages)
    assert [(m.offset, m.payload) for m in subscriber.messages] == [(2, "new")]
    # A second subscriber whose position is current needs nothing recovered.
    other = Subscriber()
    assert await hub.join("doc:2", other, since=Position(recovery.position.epoch, 2)) == (
        type(recovery)(True, Position(recovery.position.epoch, 2))
    )


async def test_join_since_another_epoch_cannot_recover_but_still_joins(engines):
    hub, publisher = Hub(engines()), engines()
    await publisher.publish("doc:3", Kind.TEXT, "x")
    subscriber = Subscriber()
    recovery = await hub.join("doc:3", subscriber, since=Position("gone", 10))
    assert (recovery.recovered, recovery.messages) == (False, ())
    await publisher.publish("doc:3", Kind.TEXT, "live")
    await subscriber.wait_for(lambda: subscriber.messages)
    assert subscriber.offsets == [2]


async def test_joins_racing_a_stream_of_publishes_see_no_hole_and_no_repeat(engines):
    hub, publisher = Hub(engines()), engines()
    first = await publisher.publish("busy", Kind.TEXT, "0")
    await hub.join("busy", Subscriber())  # the process is subscribed and streaming

    async def publish_many():
        for index in range(60):
            await publisher.publish("busy", Kind.TEXT, str(index))
            if index % 5 == 0:
                await asyncio.sleep(0.001)

    joiners = [Subscriber() for _ in range(10)]

    async def join_late(subscriber, delay):
        await asyncio.sleep(delay)
        return await hub.join("busy", subscriber, since=Position(first.epoch, 1))

    results = await asyncio.gather(
        publish_many(), *(join_late(s, i * 0.003) for i, s in enumerate(joiners))
    )
    for recovery, subscriber in zip(results[1:], joiners, strict=True):
        assert recovery.recovered
        await subscriber.wait_for(lambda s=subscriber: len(s.messages) == 60)
        assert subscriber.offsets == list(range(2, 62))


# -- a lost link, on the Redis engine ----------------------------------------------------


def _kill_link(url, engine):
    """Close this engine's pub/sub connection from the Redis side, as a network blip or a
    server-side timeout would."""
    name = engine.servers[0].link_name
    client = redis.Redis.from_url(url)
    try:
        ids = [c["id"] for c in client.client_list() if c.get("name") == name]
        assert ids, f"no pub/sub connection named {name}"
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
    finally:
        client.close()


@pytest.fixture
def redis_prefix():
    require_redis()
    prefix = new_prefix()
    yield prefix
    delete_keys(REDIS_URL, prefix)


@pytest.fixture
async def linked(redis_prefix):
    """A subscribing process (its engine and hub, a subscriber) and a publishing one."""
    url = with_prefix(REDIS_URL, redis_prefix)
    engine, publisher = create_engine([url], Settings()), create_engine([url], Settings())
    yield engine, publisher, Hub(engine), Subscriber()
    await engine.close()
    await publisher.close()


async def test_messages_published_while_the_link_was_down_are_recovered_in_order(linked, caplog):
    engine, publisher, hub, subscriber = linked
    await hub.join("live", subscriber)
    for index in range(3):
        await publisher.publish("live", Kind.TEXT, f"before {index}")
    await subscriber.wait_for(lambda: len(subscriber.messages) == 3)
    with caplog.at_level(logging.WARNING, logger="courant.engines.redis"):
        _kill_link(REDIS_URL, engine)
        for index in range(5):  # the link is down or coming back: these are in history
            await publisher.publish("live", Kind.TEXT, f"during {index}")
        await subscriber.wait_for(lambda: len(subscriber.messages) == 8)
        await publisher.publish("live", Kind.TEXT, "after")
        await subscriber.wait_for(lambda: len(subscriber.messages) == 9)
    assert subscriber.offsets == list(range(1, 10))
    assert subscriber.gaps == []
    lost = [r for r in caplog.records if "Lost the pub/sub link" in r.getMessage()]
    assert len(lost) == 1


async def test_a_link_that_comes_back_without_the_history_reports_a_gap(linked, redis_prefix):
    engine, publisher, hub, subscriber = linked
    await hub.join("wiped", subscriber)
    old = await publisher.publish("wiped", Kind.TEXT, "old")
    await subscriber.wait_for(lambda: subscriber.messages)
    _kill_link(REDIS_URL, engine)
    delete_keys(REDIS_URL, redis_prefix)  # as a restart without persistence would
    await subscriber.wait_for(lambda: subscriber.gaps)
    topic, position = subscriber.gaps[0]
    assert topic == "wiped"
    assert position.epoch != old.epoch
    new = await publisher.publish("wiped", Kind.TEXT, "new")
    await subscriber.wait_for(lambda: len(subscriber.messages) == 2)
    assert subscriber.messages[-1].payload == "new"
    assert (new.epoch, new.offset) == (position.epoch, position.offset + 1)


async def test_an_unreachable_redis_fails_the_first_operation_quickly():
    with own_redis_port() as port:
        engine = create_engine([f"redis://127.0.0.1:{port}/0"], Settings())
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(EngineError, match=re.escape(f"127.0.0.1:{port}")):
            await engine.publish("t", Kind.TEXT, "x")
        with pytest.raises(EngineError, match=r"unreachable|cannot reach"):
            await Hub(engine).join("t", Subscriber())
        assert loop.time() - started < 10  # a clear error, not a hang
        await engine.close()


class own_redis_port:
    """A port nothing listens on."""

    def __enter__(self):
        from .live import free_port

        return free_port()

    def __exit__(self, *exc):
        return False


async def test_a_redis_restart_is_survived_and_reported(tmp_path, caplog):
    with own_redis(tmp_path) as server:
        engine = create_engine([server.url], Settings())
        hub = Hub(engine)
        subscriber = Subscriber()
        try:
            await hub.join("restart", subscriber)
            before = await engine.publish("restart", Kind.TEXT, "before")
            await subscriber.wait_for(lambda: subscriber.messages)
            with caplog.at_level(logging.WARNING, logger="courant.engines.redis"):
                server.stop()
                for _ in range(3):
                    with pytest.raises(EngineError):
                        await engine.publish("restart", Kind.TEXT, "lost")
                server.start()
                await subscriber.wait_for(lambda: subscriber.gaps, timeout=20)
            assert subscriber.gaps[0][1].epoch != before.epoch  # the history died with it
            after = await engine.publish("restart", Kind.TEXT, "after")
            await subscriber.wait_for(lambda: len(subscriber.messages) == 2)
            assert subscriber.messages[-1].payload == "after"
            assert after.offset == 1
            warnings = [r.getMessage() for r in caplog.records]
            assert sum("Lost the pub/sub link" in w for w in warnings) == 1
            assert sum("is back after" in w for w in warnings) == 1
        finally:
            await engine.close()


async def test_history_with_a_hole_never_recovers(redis_prefix):
    """A process that keeps no history (other HISTORY settings, as during a rolling deploy)
    still takes an offset: recovering across it must say so, not skip it."""
    url = with_prefix(REDIS_URL, redis_prefix)
    keeping = create_engine([url], Settings(history=(("*", History(10, None)),)))
    forgetting = create_engine([url], Settings(history=(("*", History(0, None)),)))
    try:
        first = await keeping.publish("holes", Kind.TEXT, "1")
        await forgetting.publish("holes", Kind.TEXT, "2")
        await keeping.publish("holes", Kind.TEXT, "3")
        recovery = await keeping.recover("holes", Position(first.epoch, 1))
        assert (recovery.recovered, recovery.messages) == (False, ())
        # What is contiguous still recovers.
        assert (await keeping.recover("holes", Position(first.epoch, 2))).recovered
    finally:
        await keeping.close()
        await forgetting.close()


async def test_a_link_that_keeps_dropping_backs_off_instead_of_spinning():
    """A server that accepts and at once closes (a misbehaving proxy) is retried with a
    growing delay, not in a tight loop."""
    accepted = 0

    async def slam(reader, writer):
        nonlocal accepted
        accepted += 1
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = create_engine([f"redis://127.0.0.1:{port}/0"], Settings())
    try:
        with pytest.raises(EngineError):
            await Hub(engine).join("t", Subscriber())
        await asyncio.sleep(1.5)
        # 50 ms doubling up to 5 s: about six attempts in 1.5 s, never hundreds.
        assert 2 <= accepted <= 12
    finally:
        await engine.close()
        server.close()

"""Spreading topics over several Redis servers by consistent hashing."""

import asyncio
import collections
import contextlib

import pytest
import redis

from courant.conf import Settings
from courant.engines import create_engine
from courant.engines.redis import RedisEngine
from courant.engines.sharding import HashRing
from courant.history import Position
from courant.hub import Hub
from courant.message import Kind

from .redis_support import own_redis
from .test_recovery import Subscriber

TOPICS = [f"doc:{index}" for index in range(20_000)]


def test_topics_spread_evenly_over_the_servers():
    ring = HashRing([(f"redis://10.0.0.{i}:6379/0", i) for i in range(3)])
    counts = collections.Counter(ring.node_for(topic) for topic in TOPICS)
    assert set(counts) == {0, 1, 2}
    for count in counts.values():
        assert abs(count - len(TOPICS) / 3) < len(TOPICS) * 0.05


@pytest.mark.parametrize("servers", [1, 2, 3, 4])
def test_adding_a_server_moves_only_its_share_of_the_topics(servers):
    keys = [f"redis://10.0.0.{i}:6379/0" for i in range(servers + 1)]
    before = HashRing([(key, key) for key in keys[:-1]])
    after = HashRing([(key, key) for key in keys])
    moved = [topic for topic in TOPICS if before.node_for(topic) != after.node_for(topic)]
    share = 1 / (servers + 1)
    assert abs(len(moved) / len(TOPICS) - share) < 0.05
    # Every topic that moved, moved to the new server: none is shuffled between old ones.
    assert {after.node_for(topic) for topic in moved} == {keys[-1]}


def test_the_order_of_the_list_does_not_matter():
    nodes = [(f"redis://h{i}:6379/0", i) for i in range(3)]
    forward, backward = HashRing(nodes), HashRing(nodes[::-1])
    assert all(forward.node_for(t) == backward.node_for(t) for t in TOPICS[:2000])


def test_a_server_listed_twice_is_refused():
    with pytest.raises(ValueError, match="listed twice"):
        HashRing([("redis://a:6379/0", 1), ("redis://a:6379/0", 2)])


async def test_each_topic_lives_wholly_on_one_of_several_redis_servers(tmp_path):
    for index in range(3):
        (tmp_path / str(index)).mkdir()
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(own_redis(tmp_path / str(index))) for index in range(3)]
        urls = [server.url for server in servers]
        engine = RedisEngine(urls, Settings())
        other_process = create_engine(urls, Settings())
        hub = Hub(engine)
        topics = [f"room:{index}" for index in range(30)]

        subscriber = Subscriber()
        try:
            for topic in topics:
                await hub.join(topic, subscriber)
            for round_ in range(3):
                await asyncio.gather(
                    *(other_process.publish(t, Kind.TEXT, f"{t}/{round_}") for t in topics)
                )
            await subscriber.wait_for(lambda: len(subscriber.messages) == 90)
            by_topic: dict[str, list[int]] = collections.defaultdict(list)
            for message in subscriber.messages:
                by_topic[message.topic].append(message.offset)
            assert all(offsets == [1, 2, 3] for offsets in by_topic.values())
            assert len(by_topic) == 30

            # Each topic's keys are on exactly the server the ring names, nowhere else.
            holders: collections.Counter[str] = collections.Counter()
            for topic in topics:
                found = [
                    server.url
                    for server in servers
                    if redis.Redis(port=server.port).exists(f"courant:m:{topic}")
                ]
                assert found == [engine.server_for(topic).address.client_url], topic
                holders[found[0]] += 1
            assert len(holders) == 3  # 30 topics use all three servers

            # Recovery reads each topic's history from its own server.
            for topic in topics[:5]:
                epoch = next(m.epoch for m in subscriber.messages if m.topic == topic)
                recovery = await engine.recover(topic, Position(epoch, 0))
                assert [m.payload for m in recovery.messages] == [f"{topic}/{r}" for r in range(3)]
        finally:
            await engine.close()
            await other_process.close()

"""courant.stats(): this process's engine and counts, with passwords kept out of sight."""

import pytest
from django.test import override_settings

import courant
from courant.hub import reset_hub
from courant.status import masked_url
from courant.testing import WebSocketClient
from tests.asgi import application


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("memory://", "memory://"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:s3cret@10.0.0.5:6379/0", "redis://:***@10.0.0.5:6379/0"),
        (
            "rediss://app:s3cret@redis.example.com:6380/1",
            "rediss://app:***@redis.example.com:6380/1",
        ),
        (
            "redis://10.0.0.5/0?password=s3cret&prefix=a:",
            "redis://10.0.0.5/0?password=***&prefix=a%3A",
        ),
        ("unix:///run/redis/redis.sock?db=0", "unix:///run/redis/redis.sock?db=0"),
    ],
)
def test_passwords_are_masked_and_the_rest_of_the_url_kept(url, shown):
    assert masked_url(url) == shown
    assert "s3cret" not in masked_url(url)


async def test_stats_count_this_process_connections_and_topics():
    assert courant.stats() == {
        "engine": "memory",
        "engine_class": "courant.engines.memory.MemoryEngine",
        "urls": ["memory://"],
        "connections": 0,
        "topics": 0,
    }
    async with (
        WebSocketClient(application, "/ws/bench/one/"),
        WebSocketClient(application, "/ws/bench/two/") as second,
    ):
        assert (courant.stats()["connections"], courant.stats()["topics"]) == (2, 2)
        await second.disconnect()
        assert (courant.stats()["connections"], courant.stats()["topics"]) == (1, 1)
    assert (courant.stats()["connections"], courant.stats()["topics"]) == (0, 0)


def test_stats_show_the_configured_engine_without_its_password():
    # Building the hub connects nothing: the Redis engine links up on first use.
    url = "redis://:s3cret@127.0.0.1:6379/0"
    with override_settings(COURANT={"ENGINE": url}):
        reset_hub()
        shown = courant.stats()
    assert shown["engine"] == "redis"
    assert shown["engine_class"] == "courant.engines.redis.RedisEngine"
    assert shown["urls"] == ["redis://:***@127.0.0.1:6379/0"]
    assert shown["connections"] == 0

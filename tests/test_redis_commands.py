"""The Redis engine's command connection: how publishes and the other scripts reach Redis.

Against the shared test Redis. A few tests pause it (``CLIENT PAUSE ... WRITE``, for at
most two seconds, always undone) to hold a command in flight, and kill only this test's
own connections, found by the name the engine gives them.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis

import courant.engines.redis as redis_engine
from courant.conf import Settings
from courant.engines import create_engine
from courant.engines.redis import RedisEngine
from courant.exceptions import EngineError
from courant.history import Position
from courant.message import Kind

from .redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix


@pytest.fixture
def prefix() -> Iterator[str]:
    require_redis()
    prefix = new_prefix()
    yield prefix
    delete_keys(REDIS_URL, prefix)


@pytest.fixture
async def engine(prefix: str) -> AsyncIterator[RedisEngine]:
    engine = create_engine([with_prefix(REDIS_URL, prefix)], Settings())
    assert isinstance(engine, RedisEngine)
    yield engine
    await engine.close()


@pytest.fixture
def admin() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    yield client
    client.client_unpause()
    client.close()


def command_connections(admin: redis.Redis, engine: RedisEngine) -> list[dict[str, Any]]:
    name = engine.servers[0].client_name
    return [c for c in admin.client_list() if c["name"] == name]


async def wait_until_held(admin: redis.Redis, engine: RedisEngine) -> None:
    """Until Redis holds this engine's command connection (paused) in the middle of
    a command: Redis is polled, as nothing tells."""
    for _ in range(250):
        if any(c["cmd"] in ("evalsha", "eval") for c in command_connections(admin, engine)):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("Redis never held the command")


async def test_concurrent_publishes_share_one_connection_and_keep_their_order(engine, admin):
    sent = [f"message {index}" for index in range(300)]
    messages = await asyncio.gather(*(engine.publish("t", Kind.TEXT, text) for text in sent))
    # One process's publishes reach Redis in the order they were made.
    assert [m.offset for m in messages] == list(range(1, 301))
    assert [m.payload for m in messages] == sent
    assert len(command_connections(admin, engine)) == 1


async def test_scripts_flushed_from_redis_are_loaded_again(engine, admin):
    first = await engine.publish("t", Kind.TEXT, "before")
    admin.script_flush()  # as a restart or a failover to a replica would
    second = await engine.publish("t", Kind.TEXT, "after")
    assert second.offset == first.offset + 1
    assert (await engine.position("t")).offset == 2


async def test_a_publish_cut_off_in_flight_fails_and_is_never_sent_again(engine, admin):
    first = await engine.publish("t", Kind.TEXT, "1")
    admin.client_pause(2000, all=False)  # writes wait: the next publish is held
    publishing = asyncio.create_task(engine.publish("t", Kind.TEXT, "held"))
    await wait_until_held(admin, engine)
    admin.execute_command("CLIENT", "KILL", "ID", command_connections(admin, engine)[0]["id"])
    with pytest.raises(EngineError, match=r"lost the connection to Redis at redis://127\.0\.0\.1"):
        await publishing
    admin.client_unpause()
    # The held publish did not run, and was not sent again on the new connection.
    again = await engine.publish("t", Kind.TEXT, "2")
    assert again.offset == first.offset + 1
    recovery = await engine.recover("t", Position(first.epoch, first.offset))
    assert [m.payload for m in recovery.messages] == ["2"]


async def test_reading_a_position_is_retried_on_a_new_connection(engine, admin):
    await engine.publish("t", Kind.TEXT, "1")
    admin.client_pause(2000, all=False)
    reading = asyncio.create_task(engine.position("t"))
    await wait_until_held(admin, engine)
    admin.execute_command("CLIENT", "KILL", "ID", command_connections(admin, engine)[0]["id"])
    await asyncio.sleep(0.1)
    admin.client_unpause()
    position = await reading  # no error: reading twice is harmless
    assert position.offset == 1


async def test_a_redis_that_stops_answering_fails_commands_then_recovers(
    engine, admin, monkeypatch
):
    monkeypatch.setattr(redis_engine, "ANSWER_TIMEOUT", 0.3)
    await engine.publish("t", Kind.TEXT, "1")
    admin.client_pause(2000, all=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(
        EngineError, match=r"no answer in 0.3s from Redis at redis://127\.0\.0\.1:\d+/0"
    ):
        await engine.publish("t", Kind.TEXT, "unanswered")
    assert loop.time() - started < 1.5
    admin.client_unpause()
    after = await engine.publish("t", Kind.TEXT, "after")
    assert after.payload == "after"
    assert len(command_connections(admin, engine)) == 1  # the silent one was closed


async def test_the_database_number_in_the_url_is_used(prefix):
    url = with_prefix(REDIS_URL.rsplit("/", 1)[0] + "/7", prefix)
    engine = create_engine([url], Settings())
    db7 = redis.Redis.from_url(url.split("?")[0], socket_connect_timeout=2)
    db0 = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await engine.publish("numbered", Kind.TEXT, "x")
        assert db7.exists(f"{prefix}m:numbered")
        assert not db0.exists(f"{prefix}m:numbered")
    finally:
        await engine.close()
        db7.delete(*db7.keys(f"{prefix}*"))
        db7.close()
        db0.close()


async def test_a_user_and_password_in_the_url_are_used_and_a_wrong_one_is_named(prefix, admin):
    user, password = f"courant-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    host = REDIS_URL.split("://", 1)[1]
    good = create_engine([with_prefix(f"redis://{user}:{password}@{host}", prefix)], Settings())
    wrong = uuid.uuid4().hex
    bad = create_engine([with_prefix(f"redis://{user}:{wrong}@{host}", prefix)], Settings())
    try:
        message = await good.publish("private", Kind.TEXT, "x")
        assert message.offset == 1
        with pytest.raises(
            EngineError, match=r"Redis at redis://127\.0\.0\.1:\d+/0: WRONGPASS"
        ) as info:
            await bad.publish("private", Kind.TEXT, "y")
        assert wrong not in str(info.value)  # the URL is shown without its password
    finally:
        await good.close()
        await bad.close()
        admin.acl_deluser(user)

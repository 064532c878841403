"""The engine conformance suite: every engine keeps the same promises.

Each test runs against the memory engine and against the Redis engine on a real Redis
(with a key prefix of its own, deleted afterwards).
"""

import asyncio
import threading

import pytest

from courant.conf import Settings
from courant.engines import Engine, create_engine
from courant.exceptions import ChannelFull
from courant.history import History, Position
from courant.message import Kind, Message

from .redis_support import REDIS_URL, delete_keys, new_prefix, require_redis, with_prefix

HISTORY = (
    ("small:*", History(3, None)),
    ("brief:*", History(10, 0.3)),
    ("none:*", History(0, None)),
)


class Listener:
    """Stands in for the hub: keeps what the engine hands over."""

    def __init__(self):
        self.messages: list[Message] = []
        self.arrived = asyncio.Event()
        self.restored: list[str] = []

    def fan_out(self, message):
        self.messages.append(message)
        self.arrived.set()

    def link_restored(self, topics):
        self.restored.extend(topics)

    async def wait_for(self, count, timeout=5.0):
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.messages


@pytest.fixture(params=["memory", "redis"])
async def make_engine(request):
    """Build engines of one kind (several share state, like processes on one Redis)."""
    engines: list[Engine] = []
    prefix = new_prefix()
    if request.param == "redis":
        require_redis()

    def make(**options):
        settings = Settings(history=HISTORY, **options)
        if request.param == "memory":
            if engines:
                return engines[0]  # one process: one engine
            url = "memory://"
        else:
            url = with_prefix(REDIS_URL, prefix)
        engine = create_engine([url], settings)
        engine.bind(Listener())
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.close()
    if request.param == "redis":
        delete_keys(REDIS_URL, prefix)


async def test_offsets_grow_by_one_per_topic_under_one_epoch(make_engine):
    engine = make_engine()
    first = [await engine.publish("a", Kind.TEXT, str(i)) for i in range(5)]
    other = await engine.publish("b", Kind.TEXT, "x")
    assert [m.offset for m in first] == [1, 2, 3, 4, 5]
    assert len({m.epoch for m in first}) == 1
    assert other.offset == 1
    assert await engine.position("a") == Position(first[0].epoch, 5)


async def test_a_new_topic_has_a_stable_epoch_at_offset_zero(make_engine):
    engine = make_engine()
    position = await engine.position("fresh")
    assert position.offset == 0
    assert await engine.position("fresh") == position
    message = await engine.publish("fresh", Kind.TEXT, "first")
    assert (message.epoch, message.offset) == (position.epoch, 1)


async def test_only_subscribed_topics_are_delivered_in_order(make_engine):
    engine = make_engine()
    listener = engine._listener
    await engine.publish("t", Kind.TEXT, "before")
    await engine.subscribe("t")
    sent = [await engine.publish("t", Kind.JSON, f'{{"n": {i}}}') for i in range(20)]
    await engine.publish("other", Kind.TEXT, "not subscribed")
    got = await listener.wait_for(20)
    assert [(m.topic, m.offset, m.data) for m in got] == [
        ("t", m.offset, {"n": i}) for i, m in enumerate(sent)
    ]
    await engine.unsubscribe("t")
    await engine.publish("t", Kind.TEXT, "after")
    await engine.flush("t")
    await asyncio.sleep(0.05)
    assert len(listener.messages) == 20


async def test_every_kind_of_payload_survives_delivery_and_history(make_engine):
    engine = make_engine()
    await engine.subscribe("kinds")
    start = await engine.position("kinds")
    payloads = [(Kind.TEXT, "héllo\nworld"), (Kind.BINARY, b"\x00\xff\n"), (Kind.JSON, "[1]")]
    for kind, payload in payloads:
        await engine.publish("kinds", kind, payload)
    delivered = await engine._listener.wait_for(3)
    recovery = await engine.recover("kinds", start)
    for messages in (delivered, recovery.messages):
        assert [(m.kind, m.payload) for m in messages] == payloads


async def test_concurrent_publishers_never_share_or_skip_an_offset(make_engine):
    # Two engines on one Redis are two processes; the memory engine is shared by threads.
    first, second = make_engine(), make_engine()
    await first.subscribe("race")

    def publish_from_thread():
        return [second.publish_blocking("race", Kind.TEXT, "thread") for _ in range(50)]

    thread_result: list[Message] = []
    thread = threading.Thread(target=lambda: thread_result.extend(publish_from_thread()))
    thread.start()
    results = await asyncio.gather(
        *(engine.publish("race", Kind.TEXT, "async") for engine in (first, second) * 50)
    )
    await asyncio.to_thread(thread.join)
    offsets = sorted(m.offset for m in [*results, *thread_result])
    assert offsets == list(range(1, 151))
    delivered = await first._listener.wait_for(150)
    assert [m.offset for m in delivered] == list(range(1, 151))


async def test_recovery_returns_exactly_what_was_missed(make_engine):
    engine = make_engine()
    seen = await engine.publish("chat:1", Kind.TEXT, "seen")
    missed = [await engine.publish("chat:1", Kind.TEXT, f"missed {i}") for i in range(4)]
    recovery = await engine.recover("chat:1", Position(seen.epoch, seen.offset))
    assert recovery.recovered
    assert [(m.offset, m.payload) for m in recovery.messages] == [
        (m.offset, m.payload) for m in missed
    ]
    assert recovery.position == Position(seen.epoch, 5)
    up_to_date = await engine.recover("chat:1", recovery.position)
    assert (up_to_date.recovered, up_to_date.messages) == (True, ())


async def test_history_keeps_the_last_n_and_refuses_to_recover_past_them(make_engine):
    engine = make_engine()
    sent = [await engine.publish("small:1", Kind.TEXT, str(i)) for i in range(1, 6)]
    epoch = sent[0].epoch
    kept = await engine.recover("small:1", Position(epoch, 2))
    assert kept.recovered
    assert [m.payload for m in kept.messages] == ["3", "4", "5"]
    # Message 2 was trimmed: a list from 3 on would hide the hole.
    lost = await engine.recover("small:1", Position(epoch, 1))
    assert (lost.recovered, lost.messages, lost.position) == (False, (), Position(epoch, 5))


async def test_history_expires_after_its_ttl(make_engine):
    engine = make_engine()
    first = await engine.publish("brief:1", Kind.TEXT, "soon gone")
    since = Position(first.epoch, 0)
    assert (await engine.recover("brief:1", since)).recovered
    await asyncio.sleep(0.5)
    assert not (await engine.recover("brief:1", since)).recovered
    # The offset carries on; only the history is gone.
    assert (await engine.publish("brief:1", Kind.TEXT, "next")).offset == 2


async def test_a_topic_without_history_recovers_only_when_nothing_was_missed(make_engine):
    engine = make_engine()
    message = await engine.publish("none:1", Kind.TEXT, "x")
    current = Position(message.epoch, 1)
    assert (await engine.recover("none:1", current)).recovered
    assert not (await engine.recover("none:1", Position(message.epoch, 0))).recovered


@pytest.mark.parametrize(
    "since", [Position("another-epoch", 1), Position("", 0), "ahead", "negative"]
)
async def test_a_position_from_another_epoch_or_out_of_range_cannot_recover(make_engine, since):
    engine = make_engine()
    message = await engine.publish("chat:2", Kind.TEXT, "x")
    if since == "ahead":
        since = Position(message.epoch, 7)
    elif since == "negative":
        since = Position(message.epoch, -1)
    recovery = await engine.recover("chat:2", since)
    assert (recovery.recovered, recovery.messages) == (False, ())
    assert recovery.position == Position(message.epoch, 1)


async def test_channels_deliver_each_message_once_in_order(make_engine):
    sender, worker_a, worker_b = make_engine(), make_engine(), make_engine()
    for index in range(20):
        await sender.send("jobs", f"job {index}".encode())
    taken: list[bytes] = []

    async def work(engine):
        while (payload := await engine.receive("jobs", timeout=0.3)) is not None:
            taken.append(payload)

    await asyncio.gather(work(worker_a), work(worker_b))
    assert sorted(taken) == sorted(f"job {i}".encode() for i in range(20))
    assert len(taken) == 20
    assert await worker_a.receive("jobs", timeout=0.05) is None


async def test_receive_waits_for_a_send(make_engine):
    sender, worker = make_engine(), make_engine()
    waiting = asyncio.ensure_future(worker.receive("wake", timeout=5))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await asyncio.to_thread(sender.send_blocking, "wake", b"now")
    assert await waiting == b"now"


async def test_a_full_channel_refuses_and_expired_messages_are_dropped(make_engine):
    engine = make_engine(channel_capacity=2, channel_expiry=0.3)
    await engine.send("full", b"1")
    await engine.send("full", b"2")
    with pytest.raises(ChannelFull, match="CHANNEL_CAPACITY"):
        await engine.send("full", b"3")
    await asyncio.sleep(0.4)
    # Both expired unreceived: they neither count against the capacity nor arrive.
    await engine.send("full", b"4")
    assert await engine.receive("full", timeout=0.2) == b"4"
    assert await engine.receive("full", timeout=0.05) is None


# -- presence --------------------------------------------------------------------------


async def test_presence_changes_are_stored_and_published_in_order(make_engine):
    engine = make_engine()
    listener = engine._listener
    await engine.subscribe("courant:presence:doc:1")
    assert await engine.presence_set("doc:1", "p:1", "ada", '{"s":"reading"}', 30, 100)
    assert await engine.presence_set("doc:1", "p:2", "ada", '{"s":"editing"}', 30, 100)
    assert await engine.presence_set("doc:1", "p:1", "ada", '{"s":"editing"}', 30, 100)
    assert await engine.presence_set("doc:1", "p:1", "ada", '{"s":"editing"}', 30, 100)  # same
    await engine.presence_remove("doc:1", ["p:2", "never"])
    await engine.flush("courant:presence:doc:1")
    events = [m.data for m in await listener.wait_for(4)]
    assert [(e["op"], e["id"]) for e in events] == [
        ("set", "p:1"),
        ("set", "p:2"),
        ("set", "p:1"),
        ("del", "p:2"),
    ]
    assert events[0] == {"op": "set", "id": "p:1", "key": "ada", "meta": {"s": "reading"}}
    entries, position = await engine.presence_snapshot("doc:1")
    assert {k: (e.key, e.meta) for k, e in entries.items()} == {"p:1": ("ada", {"s": "editing"})}
    assert position.offset == listener.messages[-1].offset  # the snapshot reflects them all


async def test_presence_is_shared_between_processes(make_engine):
    first, second = make_engine(), make_engine()
    await first.presence_set("doc:2", "a:1", "ada", "{}", 30, 100)
    await second.presence_set("doc:2", "b:1", "bob", "{}", 30, 100)
    entries, _ = await first.presence_snapshot("doc:2")
    assert sorted(e.key for e in entries.values()) == ["ada", "bob"]


async def test_unrefreshed_presence_expires_and_is_reaped_with_a_leave(make_engine):
    engine = make_engine()
    await engine.subscribe("courant:presence:doc:3")
    await engine.presence_set("doc:3", "gone:1", "ghost", "{}", 0.2, 100)
    await engine.presence_set("doc:3", "kept:1", "ada", "{}", 0.2, 100)
    await asyncio.sleep(0.1)
    assert await engine.presence_refresh("doc:3", ["kept:1", "never:1"], 30) == ["never:1"]
    await asyncio.sleep(0.2)
    entries, _ = await engine.presence_snapshot("doc:3")
    assert list(entries) == ["kept:1"]  # an expired entry is not shown, even unreaped
    assert await engine.presence_reap("doc:3") == 1
    assert await engine.presence_reap("doc:3") == 0
    await engine.flush("courant:presence:doc:3")
    events = [m.data for m in await engine._listener.wait_for(3)]
    assert events[-1] == {"op": "del", "id": "gone:1"}


async def test_presence_entries_per_topic_are_capped(make_engine):
    engine = make_engine()
    assert await engine.presence_set("doc:4", "1", "a", "{}", 30, 2)
    assert await engine.presence_set("doc:4", "2", "b", "{}", 30, 2)
    assert not await engine.presence_set("doc:4", "3", "c", "{}", 30, 2)
    assert await engine.presence_set("doc:4", "2", "b", '{"x":1}', 30, 2)  # an update fits
    entries, _ = await engine.presence_snapshot("doc:4")
    assert sorted(entries) == ["1", "2"]

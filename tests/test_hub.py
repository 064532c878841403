import asyncio
import threading

import pytest

from courant import EngineError
from courant.engines.memory import MemoryEngine
from courant.hub import Hub
from courant.message import Kind, Message


class Recorder:
    """A subscriber that keeps what it is given."""

    direct = None  # not a connection: the hub calls deliver()

    def __init__(self):
        self.messages: list[Message] = []

    def deliver(self, message):
        self.messages.append(message)

    def gap(self, topic, position):
        raise AssertionError(f"no gap expected in {topic}")


class CountingEngine(MemoryEngine):
    """The memory engine, counting the process-level subscriptions the hub asks for."""

    def __init__(self):
        super().__init__("memory://")
        self.calls: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def subscribe(self, topic):
        self.calls.append(("subscribe", topic))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("engine down")
        await super().subscribe(topic)

    async def unsubscribe(self, topic):
        self.calls.append(("unsubscribe", topic))
        await super().unsubscribe(topic)


async def test_every_subscriber_gets_each_message_in_offset_order():
    hub = Hub(MemoryEngine("memory://"))
    subscribers = [Recorder() for _ in range(3)]
    for subscriber in subscribers:
        await hub.join("room", subscriber)
    for index in range(50):
        await hub.publish("room", Kind.TEXT, f"m{index}")
    for subscriber in subscribers:
        assert [m.offset for m in subscriber.messages] == list(range(1, 51))
        assert [m.payload for m in subscriber.messages] == [f"m{i}" for i in range(50)]


async def test_one_message_object_is_shared_by_all_subscribers():
    hub = Hub(MemoryEngine("memory://"))
    subscribers = [Recorder() for _ in range(100)]
    for subscriber in subscribers:
        await hub.join("room", subscriber)
    await hub.publish("room", Kind.JSON, '{"x":1}')
    first = subscribers[0].messages[0]
    assert all(s.messages[0] is first for s in subscribers)


async def test_process_subscribes_once_per_topic_and_unsubscribes_after_the_last():
    engine = CountingEngine()
    hub = Hub(engine)
    a, b, c = Recorder(), Recorder(), Recorder()
    for subscriber in (a, b, c):
        await hub.join("t", subscriber)
    assert engine.calls == [("subscribe", "t")]
    await hub.leave("t", a)
    await hub.leave("t", b)
    assert engine.calls == [("subscribe", "t")]
    await hub.leave("t", c)
    assert engine.calls == [("subscribe", "t"), ("unsubscribe", "t")]
    assert hub.subscribers("t") == 0
    assert hub.stats()["topics"] == 0


async def test_leaving_stops_delivery_and_leaves_nothing_behind():
    hub = Hub(MemoryEngine("memory://"))
    stays, goes = Recorder(), Recorder()
    await hub.join("t", stays)
    await hub.join("t", goes)
    await hub.publish("t", Kind.TEXT, "both")
    await hub.leave("t", goes)
    await hub.leave("t", goes)  # twice is harmless
    await hub.publish("t", Kind.TEXT, "one")
    assert [m.payload for m in goes.messages] == ["both"]
    assert [m.payload for m in stays.messages] == ["both", "one"]
    assert hub.subscribers("t") == 1


async def test_joins_during_a_pending_subscription_wait_for_it():
    engine = CountingEngine()
    engine.gate = asyncio.Event()
    hub = Hub(engine)
    first, second = Recorder(), Recorder()
    joins = asyncio.gather(hub.join("t", first), hub.join("t", second))
    await asyncio.sleep(0.01)
    assert hub.subscribers("t") == 0  # neither has returned before the engine confirmed
    engine.gate.set()
    await joins
    await hub.publish("t", Kind.TEXT, "x")
    assert engine.calls == [("subscribe", "t")]
    assert len(first.messages) == len(second.messages) == 1


async def test_a_failed_subscription_fails_every_waiting_join_and_registers_nothing():
    engine = CountingEngine()
    engine.gate = asyncio.Event()
    engine.fail = True
    hub = Hub(engine)
    joins = asyncio.gather(
        hub.join("t", Recorder()), hub.join("t", Recorder()), return_exceptions=True
    )
    await asyncio.sleep(0.01)
    engine.gate.set()
    results = await joins
    assert all(isinstance(r, EngineError) and "engine down" in str(r) for r in results)
    assert hub.subscribers("t") == 0
    engine.fail = False
    again = Recorder()
    await hub.join("t", again)  # the next join tries again
    assert hub.subscribers("t") == 1


async def test_a_failing_subscriber_does_not_stop_the_fan_out():
    class Broken(Recorder):
        def deliver(self, message):
            raise RuntimeError("boom")

    hub = Hub(MemoryEngine("memory://"))
    healthy = Recorder()
    await hub.join("t", Broken())
    await hub.join("t", healthy)
    await hub.publish("t", Kind.TEXT, "x")
    assert len(healthy.messages) == 1


async def test_publishes_from_other_threads_are_ordered_on_the_hub_loop():
    hub = Hub(MemoryEngine("memory://"))
    seen_on = set()

    class ThreadRecorder(Recorder):
        def deliver(self, message):
            seen_on.add(threading.get_ident())
            super().deliver(message)

    recorder = ThreadRecorder()
    await hub.join("t", recorder)

    def publisher(prefix):
        for index in range(30):
            asyncio.run(hub.publish("t", Kind.TEXT, f"{prefix}{index}"))

    threads = [threading.Thread(target=publisher, args=(p,)) for p in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        await asyncio.to_thread(thread.join)
    await asyncio.sleep(0.01)
    assert [m.offset for m in recorder.messages] == list(range(1, 91))
    assert seen_on == {threading.get_ident()}  # fanned out on the hub's own loop
    for prefix in "abc":  # each publisher's own messages stay in its order
        mine = [m.payload for m in recorder.messages if str(m.payload).startswith(prefix)]
        assert mine == [f"{prefix}{i}" for i in range(30)]


async def test_a_second_running_loop_is_refused():
    hub = Hub(MemoryEngine("memory://"))
    await hub.join("t", Recorder())
    errors = []

    def other_loop():
        try:
            asyncio.run(hub.join("t", Recorder()))
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert len(errors) == 1
    assert "another running event loop" in str(errors[0])


def test_state_left_by_a_stopped_loop_is_dropped():
    hub = Hub(MemoryEngine("memory://"))
    asyncio.run(hub.join("t", Recorder()))  # that loop is gone afterwards
    fresh = Recorder()

    async def later():
        await hub.join("u", fresh)
        await hub.publish("u", Kind.TEXT, "x")

    asyncio.run(later())
    assert hub.subscribers("t") == 0
    assert len(fresh.messages) == 1


@pytest.mark.parametrize("count", [0, 2])
async def test_stats_count_topics(count):
    hub = Hub(MemoryEngine("memory://"))
    for index in range(count):
        await hub.join(f"t{index}", Recorder())
    assert hub.stats() == {"engine": "memory", "connections": 0, "topics": count}


async def test_a_joiner_cancelled_during_the_subscription_does_not_fail_the_others():
    engine = CountingEngine()
    engine.gate = asyncio.Event()
    hub = Hub(engine)
    first, second = Recorder(), Recorder()
    doomed = asyncio.ensure_future(hub.join("t", first))
    patient = asyncio.ensure_future(hub.join("t", second))
    await asyncio.sleep(0.01)
    doomed.cancel()
    await asyncio.sleep(0.01)
    engine.gate.set()
    await patient
    await hub.publish("t", Kind.TEXT, "x")
    assert [m.payload for m in second.messages] == ["x"]
    assert first.messages == []
    assert hub.subscribers("t") == 1


async def test_a_subscription_every_joiner_abandoned_is_undone():
    engine = CountingEngine()
    engine.gate = asyncio.Event()
    hub = Hub(engine)
    join = asyncio.ensure_future(hub.join("t", Recorder()))
    await asyncio.sleep(0.01)
    join.cancel()
    await asyncio.sleep(0.01)
    engine.gate.set()
    for _ in range(5):
        await asyncio.sleep(0.01)
    assert hub.stats()["topics"] == 0
    assert engine.calls == [("subscribe", "t"), ("unsubscribe", "t")]


async def test_a_gap_the_engine_cannot_fill_is_reported_then_delivery_goes_on():
    class Forgetful(MemoryEngine):
        async def recover(self, topic, since):
            raise ConnectionError("history unavailable")

    hub = Hub(Forgetful("memory://"))
    gaps = []

    class Watcher(Recorder):
        def gap(self, topic, position):
            gaps.append((topic, position))

    watcher = Watcher()
    await hub.join("t", watcher)
    first = await hub.publish("t", Kind.TEXT, "1")
    # Offset 3 arrives without 2 (lost on the way): the hub holds it, tries the history,
    # and since that fails, reports the gap before handing 3 over.
    hub.fan_out(Message("t", 3, first.epoch, Kind.TEXT, "3"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert gaps == [("t", (first.epoch, 2))]
    assert [m.offset for m in watcher.messages] == [1, 3]

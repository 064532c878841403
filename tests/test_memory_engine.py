from courant.engines import create_engine
from courant.engines import memory as memory_module
from courant.engines.memory import MemoryEngine
from courant.message import Kind, Message


async def test_offsets_grow_by_one_per_topic_under_one_epoch():
    engine = MemoryEngine("memory://")
    offsets = [(await engine.publish("a", Kind.TEXT, str(i))).offset for i in range(5)]
    other = await engine.publish("b", Kind.TEXT, "x")
    assert offsets == [1, 2, 3, 4, 5]
    assert other.offset == 1
    epochs = {(await engine.publish("a", Kind.TEXT, "y")).epoch for _ in range(3)}
    assert len(epochs) == 1


async def test_only_subscribed_topics_are_delivered():
    engine = MemoryEngine("memory://")
    delivered: list[Message] = []
    engine.bind(delivered.append)
    await engine.publish("quiet", Kind.TEXT, "nobody listens")
    await engine.subscribe("loud")
    message = await engine.publish("loud", Kind.TEXT, "hi")
    await engine.unsubscribe("loud")
    await engine.publish("loud", Kind.TEXT, "gone")
    assert delivered == [message]


async def test_offsets_survive_unsubscribe_and_resubscribe():
    engine = MemoryEngine("memory://")
    engine.bind(lambda message: None)
    await engine.subscribe("t")
    first = await engine.publish("t", Kind.TEXT, "1")
    await engine.unsubscribe("t")
    await engine.subscribe("t")
    second = await engine.publish("t", Kind.TEXT, "2")
    assert (second.epoch, second.offset) == (first.epoch, 2)


async def test_counters_of_idle_topics_are_bounded(monkeypatch):
    monkeypatch.setattr(memory_module, "IDLE_TOPICS_KEPT", 3)
    engine = MemoryEngine("memory://")
    first = await engine.publish("t0", Kind.TEXT, "x")
    for index in range(1, 5):
        await engine.publish(f"t{index}", Kind.TEXT, "x")
    assert len(engine._idle) == 3
    # t0 was forgotten: it starts again, under a new epoch so old offsets are not confused.
    again = await engine.publish("t0", Kind.TEXT, "x")
    assert again.offset == 1
    assert again.epoch != first.epoch


def test_engine_is_chosen_by_url_scheme():
    assert isinstance(create_engine("memory://"), MemoryEngine)

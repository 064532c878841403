"""What only the memory engine does; the shared promises are in test_engines.py."""

from courant.conf import Settings
from courant.engines import create_engine
from courant.engines import memory as memory_module
from courant.engines.memory import MemoryEngine
from courant.message import Kind


async def test_state_of_idle_topics_is_bounded(monkeypatch):
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
    assert isinstance(create_engine(["memory://"], Settings()), MemoryEngine)

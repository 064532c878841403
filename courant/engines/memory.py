"""The in-memory engine: one process, nothing to install. The default.

Offsets are counted per topic in a dict. A topic's counter lives while the process
subscribes to it; counters of topics nobody subscribes to are kept in a bounded
least-recently-used table, so an app publishing to millions of distinct topics does not
grow without limit. A counter that is evicted starts again under a new epoch, which is
exactly what epochs are for.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import OrderedDict

from ..message import Kind, Message, Payload
from . import Engine

#: How many counters of unsubscribed topics are kept before the oldest is forgotten.
IDLE_TOPICS_KEPT = 10_000


class _TopicState:
    __slots__ = ("epoch", "offset")

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self.offset = 0


class MemoryEngine(Engine):
    """Delivers within the process. ``memory://`` takes no options."""

    name = "memory"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._subscribed: dict[str, _TopicState] = {}
        self._idle: OrderedDict[str, _TopicState] = OrderedDict()
        # The hub runs engine calls on its loop, but while it serves no connection a
        # publish runs on the caller's thread: keep the counters consistent regardless.
        self._lock = threading.Lock()

    def _state(self, topic: str) -> _TopicState:
        state = self._subscribed.get(topic)
        if state is not None:
            return state
        state = self._idle.pop(topic) if topic in self._idle else _TopicState()
        self._park(topic, state)
        return state

    def _park(self, topic: str, state: _TopicState) -> None:
        """Keep an unsubscribed topic's counter, as the most recently used."""
        self._idle[topic] = state
        if len(self._idle) > IDLE_TOPICS_KEPT:
            self._idle.popitem(last=False)

    async def publish(self, topic: str, kind: Kind, payload: Payload) -> Message:
        with self._lock:  # offsets are assigned and handed over in one order
            state = self._state(topic)
            state.offset += 1
            message = Message(topic, state.offset, state.epoch, kind, payload)
            subscribed = topic in self._subscribed
            if subscribed and self._deliver is not None:
                self._deliver(message)
        if subscribed:
            # Give the connections' writers their turn, as a network engine's I/O would:
            # a loop of publishes then never piles up in every queue before one is sent.
            await asyncio.sleep(0)
        return message

    async def subscribe(self, topic: str) -> None:
        with self._lock:
            if topic not in self._subscribed:
                idle = self._idle.pop(topic) if topic in self._idle else None
                self._subscribed[topic] = idle or _TopicState()

    async def unsubscribe(self, topic: str) -> None:
        with self._lock:
            state = self._subscribed.pop(topic, None)
            if state is not None:
                self._park(topic, state)

"""The in-memory engine: one process, nothing to install. The default.

Offsets and history are kept per topic in a dict. A topic's state lives while the process
subscribes to it; states of topics nobody subscribes to are kept in a bounded
least-recently-used table, so an app publishing to millions of distinct topics does not
grow without limit. A topic that is evicted starts again under a new epoch, which is
exactly what epochs are for: a subscriber that remembered its old position is told that
recovery is impossible instead of being handed the wrong messages.

Channels are deques in the same process: a worker thread or task of this process can
take what a view sends. Use the Redis engine to reach workers in other processes.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .. import _json
from ..exceptions import ChannelFull
from ..history import History, Position, Recovery, recover_from
from ..message import Kind, Message, Payload
from ..presence import Entry, del_event, events_topic, set_event
from . import Engine

if TYPE_CHECKING:
    from ..conf import Settings

#: How many states of unsubscribed topics are kept before the oldest is forgotten.
IDLE_TOPICS_KEPT = 10_000


_NOTHING_KEPT: deque[tuple[float, Message]] = deque(maxlen=0)


class _TopicState:
    __slots__ = ("epoch", "history", "kept", "offset")

    def __init__(self, history: History) -> None:
        self.epoch = secrets.token_hex(4)
        self.offset = 0
        self.history = history
        # (monotonic time published, message), oldest first. Shared and empty until the
        # first message: a topic that is joined but quiet (one per user, say) costs no
        # buffer.
        self.kept: deque[tuple[float, Message]] = _NOTHING_KEPT

    def keep(self, message: Message, now: float) -> None:
        size = self.history.size
        if size:
            if self.kept is _NOTHING_KEPT:
                self.kept = deque(maxlen=size)
            self.kept.append((now, message))

    def trim(self, now: float) -> None:
        ttl = self.history.ttl
        kept = self.kept
        if ttl is not None:
            while kept and kept[0][0] < now - ttl:
                kept.popleft()

    @property
    def position(self) -> Position:
        return Position(self.epoch, self.offset)


class _Channel:
    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: deque[tuple[float, bytes]] = deque()  # (expires at, payload)
        self.waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    def purge(self, now: float) -> None:
        items = self.items
        while items and items[0][0] <= now:
            items.popleft()

    def wake_one(self) -> None:
        while self.waiters:
            loop, waiter = self.waiters.popleft()
            if not waiter.done():
                loop.call_soon_threadsafe(_set_if_pending, waiter)
                return


def _set_if_pending(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class MemoryEngine(Engine):
    """Delivers within the process. ``memory://`` takes no options."""

    name = "memory"

    def __init__(self, urls: str | Sequence[str], settings: Settings | None = None) -> None:
        super().__init__(urls, settings)
        if len(self.urls) > 1:
            raise ValueError("the memory engine takes one URL, memory://")
        self._subscribed: dict[str, _TopicState] = {}
        self._idle: OrderedDict[str, _TopicState] = OrderedDict()
        self._channels: dict[str, _Channel] = {}
        # Topic -> entry id -> (entry, its meta as published, monotonic expiry).
        self._presence: dict[str, dict[str, tuple[Entry, str, float]]] = {}
        # The hub runs engine calls on its loop, but while it serves no connection a
        # publish runs on the caller's thread: keep the state consistent regardless.
        # (Re-entrant: a presence change publishes its event while holding it.)
        self._lock = threading.RLock()

    # -- topics ------------------------------------------------------------------------

    def _state(self, topic: str) -> _TopicState:
        state = self._subscribed.get(topic)
        if state is not None:
            return state
        state = self._unpark(topic)
        self._park(topic, state)
        return state

    def _unpark(self, topic: str) -> _TopicState:
        """Take an unsubscribed topic's state out of the idle table, or start a new one."""
        return self._idle.pop(topic, None) or _TopicState(self.history.for_topic(topic))

    def _park(self, topic: str, state: _TopicState) -> None:
        """Keep an unsubscribed topic's state, as the most recently used."""
        self._idle[topic] = state
        if len(self._idle) > IDLE_TOPICS_KEPT:
            self._idle.popitem(last=False)

    def _publish(self, topic: str, kind: Kind, payload: Payload) -> tuple[Message, bool]:
        with self._lock:  # offsets are assigned and handed over in one order
            state = self._state(topic)
            state.offset += 1
            message = Message(topic, state.offset, state.epoch, kind, payload)
            now = time.monotonic()
            state.trim(now)
            state.keep(message, now)
            subscribed = topic in self._subscribed
            if subscribed and self._listener is not None:
                self._listener.fan_out(message)
        return message, subscribed

    async def publish(self, topic: str, kind: Kind, payload: Payload) -> Message:
        message, subscribed = self._publish(topic, kind, payload)
        if subscribed:
            # Give the connections' writers their turn, as a network engine's I/O would:
            # a loop of publishes then never piles up in every queue before one is sent.
            await asyncio.sleep(0)
        return message

    def publish_blocking(self, topic: str, kind: Kind, payload: Payload) -> Message:
        return self._publish(topic, kind, payload)[0]

    async def subscribe(self, topic: str) -> None:
        with self._lock:
            if topic not in self._subscribed:
                self._subscribed[topic] = self._unpark(topic)

    async def unsubscribe(self, topic: str) -> None:
        with self._lock:
            state = self._subscribed.pop(topic, None)
            if state is not None:
                self._park(topic, state)

    async def position(self, topic: str) -> Position:
        with self._lock:
            return self._state(topic).position

    async def recover(self, topic: str, since: Position) -> Recovery:
        with self._lock:
            state = self._state(topic)
            state.trim(time.monotonic())
            return recover_from((message for _, message in state.kept), state.position, since)

    # -- presence ----------------------------------------------------------------------

    async def presence_set(
        self, topic: str, entry_id: str, key: str, meta: str, ttl: float, limit: int
    ) -> bool:
        with self._lock:
            entries = self._presence.setdefault(topic, {})
            old = entries.get(entry_id)
            if old is None and len(entries) >= limit:
                return False
            entries[entry_id] = (Entry(key, _json.loads(meta)), meta, time.monotonic() + ttl)
            if old is None or old[1] != meta or old[0].key != key:
                self._publish(events_topic(topic), Kind.JSON, set_event(entry_id, key, meta))
        return True

    async def presence_remove(self, topic: str, entry_ids: Sequence[str]) -> None:
        with self._lock:
            self._remove_entries(topic, entry_ids)

    def _remove_entries(self, topic: str, entry_ids: Iterable[str]) -> int:
        entries = self._presence.get(topic, {})
        removed = 0
        for entry_id in entry_ids:
            if entries.pop(entry_id, None) is not None:
                removed += 1
                self._publish(events_topic(topic), Kind.JSON, del_event(entry_id))
        if not entries:
            self._presence.pop(topic, None)
        return removed

    async def presence_refresh(self, topic: str, entry_ids: Sequence[str], ttl: float) -> list[str]:
        expires = time.monotonic() + ttl
        missing = []
        with self._lock:
            entries = self._presence.get(topic, {})
            for entry_id in entry_ids:
                found = entries.get(entry_id)
                if found is None:
                    missing.append(entry_id)
                else:
                    entries[entry_id] = (found[0], found[1], expires)
        return missing

    async def presence_reap(self, topic: str) -> int:
        now = time.monotonic()
        with self._lock:
            entries = self._presence.get(topic, {})
            expired = [entry_id for entry_id, (_, _, at) in entries.items() if at <= now]
            return self._remove_entries(topic, expired)

    async def presence_snapshot(self, topic: str) -> tuple[dict[str, Entry], Position]:
        now = time.monotonic()
        with self._lock:
            entries = self._presence.get(topic, {})
            live = {entry_id: entry for entry_id, (entry, _, at) in entries.items() if at > now}
            return live, self._state(events_topic(topic)).position

    # -- channels ----------------------------------------------------------------------

    def send_blocking(self, channel: str, payload: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            entry = self._channels.get(channel)
            if entry is None:
                entry = self._channels[channel] = _Channel()
            entry.purge(now)
            if len(entry.items) >= self.channel_capacity:
                raise ChannelFull(
                    f"channel {channel!r} holds {self.channel_capacity} messages "
                    "(CHANNEL_CAPACITY); is its worker running?"
                )
            entry.items.append((now + self.channel_expiry, payload))
            entry.wake_one()

    async def send(self, channel: str, payload: bytes) -> None:
        self.send_blocking(channel, payload)

    async def receive(self, channel: str, timeout: float | None = None) -> bytes | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                entry = self._channels.get(channel)
                if entry is None:
                    entry = self._channels[channel] = _Channel()
                entry.purge(time.monotonic())
                if entry.items:
                    payload = entry.items.popleft()[1]
                    if not entry.items and not entry.waiters:
                        del self._channels[channel]
                    return payload
                waiter: asyncio.Future[None] = loop.create_future()
                entry.waiters.append((loop, waiter))
            remaining = None if deadline is None else deadline - loop.time()
            try:
                await asyncio.wait_for(waiter, remaining)
            except BaseException as exc:  # timed out, or cancelled
                with self._lock:
                    if (loop, waiter) in entry.waiters:
                        entry.waiters.remove((loop, waiter))
                    if entry.items:
                        entry.wake_one()  # a send woke this waiter as it gave up: pass it on
                    elif not entry.waiters and self._channels.get(channel) is entry:
                        del self._channels[channel]
                if isinstance(exc, TimeoutError):
                    return None
                raise

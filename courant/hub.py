"""The hub: the per-process registry of topic -> local subscribers.

Every connection in the process that joins a topic is registered here. The hub subscribes
the *process* to the topic through the engine when the first local subscriber joins and
unsubscribes it when the last one leaves, so the engine's work is per process, never per
connection. Each message the engine delivers is handed to every local subscriber of its
topic as it is: encoded once, written many times.

The hub serves one event loop: the one its connections run on. Publishing from another
thread or loop (a sync view, a thread of your own) hops to that loop, so offsets are
assigned and messages fanned out in one place and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._sync import on_loop_thread
from .conf import get_settings
from .connection import Connection, hand_out
from .engines import Engine, create_engine
from .exceptions import EngineError
from .history import Position, Recovery, is_after

if TYPE_CHECKING:
    from .message import Kind, Message, Payload

logger = logging.getLogger("courant.hub")

T = TypeVar("T")

#: Messages of one topic held while its gap is filled from history; past it the oldest
#: are dropped (and recovered from history in turn, or reported as a gap).
MAX_HELD = 10_000
#: Seconds a recovery (history read and flush) may take before it counts as failed.
RECOVERY_TIMEOUT = 30.0


class Subscriber(Protocol):
    """What the hub delivers to: in practice, a :class:`~courant.connection.Connection`."""

    @property
    def direct(self) -> Connection | None:
        """The connection itself, while the hub may write its messages to the transport
        directly (see :func:`courant.connection.hand_out`); ``None`` for any other
        subscriber, which gets :meth:`deliver`."""

    def deliver(self, message: Message) -> None:
        """Take one message of a joined topic. Must not block, and must not join or
        leave topics synchronously (the hub is iterating its subscribers)."""

    def gap(self, topic: str, position: Position) -> None:
        """Messages of ``topic`` were lost and cannot be recovered (the engine lost its
        link and its history): the messages that follow come after ``position``."""


#: Called by :meth:`Hub.join` with the recovery, to hand its messages to the new
#: subscriber before any newer one.
Replay = Callable[[Recovery], None]


class _Joiner:
    """Collects what the hub hands out while one subscriber's recovery is read."""

    __slots__ = ("buffer",)

    def __init__(self) -> None:
        self.buffer: list[Message] = []


class _Topic:
    __slots__ = (
        "epoch",
        "held",
        "joiners",
        "offset",
        "ready",
        "released",
        "subscribers",
        "waiting",
    )

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        # The engine subscription, run by the hub (not by any one joiner, whose
        # cancellation must not fail the others). Joins wait for it, so none returns
        # before messages can flow.
        self.ready: asyncio.Task[None] | None = None
        # Joins waiting for ``ready``: the topic is not dropped while they are pending.
        self.waiting = 0
        # Joins reading a recovery: they get what is handed out meanwhile.
        self.joiners: list[_Joiner] = []
        # The last message handed out (or the topic's position when subscribed): every
        # message up to it has been handed out, and the next one must follow it.
        self.epoch: str | None = None
        self.offset = 0
        # While the gap after the last message is being filled from history, messages
        # wait here, and ``released`` is the future that completes when they are out.
        self.held: deque[Message] | None = None
        self.released: asyncio.Future[None] | None = None

    @property
    def settled(self) -> bool:
        """Subscribed, with nobody still on the way in."""
        return (
            self.ready is not None and self.ready.done() and not self.waiting and not self.joiners
        )

    @property
    def position(self) -> Position:
        assert self.epoch is not None
        return Position(self.epoch, self.offset)


class Hub:
    """Topic -> local subscribers, for one process and one event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        engine.bind(self)
        self._topics: dict[str, _Topic] = {}
        self._connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Set by shutdown(): to learn when the last connection has ended.
        self._all_ended: asyncio.Event | None = None

    # -- the loop this hub serves ------------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        running = asyncio.get_running_loop()
        if self._loop is running:
            return running
        if self._loop is not None and self._loop.is_running():
            raise RuntimeError(
                "Courant's hub already serves connections on another running event loop; "
                "one process serves its connections from one loop."
            )
        self._drop_stale()
        self._loop = running
        return running

    def _drop_stale(self) -> None:
        """Forget connections and topics of a loop that has stopped: nothing can serve
        them again (this happens between tests that each run their own loop)."""
        if self._topics or self._connections:
            logger.warning(
                "Dropping %d connection(s) and %d topic(s) left behind by a stopped event loop.",
                len(self._connections),
                len(self._topics),
            )
            self._topics.clear()
            self._connections.clear()
        self._loop = None

    def _release_loop_if_idle(self) -> None:
        if not self._topics and not self._connections:
            self._loop = None

    def running_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop this hub serves, if it is running (on this thread or another)."""
        loop = self._loop
        return loop if loop is not None and loop.is_running() else None

    # -- connections -------------------------------------------------------------------

    def register(self, connection: Connection) -> None:
        """Count a connection as open in this process (for stats and shutdown)."""
        self._bind_loop()
        self._connections.add(connection)

    def unregister(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if not self._connections and self._all_ended is not None:
            self._all_ended.set()
        self._release_loop_if_idle()

    # -- topics ------------------------------------------------------------------------

    async def join(
        self,
        topic: str,
        subscriber: Subscriber,
        since: Position | None = None,
        replay: Replay | None = None,
    ) -> Recovery:
        """Add ``subscriber`` to ``topic``. When this returns, every message published on
        the topic afterwards reaches the subscriber.

        With ``since``, the messages published after it are recovered from the topic's
        history and handed over first (to ``replay`` if given, else to the subscriber's
        ``deliver``), before any newer message, each exactly once. The returned
        :class:`~courant.history.Recovery` says whether that was complete.
        """
        loop = self._bind_loop()
        entry = self._topics.get(topic)
        if entry is None:
            entry = self._topics[topic] = _Topic()
            entry.ready = loop.create_task(self._subscribe(topic, entry))
            entry.ready.add_done_callback(_retrieve)
        assert entry.ready is not None
        if not entry.ready.done():
            entry.waiting += 1
            abandoned = True
            try:
                await asyncio.shield(entry.ready)
                abandoned = False
            finally:
                entry.waiting -= 1
                if abandoned:
                    self._abandon(topic, entry)
        entry.ready.result()
        if entry.held is None:
            # The common case, with no I/O: the hub knows where the topic is.
            position = entry.position
            if since is None or since == position:
                entry.subscribers.add(subscriber)
                return Recovery(since is not None, position)
        return await self._join_recovering(topic, entry, subscriber, since, replay)

    async def _join_recovering(
        self,
        topic: str,
        entry: _Topic,
        subscriber: Subscriber,
        since: Position | None,
        replay: Replay | None,
    ) -> Recovery:
        joiner = _Joiner()
        entry.joiners.append(joiner)
        abandoned = True
        try:
            async with asyncio.timeout(RECOVERY_TIMEOUT):
                if since is None:
                    recovery = Recovery(False, await self.engine.position(topic))
                else:
                    recovery = await self.engine.recover(topic, since)
                await self.engine.flush(topic)
                while entry.released is not None and not entry.released.done():
                    await asyncio.shield(entry.released)
            abandoned = False
        except Exception as exc:
            raise EngineError(f"could not recover topic {topic!r}: {exc!r}") from exc
        finally:
            entry.joiners.remove(joiner)
            if abandoned:
                self._abandon(topic, entry)
        # From here on nothing awaits: no message can slip in between.
        entry.subscribers.add(subscriber)
        hand = subscriber.deliver
        if replay is not None:
            replay(recovery)
        else:
            for message in recovery.messages:
                hand(message)
        epoch = recovery.position.epoch
        for message in joiner.buffer:
            if is_after(message, recovery.position):
                if message.epoch != epoch:
                    # The topic started again while this join read its history.
                    subscriber.gap(topic, Position(message.epoch, message.offset - 1))
                    epoch = message.epoch
                hand(message)
        if entry.epoch is not None and entry.epoch != epoch:
            subscriber.gap(topic, entry.position)
        return recovery

    def _abandon(self, topic: str, entry: _Topic) -> None:
        if self._drop_if_unused(topic, entry):
            # This joiner was the last one on its way in, and gave up.
            self._spawn(self.release((topic,)))

    async def _subscribe(self, topic: str, entry: _Topic) -> None:
        entry.held = deque(maxlen=MAX_HELD)
        subscribed = False
        try:
            await self.engine.subscribe(topic)
            subscribed = True
            async with asyncio.timeout(RECOVERY_TIMEOUT):
                position = await self.engine.position(topic)
                await self.engine.flush(topic)
        except Exception as exc:
            self._forget(topic, entry)
            if subscribed:
                with contextlib.suppress(Exception):
                    await self.engine.unsubscribe(topic)
            raise EngineError(f"could not subscribe to topic {topic!r}: {exc!r}") from exc
        entry.epoch, entry.offset = position
        self._release_held(entry)
        if not entry.waiting and not entry.subscribers and self._forget(topic, entry):
            # Every joiner gave up while the engine was subscribing: undo it.
            await self.release((topic,))

    def _drop_if_unused(self, topic: str, entry: _Topic) -> bool:
        """Forget a subscribed topic nobody uses or is joining; True if the caller must
        then :meth:`release` it."""
        if entry.subscribers or not entry.settled:
            return False
        assert entry.ready is not None
        if entry.ready.cancelled() or entry.ready.exception() is not None:
            return False  # never subscribed: nothing to release
        return self._forget(topic, entry)

    def _forget(self, topic: str, entry: _Topic) -> bool:
        if self._topics.get(topic) is not entry:
            return False
        del self._topics[topic]
        self._release_loop_if_idle()
        return True

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def leave(self, topic: str, subscriber: Subscriber) -> None:
        """Remove ``subscriber`` from ``topic``; unsubscribe the process if it was the last."""
        if self.discard(topic, subscriber):
            await self.release((topic,))

    def discard(self, topic: str, subscriber: Subscriber) -> bool:
        """Remove ``subscriber`` from ``topic`` at once, without engine I/O.

        Returns True if the topic has no local subscriber left, in which case the caller
        must call :meth:`release` (which :meth:`leave` does).
        """
        entry = self._topics.get(topic)
        if entry is None or subscriber not in entry.subscribers:
            return False
        entry.subscribers.discard(subscriber)
        return self._drop_if_unused(topic, entry)

    async def release(self, topics: Iterable[str]) -> None:
        """Unsubscribe the process from ``topics``, which :meth:`discard` reported as left
        without local subscribers. A topic joined again since then is kept."""
        for topic in topics:
            if topic in self._topics:
                continue
            try:
                await self.engine.unsubscribe(topic)
            except Exception:
                logger.exception("Unsubscribing the process from topic %r failed", topic)

    # -- what the engine reports -------------------------------------------------------

    def fan_out(self, message: Message) -> None:
        """Hand ``message`` to every local subscriber of its topic. Called by the engine
        in offset order per topic; from another thread, it hops to the hub's loop.

        A message already handed out is dropped; one that leaves a gap after the last
        message handed out is held back while the gap is filled from history.
        """
        loop = self._loop
        if loop is not None and not on_loop_thread(loop):
            loop.call_soon_threadsafe(self._fan_out, message)
            return
        self._fan_out(message)

    def _fan_out(self, message: Message) -> None:
        entry = self._topics.get(message.topic)
        if entry is None:
            return
        held = entry.held
        if held is not None:
            held.append(message)
            return
        if message.epoch == entry.epoch:
            if message.offset <= entry.offset:
                return  # handed out already (recovered, or delivered twice)
            if message.offset != entry.offset + 1:
                self._catch_up(message.topic, entry, [message])
                return
        elif entry.epoch is not None:
            # The topic started again (its history was lost): what the old epoch had
            # after the last message is gone.
            self._gap(message.topic, entry, Position(message.epoch, message.offset - 1))
        self._hand_out(entry, message)

    def _hand_out(self, entry: _Topic, message: Message) -> None:
        entry.epoch = message.epoch
        entry.offset = message.offset
        for joiner in entry.joiners:
            joiner.buffer.append(message)
        hand_out(entry.subscribers, message)

    def _gap(self, topic: str, entry: _Topic, position: Position) -> None:
        logger.info("Messages of topic %r were lost; continuing after %s", topic, position)
        entry.epoch, entry.offset = position
        for subscriber in list(entry.subscribers):
            try:
                subscriber.gap(topic, position)
            except Exception:
                logger.exception("Telling %r of a gap in %r failed", subscriber, topic)

    def link_restored(self, topics: Iterable[str]) -> None:
        """The engine is subscribed again after losing its link: fill each topic's gap
        from history, or tell its subscribers that it cannot be filled."""
        for topic in topics:
            entry = self._topics.get(topic)
            if entry is not None and entry.held is None and entry.epoch is not None:
                self._catch_up(topic, entry, [])

    def _catch_up(self, topic: str, entry: _Topic, held: Iterable[Message]) -> None:
        entry.held = deque(held, maxlen=MAX_HELD)
        entry.released = asyncio.get_running_loop().create_future()
        self._spawn(self._fill_gap(topic, entry))

    async def _fill_gap(self, topic: str, entry: _Topic) -> None:
        since = entry.position
        recovery: Recovery | None = None
        try:
            async with asyncio.timeout(RECOVERY_TIMEOUT):
                recovery = await self.engine.recover(topic, since)
                await self.engine.flush(topic)
        except Exception as exc:
            # Without the flush the recovery still holds; what it could not wait for is
            # held, or comes later and is checked for a gap like any message.
            logger.debug("Recovering topic %r after %s failed: %r", topic, since, exc)
        if recovery is None:
            first = entry.held[0] if entry.held else None
            self._gap(topic, entry, Position(first.epoch, first.offset - 1) if first else since)
        elif recovery.recovered:
            for message in recovery.messages:
                self._hand_out(entry, message)
        else:
            self._gap(topic, entry, recovery.position)
        self._release_held(entry)

    def _release_held(self, entry: _Topic) -> None:
        held, entry.held = entry.held or (), None
        released, entry.released = entry.released, None
        for message in held:
            self._fan_out(message)
        if released is not None:
            released.set_result(None)

    # -- publishing --------------------------------------------------------------------

    async def publish(self, topic: str, kind: Kind, payload: Payload) -> Message:
        """Publish through the engine, on the loop this hub serves."""
        loop = self._loop
        if loop is not None and loop is not asyncio.get_running_loop():
            if loop.is_running():
                coroutine = self.engine.publish(topic, kind, payload)
                return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))
            self._drop_stale()
        return await self.engine.publish(topic, kind, payload)

    def publish_blocking(self, topic: str, kind: Kind, payload: Payload) -> Message:
        """Publish from a thread that runs no event loop: through the hub's loop if it is
        serving connections (so messages reach them in order), else straight to the
        engine (a management command, a task worker, a WSGI process)."""
        loop = self._loop
        if loop is not None:
            if loop.is_running():
                coroutine = self.engine.publish(topic, kind, payload)
                return asyncio.run_coroutine_threadsafe(coroutine, loop).result()
            self._drop_stale()
        return self.engine.publish_blocking(topic, kind, payload)

    def run_blocking(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the engine call ``make()`` from a thread that runs no event loop: on the
        hub's loop if it is serving connections, else on a loop of its own (after which
        the engine's connections for that loop are closed)."""
        loop = self._loop
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(make(), loop).result()

        async def once() -> T:
            try:
                return await make()
            finally:
                await self.engine.close()

        return asyncio.run(once())

    # -- introspection and shutdown ----------------------------------------------------

    def position(self, topic: str) -> Position:
        """Where ``topic`` is in this process: the last message handed out (for a topic
        the process subscribes to; ``("", 0)`` otherwise)."""
        entry = self._topics.get(topic)
        if entry is None or entry.epoch is None:
            return Position("", 0)
        return entry.position

    def subscribers(self, topic: str) -> int:
        """How many local subscribers ``topic`` has in this process."""
        entry = self._topics.get(topic)
        return len(entry.subscribers) if entry else 0

    def stats(self) -> dict[str, object]:
        """What a status page shows: the engine, open connections, topics in use."""
        return {
            "engine": self.engine.name,
            "connections": len(self._connections),
            "topics": len(self._topics),
        }

    async def shutdown(self, code: int, reason: str) -> None:
        """Close every open connection with ``code``, wait until they have ended (their
        ``disconnect()`` may still publish; a connection whose client does not take the
        close is ended after ``CLOSE_TIMEOUT``), then close the engine."""
        for connection in list(self._connections):
            connection.close(code, reason)
        if self._connections:
            self._all_ended = asyncio.Event()
            # Each close ends its conversation within CLOSE_TIMEOUT; one second more for
            # the disconnect() handlers, and the engine is closed regardless.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(get_settings().close_timeout + 1):
                    await self._all_ended.wait()
            self._all_ended = None
        from .presencehub import shutdown_presence

        await shutdown_presence(self)
        await self.engine.close()


def _retrieve(task: asyncio.Task[None]) -> None:
    # A failed subscription is reported to the joiners waiting on it; if none is left,
    # reading it here keeps asyncio from warning that it was never retrieved.
    if not task.cancelled():
        task.exception()


_hub: Hub | None = None
_hub_lock = threading.Lock()


def get_hub() -> Hub:
    """The process's hub, created on first use with the engine from settings."""
    global _hub
    hub = _hub
    if hub is None:
        with _hub_lock:
            if _hub is None:
                settings = get_settings()
                _hub = Hub(create_engine(settings.engine, settings))
            hub = _hub
    return hub


def reset_hub() -> None:
    """Forget the process's hub so the next :func:`get_hub` builds it from settings again.

    For tests that change ``COURANT["ENGINE"]``; connections of the old hub keep it.
    """
    global _hub
    with _hub_lock:
        _hub = None


__all__ = ["Hub", "Subscriber", "get_hub", "reset_hub"]

"""Engines link processes: they assign offsets, carry messages between processes, keep
history, and carry channel messages to workers.

An engine sees the process, never a connection. The hub tells it which topics the process
needs (``subscribe``/``unsubscribe``, reference-counted by the hub, so one call per topic
per process), and the engine hands every message for those topics to the hub's
:meth:`~Listener.fan_out`, in offset order per topic. When an engine loses its link and
gets it back (a Redis restart), it says so through :meth:`~Listener.link_restored`; the
hub then fills the gap from history, or tells subscribers it cannot.

Engines are chosen by the scheme of ``COURANT["ENGINE"]``, through :data:`ENGINES`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..history import HistoryPolicy, Position, Recovery
from ..message import Kind, Message, Payload
from ..presence import Entry
from ..topics import registry

if TYPE_CHECKING:
    from ..conf import Settings

#: URL scheme -> engine class. Adding an engine is one line here.
ENGINES: dict[str, str] = {
    "memory": "courant.engines.memory.MemoryEngine",
    "redis": "courant.engines.redis.RedisEngine",
    "rediss": "courant.engines.redis.RedisEngine",
    "unix": "courant.engines.redis.RedisEngine",
}


class Listener(Protocol):
    """What an engine reports to: the process's hub."""

    def fan_out(self, message: Message) -> None:
        """Take one message of a subscribed topic. Called on the hub's loop (or from any
        thread, for an engine without one), in offset order per topic."""

    def link_restored(self, topics: Iterable[str]) -> None:
        """The engine's link carrying ``topics`` was lost and is back, with the topics
        subscribed again: messages published meanwhile may not have been delivered."""


class Engine(abc.ABC):
    """The interface every engine implements.

    Topic methods are called on the event loop that serves the process's connections
    (the hub guarantees it), so an engine may keep loop-bound resources. ``publish`` may
    also be awaited on another loop by a process that serves no connections, and
    :meth:`publish_blocking` is called from plain threads.
    """

    #: The name shown in logs and on status pages.
    name: str = "engine"

    def __init__(self, urls: str | Sequence[str], settings: Settings | None = None) -> None:
        if settings is None:
            from ..conf import Settings

            settings = Settings()
        self.urls = (urls,) if isinstance(urls, str) else tuple(urls)
        self.history = HistoryPolicy(settings.history, classes=registry.history_for)
        self.channel_capacity = settings.channel_capacity
        self.channel_expiry = settings.channel_expiry
        self._listener: Listener | None = None

    def bind(self, listener: Listener) -> None:
        """Set where messages of the subscribed topics go. Called once, by the hub, before
        any other method."""
        self._listener = listener

    # -- topics ------------------------------------------------------------------------

    @abc.abstractmethod
    async def publish(self, topic: str, kind: Kind, payload: Payload) -> Message:
        """Assign the next offset of ``topic``, keep the message in the topic's history,
        and deliver it to every process subscribed to it; all at once, so two publishers
        never produce a duplicate or out-of-order offset. Returns the message."""

    @abc.abstractmethod
    def publish_blocking(self, topic: str, kind: Kind, payload: Payload) -> Message:
        """:meth:`publish` for a thread with no event loop of the engine's."""

    @abc.abstractmethod
    async def subscribe(self, topic: str) -> None:
        """Start delivering ``topic`` to this process. When this returns, every message
        published afterwards is delivered."""

    @abc.abstractmethod
    async def unsubscribe(self, topic: str) -> None:
        """Stop delivering ``topic`` to this process."""

    @abc.abstractmethod
    async def position(self, topic: str) -> Position:
        """Where ``topic`` is now (a topic never published to gets its epoch here)."""

    @abc.abstractmethod
    async def recover(self, topic: str, since: Position) -> Recovery:
        """Everything published on ``topic`` after ``since``, complete and in order, or
        ``recovered=False`` if the history cannot say (never a partial list)."""

    async def flush(self, topic: str) -> None:  # noqa: B027 - in-process engines need nothing
        """Return once every message of ``topic`` published before this call has been
        handed to the hub (which a position or recovery read just now may be ahead of)."""

    # -- presence (see courant.presence) -------------------------------------------------
    #
    # Each change is published, in the same atomic step, as an event on the topic's events
    # topic (presence.events_topic), so that a snapshot and the events after its position
    # give every process the same state.

    @abc.abstractmethod
    async def presence_set(
        self, topic: str, entry_id: str, key: str, meta: str, ttl: float, limit: int
    ) -> bool:
        """Add the entry ``entry_id`` (its member's ``key``, its ``meta`` as JSON text) to
        ``topic``'s presence, or change its meta; it expires ``ttl`` seconds from now
        unless refreshed. False, changing nothing, when it is new and ``topic`` already has
        ``limit`` entries."""

    @abc.abstractmethod
    async def presence_remove(self, topic: str, entry_ids: Sequence[str]) -> None:
        """Remove these entries (those still there)."""

    @abc.abstractmethod
    async def presence_refresh(self, topic: str, entry_ids: Sequence[str], ttl: float) -> list[str]:
        """Push these entries' expiry ``ttl`` seconds from now; return the ids that were
        no longer there (expired and removed meanwhile), for the caller to set again."""

    @abc.abstractmethod
    async def presence_reap(self, topic: str) -> int:
        """Remove the entries of ``topic`` whose time is up (their process died without
        removing them); return how many."""

    @abc.abstractmethod
    async def presence_snapshot(self, topic: str) -> tuple[dict[str, Entry], Position]:
        """The live entries of ``topic``, by id, and the position of its events topic
        they reflect: the events after that position are the changes since."""

    # -- channels: point-to-point, for workers -----------------------------------------

    @abc.abstractmethod
    async def send(self, channel: str, payload: bytes) -> None:
        """Queue ``payload`` on ``channel`` for exactly one receiver. Raises
        :class:`~courant.exceptions.ChannelFull` past the capacity. The message expires
        unreceived after ``CHANNEL_EXPIRY`` seconds."""

    @abc.abstractmethod
    def send_blocking(self, channel: str, payload: bytes) -> None:
        """:meth:`send` for a thread with no event loop of the engine's."""

    @abc.abstractmethod
    async def receive(self, channel: str, timeout: float | None = None) -> bytes | None:
        """Take the oldest unexpired message of ``channel``, waiting up to ``timeout``
        seconds (None: for ever) for one; None when the time is up."""

    async def close(self) -> None:  # noqa: B027 - engines without resources need nothing
        """Release connections and tasks. The engine is not used afterwards."""


def create_engine(urls: Sequence[str], settings: Settings) -> Engine:
    """Build the engine named by the URLs' scheme, e.g. ``memory://``."""
    scheme = urlsplit(urls[0]).scheme
    try:
        path = ENGINES[scheme]
    except KeyError:
        known = ", ".join(f"{name}://" for name in sorted(ENGINES))
        raise ImproperlyConfigured(
            f"COURANT['ENGINE'] = {urls[0]!r} names no engine; known engines: {known}"
        ) from None
    try:
        engine_class: type[Engine] = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"The {scheme}:// engine cannot be loaded ({exc}); for Redis, "
            'install it with `pip install "courant[redis]"`.'
        ) from exc
    return engine_class(urls, settings)


__all__ = ["ENGINES", "Engine", "Listener", "create_engine"]

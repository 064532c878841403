"""Engines link processes: they assign offsets, carry messages between processes, and
(later) keep history and presence.

An engine sees the process, never a connection. The hub tells it which topics the process
needs (``subscribe``/``unsubscribe``, reference-counted by the hub, so one call per topic
per process), and the engine hands every message for those topics to the hub through the
``deliver`` callback given to :meth:`Engine.bind`, in offset order per topic.

Engines are chosen by the scheme of ``COURANT["ENGINE"]``, through :data:`ENGINES`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..message import Kind, Message, Payload

Deliver = Callable[[Message], None]

#: URL scheme -> engine class. Adding an engine is one line here.
ENGINES: dict[str, str] = {
    "memory": "courant.engines.memory.MemoryEngine",
}


class Engine(abc.ABC):
    """The interface every engine implements.

    All methods are called on the event loop that serves the process's connections
    (the hub guarantees it), so an engine may keep loop-bound resources.
    """

    #: The name shown in logs and on status pages.
    name: str = "engine"

    def __init__(self, url: str) -> None:
        self.url = url
        self._deliver: Deliver | None = None

    def bind(self, deliver: Deliver) -> None:
        """Set the callback that receives every message of the subscribed topics.

        Called once, by the hub, before any other method. ``deliver`` must be called on
        the event loop, with the messages of one topic in offset order.
        """
        self._deliver = deliver

    @abc.abstractmethod
    async def publish(self, topic: str, kind: Kind, payload: Payload) -> Message:
        """Assign the next offset of ``topic`` and deliver the message to every process
        subscribed to it. Returns the message as published."""

    @abc.abstractmethod
    async def subscribe(self, topic: str) -> None:
        """Start delivering ``topic`` to this process. When this returns, every message
        published afterwards is delivered."""

    @abc.abstractmethod
    async def unsubscribe(self, topic: str) -> None:
        """Stop delivering ``topic`` to this process."""

    async def close(self) -> None:  # noqa: B027 - engines without resources need nothing
        """Release connections and tasks. The engine is not used afterwards."""


def create_engine(url: str) -> Engine:
    """Build the engine named by ``url``'s scheme, e.g. ``memory://``."""
    scheme = urlsplit(url).scheme
    try:
        path = ENGINES[scheme]
    except KeyError:
        known = ", ".join(f"{name}://" for name in sorted(ENGINES))
        raise ImproperlyConfigured(
            f"COURANT['ENGINE'] = {url!r} names no engine; known engines: {known}"
        ) from None
    engine_class: type[Engine] = import_string(path)
    return engine_class(url)


__all__ = ["ENGINES", "Deliver", "Engine", "create_engine"]

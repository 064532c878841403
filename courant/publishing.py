"""Publishing from anywhere: views, signal handlers, management commands, tasks.

``courant.publish(topic, data)`` is for sync code, ``await courant.apublish(topic, data)``
for async code. Both return the :class:`~courant.message.Message` as published, with its
offset. ``data`` may be a ``str`` (sent as-is as text), ``bytes`` (sent as binary) or any
JSON-serializable value.

With the memory engine a publish reaches the connections of the same process only; an
engine that links processes (Redis) reaches every process.
"""

from __future__ import annotations

from ._sync import refuse_on_a_loop
from .hub import get_hub
from .message import Message, encode
from .topics import validate_topic


async def apublish(topic: str, data: object) -> Message:
    """Publish ``data`` on ``topic`` to every subscriber, in offset order."""
    validate_topic(topic)
    kind, payload = encode(data)
    return await get_hub().publish(topic, kind, payload)


def publish(topic: str, data: object) -> Message:
    """Sync twin of :func:`apublish`, for views, signals, commands and tasks."""
    refuse_on_a_loop("publish")
    validate_topic(topic)
    kind, payload = encode(data)
    return get_hub().publish_blocking(topic, kind, payload)


__all__ = ["apublish", "publish"]

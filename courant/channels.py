"""Channels: named point-to-point inboxes that hand background work to worker processes.

A topic reaches every subscriber; a channel message reaches exactly one receiver. An
interface server (a consumer, a view) sends work, and whichever worker process takes it
first does it::

    courant.send("thumbnails", {"type": "thumbnail.make", "photo": 42})   # sync code
    await courant.asend("thumbnails", {"type": "thumbnail.make", "photo": 42})

and a worker, run with ``python manage.py courant_worker thumbnails``::

    # settings.py
    COURANT = {"ENGINE": "redis://...", "WORKERS": {"thumbnails": "photos.workers.Thumbnails"}}

    # photos/workers.py
    class Thumbnails(courant.Worker):
        def thumbnail_make(self, message):       # sync: runs in a thread, may use the ORM
            photo = Photo.objects.get(pk=message["photo"])
            ...
            courant.publish(f"photo:{photo.pk}", {"thumbnail": photo.thumbnail.url})

A message is a JSON-serializable dict with a ``"type"``; the worker calls the method
named after it, dots turned into underscores. Each channel holds at most
``CHANNEL_CAPACITY`` messages (``send`` past it raises
:class:`~courant.exceptions.ChannelFull`), each for at most ``CHANNEL_EXPIRY`` seconds.
Delivery is at most once: a worker that dies while handling a message loses it.

With the memory engine, channels work inside one process only (a worker task there);
use the Redis engine to reach worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from . import _json
from ._sync import executor_for_connection, run_sync
from .exceptions import EncodeError, EngineError, InvalidChannel
from .hub import get_hub
from .topics import name_problem

logger = logging.getLogger("courant.channels")


def validate_channel(channel: object) -> str:
    """Return ``channel`` if it is a usable channel name (the rules of topic names), else
    raise :class:`InvalidChannel`."""
    problem = name_problem(channel, "channel")
    if problem is not None:
        raise InvalidChannel(problem)
    assert isinstance(channel, str)
    return channel


def _encode(message: Mapping[str, Any]) -> bytes:
    if not isinstance(message, Mapping) or not isinstance(message.get("type"), str):
        raise EncodeError('a channel message is a dict with a "type" string')
    try:
        return _json.dumps(dict(message)).encode()
    except TypeError as exc:
        raise EncodeError(f"cannot send this message: {exc}") from exc


async def asend(channel: str, message: Mapping[str, Any]) -> None:
    """Queue ``message`` on ``channel`` for exactly one receiver."""
    validate_channel(channel)
    await get_hub().engine.send(channel, _encode(message))


def send(channel: str, message: Mapping[str, Any]) -> None:
    """Sync twin of :func:`asend`, for views, signals, commands and tasks."""
    validate_channel(channel)
    get_hub().engine.send_blocking(channel, _encode(message))


async def areceive(channel: str, timeout: float | None = None) -> dict[str, Any] | None:
    """Take the next message of ``channel``, waiting up to ``timeout`` seconds (None: until
    one comes). Returns None when the time is up."""
    validate_channel(channel)
    payload = await get_hub().engine.receive(channel, timeout)
    if payload is None:
        return None
    message = _json.loads(payload)
    if not isinstance(message, dict):
        raise ValueError(f"channel {channel!r} held a message that is not a JSON object")
    return message


class Worker:
    """Handles the messages of one channel in a worker process (``courant_worker``).

    A message ``{"type": "thumbnail.make", ...}`` calls ``thumbnail_make(message)``, which
    may be ``async def`` or a plain ``def`` (run in a thread, with Django's database
    connection handling, so it may use the ORM). Messages of a channel are handled one at
    a time, in order; run more worker processes to handle more at once. An exception is
    logged and the worker goes on with the next message.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._executor = executor_for_connection()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Call the handler named by ``message["type"]``."""
        kind = message.get("type")
        name = kind.replace(".", "_") if isinstance(kind, str) else ""
        handler = getattr(self, name, None) if name and not name.startswith("_") else None
        if handler is None or name == "dispatch":
            self.unknown(message)
            return
        if asyncio.iscoroutinefunction(handler):
            await handler(message)
        else:
            await run_sync(self._executor, handler, message)

    def unknown(self, message: dict[str, Any]) -> None:
        """A message whose type no method handles. The default logs a warning."""
        logger.warning(
            "%s has no handler for message type %r on channel %r; dropped",
            type(self).__name__,
            message.get("type"),
            self.channel,
        )

    async def run(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        """Receive and handle messages until ``stop`` is set (the message being handled
        is finished first). An engine outage is logged once and waited out."""
        outage: float | None = None
        backoff = 0.1
        while not stop.is_set():
            try:
                message = await areceive(self.channel, timeout=poll)
            except EngineError as exc:
                if outage is None:
                    outage = time.monotonic()
                    logger.warning("Channel %r cannot be received: %s; retrying", self.channel, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except ValueError:
                logger.error("Dropped a message on channel %r that is not JSON", self.channel)
                continue
            if outage is not None:
                logger.warning(
                    "Channel %r is received again after %.1fs",
                    self.channel,
                    time.monotonic() - outage,
                )
                outage, backoff = None, 0.1
            if message is None:
                continue
            try:
                await self.dispatch(message)
            except Exception:
                logger.exception(
                    "%s failed on a %r message", type(self).__name__, message.get("type")
                )


__all__ = ["Worker", "areceive", "asend", "send", "validate_channel"]

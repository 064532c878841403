"""The Server-Sent Events transport: one long ``GET`` answered with ``text/event-stream``,
and one ``POST`` per frame from the client (:mod:`.http` answers those).

The stream starts when the consumer accepts (``event: open``) and ends with
``event: close``. Each topic message forwarded carries an ``id:`` listing the connection's
position in every topic it receives, so that a browser reconnecting with
``Last-Event-ID`` can be handed what it missed: the stream that reconnects finds those
positions in ``consumer.resume`` before ``connect()`` runs.
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from ..closecodes import CloseCode
from ..conf import get_settings
from ..connection import OPEN
from ..history import Position, Recovery
from ..hub import get_hub
from . import events
from .http import BODY, OPENED, HTTPConnection, chunk, converse, header, respond, until_disconnect

if TYPE_CHECKING:
    from ..conf import Settings
    from ..consumer import Consumer
    from ..hub import Hub, Replay
    from ..message import Message
    from ..types import ASGIEvent, Receive, Scope, Send

_KEEPALIVE: Final = chunk(events.KEEPALIVE)


class SSEConnection(HTTPConnection):
    """A connection over an SSE stream; ``send`` is the stream's ASGI send."""

    transport = "sse"

    def __init__(self, send: Send, *, hub: Hub, settings: Settings) -> None:
        super().__init__(self._emit, hub=hub, settings=settings)
        self._respond = send
        #: Where the client is in each topic whose messages it was sent (or joined):
        #: what the ``id:`` of the next topic message lists.
        self.positions: dict[str, Position] = {}
        self._keepalive_interval = settings.sse_keepalive
        self._keepalive: asyncio.TimerHandle | None = None

    def _message_event(self, message: Message) -> ASGIEvent:
        positions = self.positions
        positions[message.topic] = Position(message.epoch, message.offset)
        encoded = message.sse_protocol_event if self.wrap_messages else message.sse_event
        return chunk(events.with_id(encoded, events.event_id(positions)))

    async def join(
        self, topic: str, since: Position | None = None, replay: Replay | None = None
    ) -> Recovery:
        recovery = await super().join(topic, since, replay)
        if topic in self.topics:
            # Messages recovered meanwhile moved it already; otherwise this is where it is.
            self.positions.setdefault(topic, recovery.position)
        return recovery

    async def leave(self, topic: str) -> None:
        await super().leave(topic)
        self.positions.pop(topic, None)

    async def _emit(self, event: ASGIEvent) -> None:
        """Write one event to the stream: the connection's ``send``."""
        kind = event["type"]
        if kind == BODY:
            await self._respond(event)
            if not event["more_body"]:
                self._final_delivered()
        elif kind == OPENED:
            headers = [*self.EVENT_HEADERS, *event["headers"]]
            await self._respond({"type": "http.response.start", "status": 200, "headers": headers})
            await self._respond(chunk(event["body"]))
            self._schedule_keepalive()
        else:  # refused before accept()
            await respond(self._respond, 403, b"Forbidden")
            self._final_delivered()

    def _schedule_keepalive(self) -> None:
        self._keepalive = self.loop.call_later(self._keepalive_interval, self._keep_alive)

    def _keep_alive(self) -> None:
        if self.state is OPEN:
            # Queued like any frame: it never overtakes one, and a stuck stream counts it.
            self._push(_KEEPALIVE)
            self._schedule_keepalive()

    def finish(self, code: int) -> list[str]:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        return super().finish(code)

    @classmethod
    async def open(cls, consumer: Consumer, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one SSE stream with ``consumer``, until it ends."""
        settings = get_settings()
        connection = cls(send, hub=get_hub(), settings=settings)
        last_event_id = header(scope, b"last-event-id")
        if last_event_id is not None:
            resume = events.parse_last_event_id(last_event_id, settings.max_subscriptions)
            connection.resume = MappingProxyType(resume)
        watcher = asyncio.get_running_loop().create_task(_watch(receive, connection))
        try:
            await converse(connection, consumer, scope)
        finally:
            watcher.cancel()


async def _watch(receive: Receive, connection: SSEConnection) -> None:
    await until_disconnect(receive)
    connection.end(CloseCode.GOING_AWAY)


__all__ = ["SSEConnection"]

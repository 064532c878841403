"""The WebSocket transport: ASGI ``websocket`` events <-> consumer handlers.

This driver is the error boundary of a WebSocket conversation. An exception in a handler
is logged with its traceback and closes the connection with 1011 (or refuses it, during
``connect()``); an oversized message closes it with 1009; nothing a client sends can
raise out of here into the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from ..closecodes import CloseCode
from ..conf import get_settings
from ..connection import CLOSED, CLOSING, OPEN, Connection, State
from ..history import Position
from ..hub import get_hub
from ..message import Message

if TYPE_CHECKING:
    from ..consumer import Consumer
    from ..types import ASGIEvent, Receive, Scope, Send

logger = logging.getLogger("courant.websocket")

#: Client frames read ahead for a consumer that handles topic messages itself, before
#: reading pauses (and the client's frames wait in the server's TCP buffer instead).
READ_AHEAD = 8


class WebSocketConnection(Connection):
    """A connection over a WebSocket."""

    transport = "websocket"

    def _accept_event(
        self, subprotocol: str | None, headers: Iterable[tuple[bytes, bytes]]
    ) -> ASGIEvent:
        event: ASGIEvent = {"type": "websocket.accept", "subprotocol": subprotocol}
        headers = list(headers)
        if headers:
            event["headers"] = headers
        return event

    def _text_event(self, text: str) -> ASGIEvent:
        return {"type": "websocket.send", "text": text}

    def _bytes_event(self, data: bytes) -> ASGIEvent:
        return {"type": "websocket.send", "bytes": data}

    def _message_event(self, message: Message) -> ASGIEvent:
        return message.protocol_event if self.wrap_messages else message.websocket_event

    def _close_event(self, code: int, reason: str) -> ASGIEvent:
        # Before the handshake completes, ASGI servers answer this with HTTP 403.
        return {"type": "websocket.close", "code": code, "reason": reason}


def too_big(text: str | None, data: bytes | None, limit: int | None) -> bool:
    """Whether an incoming message exceeds ``limit`` bytes (UTF-8 for text)."""
    if limit is None:
        return False
    if data is not None:
        return len(data) > limit
    if text is None:
        return False
    # A character is 1 to 4 bytes: only encode when the length alone cannot decide.
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode()) > limit


class _Gap(NamedTuple):
    topic: str
    position: Position


class _Inbox:
    """Client events and topic messages, taken in arrival order, for a consumer that
    handles topic messages itself (so they are never handled concurrently).

    Topic messages are bounded like the send queue: past the limit, ``put_message``
    refuses and the connection is closed as too slow. Client events instead make the
    reader wait, which leaves them in the server's buffers.
    """

    def __init__(self, limit: int) -> None:
        self._items: deque[ASGIEvent | Message | _Gap] = deque()
        self._limit = limit
        self._messages = 0
        self._events = 0
        self._room = asyncio.Event()
        self._room.set()
        self._waiter: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set_result(None)

    def put_message(self, message: Message | _Gap) -> bool:
        if self._messages >= self._limit:
            return False
        self._messages += 1
        self._items.append(message)
        self._wake()
        return True

    async def put_event(self, event: ASGIEvent) -> None:
        await self._room.wait()
        self._events += 1
        self._items.append(event)
        if self._events >= READ_AHEAD:
            self._room.clear()
        self._wake()

    async def get(self) -> ASGIEvent | Message | _Gap:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        item = self._items.popleft()
        if isinstance(item, Message | _Gap):
            self._messages -= 1
        else:
            self._events -= 1
            self._room.set()
        return item


async def _read_into(receive: Receive, inbox: _Inbox) -> None:
    while True:
        event = await receive()
        await inbox.put_event(event)
        if event["type"] == "websocket.disconnect":
            return


class _Conversation:
    """One WebSocket connection served by one consumer, from handshake to disconnect."""

    # Slots, and no closures: one of these lives as long as its connection.
    __slots__ = ("aborted", "connection", "consumer", "name", "next_event", "reader", "task")

    def __init__(self, consumer: Consumer, connection: Connection, receive: Receive) -> None:
        self.consumer = consumer
        self.connection = connection
        self.name = type(consumer).__qualname__
        self.reader: asyncio.Task[None] | None = None
        self.next_event: Callable[[], Awaitable[ASGIEvent | Message | _Gap]] = receive
        self.task: asyncio.Task[Any] | None = None
        self.aborted = False
        if consumer._handles_messages:
            inbox = _Inbox(get_settings().send_queue_limit)
            self.next_event = inbox.get

            def deliver(message: Message | _Gap) -> None:
                state = connection.state
                if state is CLOSING or state is CLOSED:
                    return
                if not inbox.put_message(message):
                    connection.overflow()

            def gap(topic: str, position: Position) -> None:
                deliver(_Gap(topic, position))

            connection.deliver = deliver
            connection.on_gap = gap
            self.reader = asyncio.get_running_loop().create_task(_read_into(receive, inbox))

    def abort(self) -> None:
        """End the conversation now (the close could not complete in time)."""
        if self.task is not None:
            self.aborted = True
            self.task.cancel()

    async def _converse(self) -> int:
        """Run the handlers until the client is gone; return the close code."""
        connection = self.connection
        try:
            await self.consumer.dispatch("connect")
        except Exception:
            logger.exception("%s.connect() raised; refusing the connection", self.name)
            connection.close(CloseCode.INTERNAL_ERROR)
        else:
            if connection.state is State.CONNECTING:
                logger.info("%s.connect() returned without accept(): connection refused", self.name)
                connection.close()
        limit = get_settings().max_message_size
        while True:
            event = await self.next_event()
            if isinstance(event, Message):
                if connection.state is OPEN:
                    await self._handle("topic_message", event)
                continue
            if isinstance(event, _Gap):
                if connection.state is State.OPEN:
                    await self._handle("topic_gap", event.topic, event.position)
                continue
            kind = event["type"]
            if kind == "websocket.receive":
                if connection.state is not OPEN:
                    continue  # closing: the client's last words are not handled
                text, data = event.get("text"), event.get("bytes")
                if too_big(text, data, limit):
                    logger.info(
                        "%s: message over MAX_MESSAGE_SIZE (%s bytes); closing", self.name, limit
                    )
                    connection.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
                    continue
                await self._handle("receive", text, data)
            elif kind == "websocket.disconnect":
                code: int = event.get("code", 1005)
                return code

    async def _handle(self, handler: str, *args: Any) -> None:
        try:
            await self.consumer.dispatch(handler, *args)
        except Exception:
            logger.exception("%s.%s() raised; closing the connection", self.name, handler)
            self.connection.close(CloseCode.INTERNAL_ERROR, "internal error")

    async def _end(self, code: int) -> None:
        connection = self.connection
        released = connection.finish(code)
        if self.reader is not None:
            self.reader.cancel()
        try:
            await connection.hub.release(released)
            final = connection.close_code if connection.close_code is not None else code
            try:
                await self.consumer.dispatch("disconnect", final)
            except Exception:
                logger.exception("%s.disconnect() raised", self.name)
        finally:
            connection.hub.unregister(connection)


async def serve_websocket(consumer: Consumer, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one WebSocket connection with ``consumer``, until it ends."""
    event = await receive()
    if event["type"] != "websocket.connect":
        return  # the client left before the handshake began
    connection = WebSocketConnection(send, hub=get_hub(), settings=get_settings())
    consumer.attach(scope, connection)
    conversation = _Conversation(consumer, connection, receive)
    task = conversation.task = asyncio.current_task()
    assert task is not None
    connection.on_abort = conversation.abort
    connection.hub.register(connection)
    code: int = 1006
    try:
        code = await conversation._converse()
    except asyncio.CancelledError:
        if not conversation.aborted:
            raise
        task.uncancel()
    finally:
        conversation.task = None
        await conversation._end(code)

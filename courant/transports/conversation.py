"""The conversation: one connection served by one consumer, from connect to disconnect.

Every driver (WebSocket, SSE, long-poll) runs its consumer through a :class:`Conversation`,
so the handlers are called in the same order on every transport and the conversation is
the one error boundary: an exception in a handler is logged with its traceback and closes
the connection with 1011 (or refuses it, during ``connect()``); a message over
``MAX_MESSAGE_SIZE`` closes it with 1009; ``disconnect()`` is called exactly once, after
the connection's topics are left; nothing a client sends can raise out of here.

A conversation reads the events of ASGI's WebSocket specification: ``websocket.receive``
(one frame, ``text`` or ``bytes``) and ``websocket.disconnect`` (the end, with ``code``).
The WebSocket driver hands it the server's own events; the HTTP transports emulate a
WebSocket and feed it the same events through an :class:`Inbox`, a POST's frame carrying a
future under :data:`HANDLED` that is resolved once ``receive()`` has returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from .._text import utf8_longer_than
from ..closecodes import CloseCode
from ..conf import get_settings
from ..connection import CLOSED, CLOSING, OPEN, Connection, State
from ..history import Position
from ..message import Message
from ..presencehub import forget_connection

if TYPE_CHECKING:
    from ..consumer import Consumer
    from ..types import ASGIEvent, Receive

logger = logging.getLogger("courant.conversation")

#: Client frames read ahead for a consumer that handles topic messages itself, before
#: reading pauses (and the client's frames wait in the server's buffers instead).
READ_AHEAD: Final = 8

#: The key of a frame event under which an HTTP driver puts a future, resolved once the
#: frame has been handled (or dropped, because the connection is closing or gone).
HANDLED: Final = "courant.handled"


def too_big(text: str | None, data: bytes | None, limit: int | None) -> bool:
    """Whether an incoming message exceeds ``limit`` bytes (UTF-8 for text)."""
    if limit is None:
        return False
    if data is not None:
        return len(data) > limit
    if text is None:
        return False
    return utf8_longer_than(text, limit)


class Gap(NamedTuple):
    """Messages of ``topic`` were lost; those that follow come after ``position``."""

    topic: str
    position: Position


def _resolve(event: ASGIEvent) -> None:
    handled = event.get(HANDLED)
    if handled is not None and not handled.done():
        handled.set_result(None)


class Inbox:
    """Client events and topic messages, taken in arrival order.

    Topic messages are bounded like the send queue: past the limit, :meth:`put_message`
    refuses, and the connection is closed as too slow. Client frames instead make the
    writer wait (:meth:`put_event`), which leaves them in the server's buffers. The end
    (:meth:`put_end`) never waits. Once :meth:`close` is called, nothing more is taken.
    """

    def __init__(self, limit: int) -> None:
        self._items: deque[ASGIEvent | Message | Gap] = deque()
        self._limit = limit
        self._messages = 0
        self._events = 0
        self._room = asyncio.Event()
        self._room.set()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def put_message(self, message: Message | Gap) -> bool:
        """Queue a topic message, or a gap; False if the limit is reached."""
        if self._messages >= self._limit:
            return False
        self._messages += 1
        self._items.append(message)
        self._wake()
        return True

    async def put_event(self, event: ASGIEvent) -> None:
        """Queue a client event, once fewer than ``READ_AHEAD`` are waiting."""
        await self._room.wait()
        if self._closed:
            _resolve(event)
            return
        self._events += 1
        self._items.append(event)
        if self._events >= READ_AHEAD:
            self._room.clear()
        self._wake()

    def put_end(self, event: ASGIEvent) -> None:
        """Queue the event that ends the conversation, without waiting for room."""
        if not self._closed:
            self._items.append(event)
            self._events += 1
            self._wake()

    async def get(self) -> ASGIEvent | Message | Gap:
        """The next item, in arrival order; waits for one."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        item = self._items.popleft()
        if isinstance(item, Message | Gap):
            self._messages -= 1
        else:
            self._events -= 1
            if self._events < READ_AHEAD:
                self._room.set()
        return item

    def close(self) -> None:
        """Take nothing more: frames still waiting count as handled, and writers waiting
        for room go on (and find it closed)."""
        self._closed = True
        for item in self._items:
            if not isinstance(item, Message | Gap):
                _resolve(item)
        self._items.clear()
        self._room.set()


async def _read_into(receive: Receive, inbox: Inbox) -> None:
    while True:
        event = await receive()
        await inbox.put_event(event)
        if event["type"] == "websocket.disconnect":
            return


class Conversation:
    """One connection served by one consumer, from ``connect()`` to ``disconnect()``.

    The client's events come from ``receive`` (an ASGI receive callable), or from
    ``inbox`` when the driver fills one itself; give one or the other. A consumer that
    handles topic messages itself gets them in the same order as the client's events,
    through the inbox (with ``receive``, one that a reader task fills from it).
    """

    # Slots, and no closures: one of these lives as long as its connection.
    __slots__ = (
        "aborted",
        "connection",
        "consumer",
        "inbox",
        "name",
        "next_event",
        "reader",
        "task",
    )

    def __init__(
        self,
        consumer: Consumer,
        connection: Connection,
        receive: Receive | None = None,
        *,
        inbox: Inbox | None = None,
    ) -> None:
        self.consumer = consumer
        self.connection = connection
        self.name = type(consumer).__qualname__
        self.reader: asyncio.Task[None] | None = None
        self.task: asyncio.Task[Any] | None = None
        self.aborted = False
        self.inbox = inbox
        self.next_event: Callable[[], Awaitable[ASGIEvent | Message | Gap]]
        if inbox is not None:
            self.next_event = inbox.get
        elif receive is not None:
            self.next_event = receive
            if consumer._handles_messages:
                inbox = self.inbox = Inbox(get_settings().send_queue_limit)
                self.reader = asyncio.get_running_loop().create_task(_read_into(receive, inbox))
                self.next_event = inbox.get
        else:
            raise TypeError("Conversation() takes receive or inbox")
        if consumer._handles_messages:
            connection.deliver = self._deliver
            connection.on_gap = self._gap

    def _deliver(self, message: Message | Gap) -> None:
        connection = self.connection
        state = connection.state
        if state is CLOSING or state is CLOSED:
            return
        assert self.inbox is not None
        if not self.inbox.put_message(message):
            connection.overflow()

    def _gap(self, topic: str, position: Position) -> None:
        self._deliver(Gap(topic, position))

    def abort(self) -> None:
        """End the conversation now (the close could not complete in time)."""
        if self.task is not None:
            self.aborted = True
            self.task.cancel()

    def message_too_big(self) -> None:
        """The client sent a message over ``MAX_MESSAGE_SIZE``: close with 1009."""
        logger.info(
            "%s: message over MAX_MESSAGE_SIZE (%s bytes); closing",
            self.name,
            get_settings().max_message_size,
        )
        self.connection.close(CloseCode.MESSAGE_TOO_BIG, "message too big")

    async def run(self, connected: asyncio.Future[None] | None = None) -> None:
        """Serve the connection until it ends; ``connected`` (if given) is resolved once
        ``connect()`` has returned (or the conversation has ended before)."""
        # One coroutine from here to the end: every frame a connection awaits through
        # stays in memory for as long as it is open.
        connection = self.connection
        task = self.task = asyncio.current_task()
        assert task is not None
        connection.on_abort = self.abort
        connection.hub.register(connection)
        code: int = 1006
        try:
            await self._connect()
            if connected is not None and not connected.done():
                connected.set_result(None)
            limit = get_settings().max_message_size
            while True:
                event = await self.next_event()
                if isinstance(event, Message):
                    if connection.state is OPEN:
                        await self._handle("topic_message", event)
                    continue
                if isinstance(event, Gap):
                    if connection.state is OPEN:
                        await self._handle("topic_gap", event.topic, event.position)
                    continue
                kind = event["type"]
                if kind == "websocket.receive":
                    # Closing: the client's last words are not handled.
                    if connection.state is OPEN:
                        text, data = event.get("text"), event.get("bytes")
                        if too_big(text, data, limit):
                            self.message_too_big()
                        else:
                            await self._handle("receive", text, data)
                    _resolve(event)
                elif kind == "websocket.disconnect":
                    code = event.get("code", 1005)
                    break
        except asyncio.CancelledError:
            if not self.aborted:
                raise
            task.uncancel()
        finally:
            self.task = None
            if connected is not None and not connected.done():
                connected.set_result(None)
            await self._end(code)

    async def _connect(self) -> None:
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
        if self.inbox is not None:
            self.inbox.close()
        try:
            await connection.hub.release(released)
            await forget_connection(connection)
            final = connection.close_code if connection.close_code is not None else code
            try:
                await self.consumer.dispatch("disconnect", final)
            except Exception:
                logger.exception("%s.disconnect() raised", self.name)
        finally:
            connection.hub.unregister(connection)


__all__ = ["HANDLED", "READ_AHEAD", "Conversation", "Gap", "Inbox", "too_big"]

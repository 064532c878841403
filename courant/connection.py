"""Connections: one client on one transport, as consumers and the hub see it.

A connection owns a bounded send queue. Everything that reaches the client (the
handshake answer, the consumer's own frames, topic messages fanned out by the hub, the
close) goes out in order. A frame with nothing ahead of it is sent at once, by whoever
produced it (for a fan-out, the hub's loop over subscribers), with no task switch per
client. Only when the transport makes a send wait (the client's socket buffers are full)
does a writer task take over, and frames queue behind it until it catches up. Queuing
never blocks: if more than ``SEND_QUEUE_LIMIT`` frames are waiting *while the transport
is blocked that way*, the client is closed with
:attr:`~courant.closecodes.CloseCode.SEND_QUEUE_FULL`, its queue dropped, while every
other client carries on. A burst queued while the writer simply has not had its turn yet
does not count.

The connection knows nothing of the consumer; a transport driver (see
:mod:`courant.transports`) creates it, feeds the consumer, and ends it. Transport
subclasses only say how to build their ASGI events.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

from . import _eager
from ._sync import call_on_loop
from .closecodes import CloseCode
from .exceptions import InvalidState
from .history import Position, Recovery
from .topics import validate_topic

if TYPE_CHECKING:
    from .conf import Settings
    from .hub import Hub, Replay, Subscriber
    from .message import Message
    from .types import ASGIEvent, Send

logger = logging.getLogger("courant.connection")

#: The longest close reason RFC 6455 allows, in UTF-8 bytes (section 5.5: 125 minus the code).
MAX_REASON_BYTES = 123


class State(enum.Enum):
    """Where a connection is in its life. Moves only forward."""

    #: The handshake is waiting for the consumer to ``accept()`` or ``close()``.
    CONNECTING = "connecting"
    #: Accepted: frames flow both ways.
    OPEN = "open"
    #: A close is queued or sent; nothing more is queued.
    CLOSING = "closing"
    #: The transport is gone.
    CLOSED = "closed"


# On Python 3.11 every ``State.X`` lookup goes through a descriptor (about as costly as a
# function call): the per-frame paths compare with these instead.
CONNECTING, OPEN, CLOSING, CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED


def check_close_code(code: int) -> int:
    """Return ``code`` if a server may send it (RFC 6455 section 7.4), else raise."""
    if code in (1000, 1001, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014):
        return code
    if 3000 <= code <= 4999:
        return code
    raise ValueError(f"{code} is not a close code a server may send; use 1000 or 3000-4999")


def _truncate_reason(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[:MAX_REASON_BYTES].decode(errors="ignore")


def _dropped(message: Message) -> None:
    """What a finished connection does with a topic message: nothing."""


def _ignore_gap(topic: str, position: Position) -> None:
    """What a connection does with a gap when its consumer does not handle gaps."""


class Connection(abc.ABC):
    """One client on one transport.

    Create it on the event loop that will serve it. Every public method may be called
    from that loop or, from a sync handler, from another thread (the call then runs on
    the loop and returns once it has).
    """

    #: ``"websocket"``, ``"sse"`` or ``"longpoll"``.
    transport: ClassVar[str]
    #: Topic positions the client said it has, when it reconnected (an SSE stream's
    #: ``Last-Event-ID``): for the consumer to join again with ``since``.
    resume: Mapping[str, Position] = MappingProxyType({})
    #: Whether topic messages are sent as frames of the topics protocol (its endpoint
    #: sets it) rather than as published. Transports honour it in ``_message_event``.
    wrap_messages: bool = False
    #: Whether the hub may write this transport's topic messages itself (see
    #: :func:`hand_out`): true where the message's own cached ASGI event is what is sent.
    _direct_messages: ClassVar[bool] = False

    def __init__(self, send: Send, *, hub: Hub, settings: Settings) -> None:
        self.state = State.CONNECTING
        self.hub = hub
        #: Topics this connection has joined.
        self.topics: set[str] = set()
        #: The close code, once known: the one the server sent, or the one the client did.
        self.close_code: int | None = None
        self._send = send
        self._loop = asyncio.get_running_loop()
        # Frames that wait for the writer. Made on first use: most connections never
        # queue anything once open (see _push), and idle connections are many.
        self._queue: deque[ASGIEvent] | None = None
        self._limit = settings.send_queue_limit
        self._close_timeout = settings.close_timeout
        # The task that sends queued frames; it exists only while there are some.
        self._writer: asyncio.Task[None] | None = None
        # True while the writer is suspended inside the transport's send: the client is
        # not taking frames as fast as they come.
        self._blocked = False
        self._final: ASGIEvent | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        #: Set by the driver: ends the conversation when a close cannot complete in time.
        self.on_abort: Callable[[], None] | None = None
        self._deliver: Callable[[Message], None] = self._forward
        #: This connection while the hub may write its topic messages itself (see
        #: :func:`hand_out`), else ``None``.
        self.direct: Connection | None = self if self._direct_messages else None
        #: How the hub tells this connection that messages of a topic were lost.
        self.on_gap: Callable[[str, Position], None] = _ignore_gap

    @property
    def deliver(self) -> Callable[[Message], None]:
        """How the hub hands this connection a topic message. Forwarding it to the client
        is the default; a driver whose consumer handles messages itself replaces it."""
        return self._deliver

    @deliver.setter
    def deliver(self, deliver: Callable[[Message], None]) -> None:
        self._deliver = deliver
        # The hub writes messages itself only for the default forwarding: anything else
        # (a consumer's handler, a filter) must see every message.
        forwarding = self._direct_messages and deliver == self._forward
        self.direct = self if forwarding else None

    # -- what a transport builds ---------------------------------------------------------

    @abc.abstractmethod
    def _accept_event(
        self, subprotocol: str | None, headers: Iterable[tuple[bytes, bytes]]
    ) -> ASGIEvent:
        """The event that completes the handshake."""

    @abc.abstractmethod
    def _text_event(self, text: str) -> ASGIEvent:
        """The event that sends one text frame."""

    @abc.abstractmethod
    def _bytes_event(self, data: bytes) -> ASGIEvent:
        """The event that sends one binary frame."""

    @abc.abstractmethod
    def _message_event(self, message: Message) -> ASGIEvent:
        """The event that sends a topic message; shared by every subscriber, so build it
        once per message (``Message`` caches it)."""

    @abc.abstractmethod
    def _close_event(self, code: int, reason: str) -> ASGIEvent:
        """The event that closes the connection, or refuses it during the handshake."""

    # -- actions -----------------------------------------------------------------------

    def accept(
        self, subprotocol: str | None = None, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        """Complete the handshake. Frames queued before it (topic messages that arrived
        while ``connect()`` ran) follow it, in order."""
        call_on_loop(self._loop, self._accept, subprotocol, headers)

    def _accept(self, subprotocol: str | None, headers: Iterable[tuple[bytes, bytes]]) -> None:
        if self.state is State.OPEN:
            raise InvalidState("accept() on a connection that is already open")
        if self.state is not State.CONNECTING:
            return  # closed meanwhile (its queue overflowed, or the client left)
        self.state = State.OPEN
        event = self._accept_event(subprotocol, headers)
        if self._queue:
            self._queue.appendleft(event)
            self._start_writer(None)
        else:
            self._push(event)  # usually: nothing arrived during connect()

    def send_text(self, text: str) -> None:
        """Queue one text frame."""
        if not isinstance(text, str):
            raise TypeError(f"send_text() takes str, not {type(text).__name__}")
        call_on_loop(self._loop, self._send_own, self._text_event(text))

    def send_bytes(self, data: bytes) -> None:
        """Queue one binary frame."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes() takes bytes, not {type(data).__name__}")
        call_on_loop(self._loop, self._send_own, self._bytes_event(bytes(data)))

    def _send_own(self, event: ASGIEvent) -> None:
        if self.state is State.CONNECTING:
            raise InvalidState("send before accept(): accept the connection first")
        self._push(event)

    def forward(self, message: Message) -> None:
        """Queue a topic message exactly as it was published."""
        call_on_loop(self._loop, self._forward, message)

    def _forward(self, message: Message) -> None:
        # The hub's path: on the loop already, once per subscriber per message.
        self._push(self._message_event(message))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close the connection after the frames already queued; during the handshake,
        refuse it. Closing twice does nothing."""
        check_close_code(code)
        call_on_loop(self._loop, self._close, code, _truncate_reason(reason), True)

    def _close(self, code: int, reason: str, flush: bool) -> None:
        if self.state in (State.CLOSING, State.CLOSED):
            return
        queue = self._waiting()
        if not flush or self.state is State.CONNECTING:
            queue.clear()
        self.state = State.CLOSING
        self.close_code = code
        self._final = self._close_event(code, reason)
        queue.append(self._final)
        self._start_writer(None)
        # A client that does not read may never take the close frame either: past the
        # timeout the driver ends the conversation without it.
        self._close_timer = self._loop.call_later(self._close_timeout, self._abort_if_not_closed)

    def _abort_if_not_closed(self) -> None:
        if self.state is not State.CLOSED and self.on_abort is not None:
            logger.info(
                "%s connection did not close within %.1fs; ending it",
                self.transport,
                self._close_timeout,
            )
            self.on_abort()

    # -- topics ------------------------------------------------------------------------

    async def join(
        self, topic: str, since: Position | None = None, replay: Replay | None = None
    ) -> Recovery:
        """Subscribe to ``topic``; messages published afterwards are delivered. With
        ``since``, the messages published after that position are delivered first (see
        :meth:`Hub.join <courant.hub.Hub.join>`)."""
        validate_topic(topic)
        if since is not None:
            since = Position(*since)
        if topic in self.topics:
            return Recovery(False, self.hub.position(topic))
        if self.state in (State.CLOSING, State.CLOSED):
            return Recovery(False, Position("", 0))
        recovery = await self.hub.join(topic, self, since, replay)
        if self.closed:
            # The client left while the subscription was being made.
            await self.hub.leave(topic, self)
        else:
            self.topics.add(topic)
        return recovery

    def gap(self, topic: str, position: Position) -> None:
        """The hub lost messages of ``topic``: tell whoever handles it."""
        self.on_gap(topic, position)

    async def leave(self, topic: str) -> None:
        """Unsubscribe from ``topic``. Leaving a topic not joined does nothing."""
        if topic in self.topics:
            self.topics.discard(topic)
            await self.hub.leave(topic, self)

    def _drop_topics(self) -> list[str]:
        """Stop all deliveries at once; return the topics the process must unsubscribe."""
        topics, self.topics = self.topics, set()
        return [topic for topic in topics if self.hub.discard(topic, self)]

    # -- the send queue ----------------------------------------------------------------

    def _push(self, event: ASGIEvent) -> None:
        state = self.state
        if state is CLOSING or state is CLOSED:
            return
        if self._writer is None and state is OPEN:
            # Nothing is queued (the writer would be running), so nothing is ahead of
            # this frame: send it here, without a task step per client per fan-out.
            # Only a send that has to wait for the client gets a writer task.
            try:
                suspended = _eager.step(self._send(event))
            except Exception as exc:
                self._send_failed(exc)
                return
            if suspended is not None:
                self._start_writer(suspended)
            return
        queue = self._waiting()
        queue.append(event)
        if len(queue) > self._limit and (self._blocked or state is CONNECTING):
            self.overflow()

    def overflow(self) -> None:
        """Close the connection because the client does not keep up: what is queued for
        it is dropped, and it is closed with ``SEND_QUEUE_FULL`` (refused, if it was still
        connecting). Call it on the loop."""
        logger.warning(
            "Closing %s connection: more than SEND_QUEUE_LIMIT=%d frames waiting (the client "
            "is not reading)",
            self.transport,
            self._limit,
        )
        self._close(CloseCode.SEND_QUEUE_FULL, "send queue full", False)

    def _send_failed(self, exc: Exception) -> None:
        # The transport is gone (uvicorn raises ClientDisconnected, an OSError); the
        # driver learns it from the disconnect event. Stop queuing for it meanwhile.
        logger.debug("%s send failed: %r", self.transport, exc)
        if self.state is not State.CLOSED:
            self.state = State.CLOSING
        if self._queue is not None:
            self._queue.clear()

    def _waiting(self) -> deque[ASGIEvent]:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        return queue

    def _start_writer(self, suspended: _eager.Suspended | None) -> None:
        if self._writer is None:
            self._writer = self._loop.create_task(self._write(suspended))

    async def _write(self, suspended: _eager.Suspended | None) -> None:
        """Finish ``suspended`` (a send begun in ``_push``), then send what is queued,
        then end: the next frame is sent by ``_push`` again."""
        queue = self._waiting()
        send = self._send
        self._blocked = True
        try:
            if suspended is not None:
                await _eager.resume(suspended)
            while queue:
                event = queue.popleft()
                await send(event)
                if event is self._final:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._send_failed(exc)
        finally:
            self._blocked = False
            if self._writer is asyncio.current_task():
                self._writer = None

    # -- the end -----------------------------------------------------------------------

    def finish(self, code: int) -> list[str]:
        """Mark the connection closed (called once, by the driver). Stops the writer and
        all deliveries; returns the topics the process must now unsubscribe from."""
        self.state = State.CLOSED
        if self.close_code is None:
            self.close_code = code
        # Break the cycles through bound methods and closures, so a finished connection
        # is freed at once by reference counting rather than at the next cyclic GC.
        self.deliver = _dropped
        self.on_gap = _ignore_gap
        self.on_abort = None
        if self._writer is not None:
            # The loop keeps a cancelled task alive until it ends; holding it here would
            # keep this connection alive through its traceback after that.
            self._writer.cancel()
            self._writer = None
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._queue is not None:
            self._queue.clear()
        return self._drop_topics()

    @property
    def closed(self) -> bool:
        """True once the transport is gone."""
        return self.state is State.CLOSED

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop serving this connection."""
        return self._loop

    @property
    def queued(self) -> int:
        """How many frames wait to be sent to the client."""
        return len(self._queue) if self._queue is not None else 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.value} topics={len(self.topics)}>"


# -- fan-out -----------------------------------------------------------------------------


class _Cursor:
    """Where one fan-out's writing loop is."""

    __slots__ = ("handed_over", "index")

    def __init__(self, index: int) -> None:
        #: The subscriber being written to.
        self.index = index
        #: Set when the loop waits on that subscriber: its writer task now owns the loop,
        #: which then ends after that one send.
        self.handed_over = False


def hand_out(subscribers: Collection[Subscriber], message: Message) -> None:
    """Give ``message`` to each of ``subscribers``, in turn. Called by the hub, on the
    loop, once per message.

    A connection with nothing queued gets the message's frame written at once, by one
    coroutine looping over all of them and stepped here: each write is an ``await``
    that completes in place (the kernel takes the bytes), so a fan-out costs no task
    step, and no exception, per connection (stepping each write on its own, as
    ``_push`` does, raises ``StopIteration`` for each one). If a write has to wait (that
    client is slow), the loop, stopped inside that write, is handed to that
    connection's writer task, which finishes the write and ends it, and a new loop
    goes on from the next subscriber. Every other subscriber gets ``deliver()``.
    """
    pending = list(subscribers)  # a copy: a write that waits lets others join or leave
    start = 0
    while start < len(pending):
        cursor = _Cursor(start)
        writing = _write_all(pending, message, cursor)
        try:
            awaiting = writing.send(None)
        except StopIteration:
            return
        cursor.handed_over = True
        connection = pending[cursor.index].direct
        assert connection is not None  # only direct writes wait
        connection._start_writer(_eager.Suspended(writing, awaiting))
        start = cursor.index + 1


async def _write_all(pending: Sequence[Subscriber], message: Message, cursor: _Cursor) -> None:
    is_open = State.OPEN
    for index in range(cursor.index, len(pending)):
        subscriber = pending[index]
        connection = subscriber.direct
        # What Connection._push does for a frame with nothing ahead of it, inlined: this
        # runs once per subscriber per message.
        if connection is not None and connection._writer is None and connection.state is is_open:
            cursor.index = index
            try:
                # The transport's _message_event, inlined (WebSocketConnection's).
                wrapped = connection.wrap_messages
                event = message.protocol_event if wrapped else message.websocket_event
            except Exception:
                logger.exception("Encoding %r failed", message)
                continue
            try:
                await connection._send(event)
            except Exception as exc:
                connection._send_failed(exc)
            if cursor.handed_over:
                return
        else:
            try:
                subscriber.deliver(message)
            except Exception:
                logger.exception("Delivering %r to %r failed", message, subscriber)

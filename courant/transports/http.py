"""What the two HTTP transports (SSE and long-poll) share.

An HTTP connection emulates a WebSocket over several requests (docs/transports.md): a
``GET`` opens it, and later requests name it by its id with ``?connection=ID`` and carry
its secret in ``X-Courant-Secret``. Open HTTP connections are kept, per process, in a
registry by id. Every event they send is SSE bytes (:mod:`.events`): an SSE stream writes
them at once, a long-poll connection holds them for the next poll.

:func:`serve_http` answers every request of these transports: it opens connections, and
checks the requests that name one (404 for a connection that does not exist, 403 for a
wrong secret) before handing them over: a ``POST`` carries one frame from the client, a
``GET`` is a poll (long-poll only).
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import parse_qs

from ..closecodes import CloseCode
from ..conf import get_settings
from ..connection import Connection
from . import events
from .conversation import HANDLED, Conversation, Inbox

if TYPE_CHECKING:
    from ..conf import Settings
    from ..consumer import Consumer
    from ..hub import Hub
    from ..message import Message
    from ..types import ASGIEvent, Receive, Scope, Send

logger = logging.getLogger("courant.http")

#: The transports served over plain HTTP requests.
HTTP_TRANSPORTS: Final = ("sse", "longpoll")
#: The header that carries a connection's secret.
SECRET_HEADER: Final = b"x-courant-secret"

# The events an HTTP connection queues: SSE bytes to write (the ASGI event itself), and
# two of our own that the transport turns into a response's start.
BODY: Final = "http.response.body"
#: ``accept()``: ``body`` is the ``open`` event, ``headers`` the consumer's extra headers.
OPENED: Final = "courant.opened"
#: ``close()`` before ``accept()``: the connection is refused with 403.
REFUSED: Final = "courant.refused"


def query(scope: Scope) -> dict[str, str]:
    """The request's query parameters, the last value of each."""
    raw = scope.get("query_string", b"")
    if not raw:
        return {}
    return {key: values[-1] for key, values in parse_qs(bytes(raw).decode("latin-1")).items()}


def requested_transport(scope: Scope) -> str | None:
    """``"sse"`` or ``"longpoll"`` if the request asks for that transport, else None."""
    if b"transport=" not in scope.get("query_string", b""):
        return None  # most HTTP requests: no parsing
    transport = query(scope).get("transport")
    return transport if transport in HTTP_TRANSPORTS else None


def opens_connection(scope: Scope) -> bool:
    """Whether the request opens a connection (rather than naming one)."""
    return "connection" not in query(scope)


def header(scope: Scope, name: bytes) -> bytes | None:
    """The value of the request header ``name`` (lower-case), or None."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def chunk(body: bytes) -> ASGIEvent:
    """The ASGI event writing ``body`` to a response that goes on."""
    return {"type": BODY, "body": body, "more_body": True}


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer a request with one whole response."""
    start: list[tuple[bytes, bytes]] = [(b"cache-control", b"no-store"), *headers]
    if status != 204:
        start += [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": BODY, "body": body})


async def until_disconnect(receive: Receive) -> None:
    """Return once the client of this request has gone."""
    while (await receive())["type"] != "http.disconnect":
        pass


class HTTPConnection(Connection):
    """A connection over HTTP requests. Subclasses say how a connection opens
    (:meth:`open`), whether a ``GET`` naming it polls (:meth:`poll`), and how its events
    reach the client (the ``send`` they give this class)."""

    #: Headers of every response that carries events.
    EVENT_HEADERS: ClassVar[Sequence[tuple[bytes, bytes]]] = (
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-store"),
        (b"x-accel-buffering", b"no"),  # nginx: pass events on at once
    )

    def __init__(self, send: Send, *, hub: Hub, settings: Settings) -> None:
        super().__init__(send, hub=hub, settings=settings)
        #: Names the connection in the requests that follow the first.
        self.id = secrets.token_urlsafe(12)
        #: Proves that a request comes from the page that opened the connection.
        self.secret = secrets.token_urlsafe(24)
        #: The client's frames and the end, for the conversation.
        self.inbox = Inbox(settings.send_queue_limit)
        #: Whether ``accept()`` was called: before it, a close refuses with 403.
        self.accepted = False
        self.conversation: Conversation | None = None

    # -- the events ----------------------------------------------------------------------

    def _accept_event(
        self, subprotocol: str | None, headers: Iterable[tuple[bytes, bytes]]
    ) -> ASGIEvent:
        self.accepted = True
        body = events.open_event(self.id, self.secret)
        return {"type": OPENED, "body": body, "headers": list(headers)}

    def _text_event(self, text: str) -> ASGIEvent:
        return chunk(events.text_event(text))

    def _bytes_event(self, data: bytes) -> ASGIEvent:
        return chunk(events.binary_event(data))

    def _message_event(self, message: Message) -> ASGIEvent:
        return chunk(message.sse_protocol_event if self.wrap_messages else message.sse_event)

    def _close_event(self, code: int, reason: str) -> ASGIEvent:
        if not self.accepted:
            return {"type": REFUSED}
        return {"type": BODY, "body": events.close_event(code, reason), "more_body": False}

    # -- the client ----------------------------------------------------------------------

    def matches(self, secret: bytes | None) -> bool:
        """Whether ``secret`` is this connection's (compared in constant time)."""
        return secret is not None and hmac.compare_digest(secret, self.secret.encode())

    def end(self, code: int) -> None:
        """End the conversation: the client is gone, or has its last event."""
        self.inbox.put_end({"type": "websocket.disconnect", "code": code})

    def _final_delivered(self) -> None:
        self.end(self.close_code if self.close_code is not None else CloseCode.NORMAL)

    @classmethod
    async def open(cls, consumer: Consumer, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request that opens a connection of this transport."""
        raise NotImplementedError

    async def poll(self, receive: Receive, send: Send) -> None:
        """Answer a ``GET`` that names this connection."""
        await respond(send, 405, b"Method Not Allowed", headers=[(b"allow", b"POST")])

    def finish(self, code: int) -> list[str]:
        # Forgotten at once: requests that name it from now on get 404, even while its
        # disconnect() runs.
        _connections.pop(self.id, None)
        self.conversation = None
        return super().finish(code)


# -- the connections of this process ---------------------------------------------------------

_connections: dict[str, HTTPConnection] = {}


async def converse(
    connection: HTTPConnection,
    consumer: Consumer,
    scope: Scope,
    connected: asyncio.Future[None] | None = None,
) -> None:
    """Serve ``connection`` with ``consumer`` until it ends, known by its id meanwhile."""
    consumer.attach(scope, connection)
    conversation = connection.conversation = Conversation(
        consumer, connection, inbox=connection.inbox
    )
    _connections[connection.id] = connection
    try:
        await conversation.run(connected)
    finally:
        _connections.pop(connection.id, None)


def open_connections() -> int:
    """How many SSE and long-poll connections this process has open."""
    return len(_connections)


# -- the requests ----------------------------------------------------------------------------


class Problem(enum.Enum):
    """Why a request's body is not a frame."""

    TOO_BIG = "too big"
    GONE = "client gone"


async def read_body(scope: Scope, receive: Receive, limit: int | None) -> bytes | Problem:
    """The request's body. One longer than ``limit`` is not read to the end (nor at all,
    when ``Content-Length`` says so)."""
    declared = header(scope, b"content-length")
    if limit is not None and declared is not None and declared.isdigit() and int(declared) > limit:
        return Problem.TOO_BIG
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            return Problem.GONE
        body = event.get("body", b"")
        size += len(body)
        if limit is not None and size > limit:
            return Problem.TOO_BIG
        chunks.append(body)
        if not event.get("more_body", False):
            return b"".join(chunks)


async def _post(connection: HTTPConnection, scope: Scope, receive: Receive, send: Send) -> None:
    """One frame from the client: answered 204 once ``receive()`` has returned."""
    body = await read_body(scope, receive, get_settings().max_message_size)
    if body is Problem.GONE:
        return
    if body is Problem.TOO_BIG:
        conversation = connection.conversation
        if conversation is not None:
            conversation.message_too_big()
        await respond(send, 413, b"Payload Too Large")
        return
    assert isinstance(body, bytes)
    content_type = header(scope, b"content-type") or b""
    handled = asyncio.get_running_loop().create_future()
    if content_type.split(b";")[0].strip().lower() == b"application/octet-stream":
        frame: ASGIEvent = {"type": "websocket.receive", "bytes": body, HANDLED: handled}
    else:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            connection.close(CloseCode.INVALID_PAYLOAD, "invalid UTF-8")
            await respond(send, 400, b"The body of a text frame must be UTF-8")
            return
        frame = {"type": "websocket.receive", "text": text, HANDLED: handled}
    await connection.inbox.put_event(frame)
    await handled
    await respond(send, 204)


async def serve_http(
    kind: type[HTTPConnection], consumer: Consumer, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one request of the HTTP transport ``kind``."""
    method = scope.get("method", "GET")
    name = query(scope).get("connection")
    if name is None:
        if method == "GET":
            await kind.open(consumer, scope, receive, send)
        else:
            await respond(send, 405, b"Method Not Allowed", headers=[(b"allow", b"GET")])
        return
    connection = _connections.get(name)
    if connection is None or not isinstance(connection, kind):
        await respond(send, 404, b"No such connection: it ended, or expired")
        return
    if not connection.matches(header(scope, SECRET_HEADER)):
        logger.warning("Refused a request to %s connection %s: wrong secret", kind.transport, name)
        await respond(send, 403, b"Forbidden")
        return
    if method == "POST":
        await _post(connection, scope, receive, send)
    elif method == "GET":
        await connection.poll(receive, send)
    else:
        await respond(send, 405, b"Method Not Allowed", headers=[(b"allow", b"GET, POST")])


__all__ = [
    "HTTP_TRANSPORTS",
    "HTTPConnection",
    "converse",
    "open_connections",
    "requested_transport",
    "serve_http",
]

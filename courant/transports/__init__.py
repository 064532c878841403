"""Transport drivers: they turn ASGI events into consumer calls and back.

A driver owns the conversation with one client: it builds the transport's
:class:`~courant.connection.Connection` and runs the consumer through a
:class:`~courant.transports.conversation.Conversation`, the single place where the
consumer's exceptions and the client's bad input are turned into close codes. Consumers
never see which driver carries them.

- :mod:`.websocket`: ASGI ``websocket`` connections.
- :mod:`.sse` and :mod:`.longpoll`: HTTP requests with ``?transport=sse`` or
  ``?transport=longpoll``, sharing :mod:`.http`; their events are framed by :mod:`.events`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ..consumer import Consumer
    from ..types import Receive, Scope, Send


def serve(consumer: Consumer, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
    """Serve one connection with ``consumer``, on the transport named by the scope: await
    the driver returned. (A plain function, so an open connection holds one coroutine
    less.)"""
    if scope["type"] == "websocket":
        from .websocket import serve_websocket

        return serve_websocket(consumer, scope, receive, send)
    if scope["type"] == "http":
        from .http import requested_transport, serve_http

        transport = requested_transport(scope)
        if transport == "sse":
            from .sse import SSEConnection

            return serve_http(SSEConnection, consumer, scope, receive, send)
        if transport == "longpoll":
            from .longpoll import LongPollConnection

            return serve_http(LongPollConnection, consumer, scope, receive, send)
    raise ValueError(
        f"{type(consumer).__name__} was routed a {scope['type']!r} request without "
        "?transport=sse or ?transport=longpoll; consumer routes take WebSocket, SSE and "
        "long-poll connections"
    )

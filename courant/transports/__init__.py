"""Transport drivers: they turn ASGI events into consumer calls and back.

A driver owns the conversation with one client: it builds the transport's
:class:`~courant.connection.Connection`, calls the consumer's handlers in order, and is the
single place where the consumer's exceptions and the client's bad input are turned into
close codes. Consumers never see which driver carries them.
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
    raise ValueError(
        f"{type(consumer).__name__} was routed a {scope['type']!r} connection; "
        "consumer routes take WebSocket connections"
    )

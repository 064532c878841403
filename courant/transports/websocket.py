"""The WebSocket transport: ASGI ``websocket`` events <-> consumer handlers.

The server's events are what a :class:`~courant.transports.conversation.Conversation`
reads, so this driver is a thin shell: it waits for the handshake and runs the
conversation, the error boundary of every transport.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..conf import get_settings
from ..connection import Connection
from ..hub import get_hub
from .conversation import Conversation

if TYPE_CHECKING:
    from ..consumer import Consumer
    from ..message import Message
    from ..types import ASGIEvent, Receive, Scope, Send


class WebSocketConnection(Connection):
    """A connection over a WebSocket."""

    transport = "websocket"
    # Keep in step with hand_out() in courant/connection.py, which inlines
    # _message_event below.
    _direct_messages = True

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


async def serve_websocket(consumer: Consumer, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one WebSocket connection with ``consumer``, until it ends."""
    event = await receive()
    if event["type"] != "websocket.connect":
        return  # the client left before the handshake began
    connection = WebSocketConnection(send, hub=get_hub(), settings=get_settings())
    consumer.attach(scope, connection)
    await Conversation(consumer, connection, receive).run()

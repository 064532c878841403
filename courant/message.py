"""Messages: what a publish puts on a topic.

A message is encoded exactly once, when it is published, into the payload every client
receives. Fan-out then hands the same payload (and the same transport frame, built on
first use) to every local subscriber, so the cost per subscriber is a write, not an
encode.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from functools import cached_property
from typing import Any

from . import _json
from .exceptions import EncodeError


class Kind(enum.Enum):
    """How a payload was produced, and so how it reaches the client."""

    #: A ``str`` published as-is; sent as a text frame, unchanged.
    TEXT = "text"
    #: ``bytes`` published as-is; sent as a binary frame.
    BINARY = "binary"
    #: Any other value, encoded as JSON; sent as a text frame.
    JSON = "json"


Payload = str | bytes


def encode(data: object) -> tuple[Kind, Payload]:
    """Encode published data once: ``str`` and ``bytes`` pass through, the rest is JSON."""
    if isinstance(data, str):
        return Kind.TEXT, data
    if isinstance(data, bytes | bytearray | memoryview):
        return Kind.BINARY, bytes(data)
    try:
        return Kind.JSON, _json.dumps(data)
    except TypeError as exc:
        raise EncodeError(f"cannot publish {type(data).__name__}: {exc}") from exc


@dataclasses.dataclass(frozen=True, eq=False)
class Message:
    """One published payload on a topic.

    ``offset`` grows by one per topic; ``epoch`` names the life of the topic's history in
    which that offset is meaningful (a new epoch means the offsets restarted).
    Treat ``data`` as read-only: every subscriber in the process shares one decoded copy.
    """

    topic: str
    offset: int
    epoch: str
    kind: Kind
    payload: Payload

    @cached_property
    def data(self) -> Any:
        """The published value: the ``str`` or ``bytes`` given, or the decoded JSON."""
        if self.kind is Kind.JSON:
            return _json.loads(self.payload)
        return self.payload

    @cached_property
    def websocket_event(self) -> dict[str, Any]:
        """The ASGI ``websocket.send`` event carrying this message, built once."""
        if self.kind is Kind.BINARY:
            return {"type": "websocket.send", "bytes": self.payload}
        return {"type": "websocket.send", "text": self.payload}

    @cached_property
    def protocol_frame(self) -> str:
        """This message as a ``message`` frame of the topics protocol (docs/protocol.md),
        built once: a JSON payload is spliced in as it is, not decoded and encoded again."""
        head = (
            f'{{"type":"message","topic":{_json.dumps(self.topic)},'
            f'"epoch":{_json.dumps(self.epoch)},"offset":{self.offset},"data":'
        )
        payload = self.payload
        if isinstance(payload, bytes):
            return f'{head}"{base64.b64encode(payload).decode()}","binary":true}}'
        if self.kind is Kind.JSON:
            return f"{head}{payload}}}"
        return f"{head}{_json.dumps(payload)}}}"

    @cached_property
    def protocol_event(self) -> dict[str, Any]:
        """The ASGI ``websocket.send`` event carrying :attr:`protocol_frame`, built once."""
        return {"type": "websocket.send", "text": self.protocol_frame}

    @cached_property
    def sse_event(self) -> bytes:
        """This message as an SSE event without an ``id:`` line, built once: a text event
        with the payload, or for bytes an ``event: binary`` one."""
        from .transports import events

        if isinstance(self.payload, bytes):
            return events.binary_event(self.payload)
        return events.text_event(self.payload)

    @cached_property
    def sse_protocol_event(self) -> bytes:
        """This message's :attr:`protocol_frame` as an SSE event without an ``id:`` line,
        built once."""
        from .transports import events

        return events.text_event(self.protocol_frame)

    def __repr__(self) -> str:
        return f"<Message {self.topic}@{self.epoch}:{self.offset} {self.kind.value}>"

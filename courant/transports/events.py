"""Server-Sent Events framing, without I/O: what the SSE and long-poll transports write.

Both HTTP transports speak the event stream format of the HTML standard
(https://html.spec.whatwg.org/multipage/server-sent-events.html): an SSE stream writes
the events as they come, a long-poll answer is a batch of the same events. Each function
here returns the bytes of one whole event, blank line included, so events can be
concatenated as they are. docs/transports.md lists the events.

The ``id:`` of an event carrying a topic message lists where the connection is in every
topic it receives, as ``TOPIC EPOCH:OFFSET`` pairs separated by spaces. A browser sends
the last one back in ``Last-Event-ID`` when it reconnects; :func:`parse_last_event_id`
reads it back, and never raises, whatever a client puts there.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Final

from .. import _json
from ..history import Position
from ..topics import name_problem

#: A comment line: ignored by clients, it keeps proxies from closing an idle stream.
KEEPALIVE: Final = b": keep-alive\n\n"

#: The longest epoch accepted from ``Last-Event-ID`` (engines make them 8 to 16 characters).
MAX_EPOCH_LENGTH: Final = 64
#: The longest offset accepted from ``Last-Event-ID``, in digits (2**63 has 19).
MAX_OFFSET_DIGITS: Final = 19

# The line breaks of the event stream format: CRLF, a lone LF and a lone CR.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def event(data: str, *, name: str | None = None, event_id: str | None = None) -> bytes:
    """One event whose ``data`` is ``data``, with an ``event:`` line if ``name`` is given
    (without one, ``EventSource.onmessage`` gets it) and an ``id:`` line if ``event_id`` is.

    Each line of ``data`` takes a ``data:`` line of its own: a client joins them back with
    LF, so a CR or CRLF in ``data`` arrives as LF. ``name`` and ``event_id`` must not
    contain line breaks (topic names and engine epochs never do).
    """
    head = ""
    if event_id is not None:
        head = f"id: {event_id}\n"
    if name is not None:
        head += f"event: {name}\n"
    if "\n" in data or "\r" in data:
        data = "\ndata: ".join(_LINE_BREAK.split(data))
    return f"{head}data: {data}\n\n".encode()


def text_event(text: str) -> bytes:
    """A text frame: an event with no name."""
    return event(text)


def binary_event(data: bytes) -> bytes:
    """A binary frame: ``event: binary``, the bytes base64-encoded."""
    return event(base64.b64encode(data).decode("ascii"), name="binary")


def open_event(connection: str, secret: str) -> bytes:
    """The first event of a connection: its id, and the secret its requests must carry."""
    return event(_json.dumps({"connection": connection, "secret": secret}), name="open")


def close_event(code: int, reason: str) -> bytes:
    """The last event of a connection: the close code (a WebSocket close code) and why."""
    return event(_json.dumps({"code": code, "reason": reason}), name="close")


def with_id(encoded: bytes, event_id: str) -> bytes:
    """``encoded`` (one event without an ``id:`` line) with ``event_id`` as its id."""
    return b"id: " + event_id.encode() + b"\n" + encoded


def event_id(positions: Mapping[str, Position]) -> str:
    """The ``id:`` value naming ``positions``: ``TOPIC EPOCH:OFFSET`` pairs, space-separated."""
    return " ".join(f"{topic} {epoch}:{offset}" for topic, (epoch, offset) in positions.items())


def parse_last_event_id(value: str | bytes, limit: int) -> dict[str, Position]:
    """The positions a ``Last-Event-ID`` header names, as written by :func:`event_id`.

    At most ``limit`` pairs are read (the rest is ignored, unread). A pair whose topic is
    not a valid topic name or whose position is not ``EPOCH:OFFSET`` is skipped; bytes
    that are not UTF-8 name nothing. Never raises.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return {}
    if limit <= 0:
        return {}
    # maxsplit bounds the work: whatever follows the pairs we read stays one string.
    tokens = value.split(maxsplit=2 * limit)[: 2 * limit]
    positions: dict[str, Position] = {}
    for topic, place in zip(tokens[0::2], tokens[1::2], strict=False):
        position = _position(place)
        if position is not None and name_problem(topic, "topic") is None:
            positions[topic] = position
    return positions


def _position(text: str) -> Position | None:
    epoch, colon, offset = text.rpartition(":")
    if not colon or not epoch or len(epoch) > MAX_EPOCH_LENGTH or not epoch.isprintable():
        return None
    if not (offset.isascii() and offset.isdigit()) or len(offset) > MAX_OFFSET_DIGITS:
        return None
    return Position(epoch, int(offset))


__all__ = [
    "KEEPALIVE",
    "binary_event",
    "close_event",
    "event",
    "event_id",
    "open_event",
    "parse_last_event_id",
    "text_event",
    "with_id",
]

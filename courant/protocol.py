"""The topics protocol, version 1 (docs/protocol.md): frames in, ops out; answers in,
frames out. No I/O here, and no exception escapes :func:`parse`: any input is either an
op or a :class:`ProtocolError` value naming the problem, which the endpoint sends back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from . import _json
from ._text import utf8_longer_than
from .history import Position
from .topics import name_problem

#: The protocol's major version (``hello.version``).
VERSION: Final = 1

#: The largest integer an op id may be: what a JavaScript number holds exactly.
MAX_ID: Final = 2**53 - 1
#: The longest string an op id may be.
MAX_ID_LENGTH: Final = 64
#: The longest RPC method name.
MAX_METHOD_LENGTH: Final = 128
#: Topics reserved for Courant itself: no client may subscribe or publish to them.
RESERVED_PREFIX: Final = "courant:"

OpId = int | str

# Error codes (docs/protocol.md, "Errors").
INVALID_JSON: Final = "invalid_json"
INVALID_FRAME: Final = "invalid_frame"
UNKNOWN_OP: Final = "unknown_op"
INVALID_FIELD: Final = "invalid_field"
TOO_BIG: Final = "too_big"
INVALID_TOPIC: Final = "invalid_topic"
UNKNOWN_TOPIC: Final = "unknown_topic"
FORBIDDEN: Final = "forbidden"
TOO_MANY_SUBSCRIPTIONS: Final = "too_many_subscriptions"
REJECTED: Final = "rejected"
UNKNOWN_METHOD: Final = "unknown_method"
UNAVAILABLE: Final = "unavailable"
NOT_SUBSCRIBED: Final = "not_subscribed"
NO_PRESENCE: Final = "no_presence"
PRESENCE_FULL: Final = "presence_full"
INTERNAL: Final = "internal"


@dataclasses.dataclass(frozen=True, slots=True)
class Subscribe:
    #: None when the server subscribes on the client's behalf (resuming a stream).
    id: OpId | None
    topic: str
    since: Position | None = None
    #: The connection's presence meta, to be tracked on the topic; None: not tracked.
    presence: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SetPresence:
    """Track the connection on a subscribed topic with ``meta``, or update its meta;
    ``meta`` None stops tracking it."""

    id: OpId
    topic: str
    meta: dict[str, Any] | None


@dataclasses.dataclass(frozen=True, slots=True)
class Unsubscribe:
    id: OpId
    topic: str


@dataclasses.dataclass(frozen=True, slots=True)
class Publish:
    id: OpId
    topic: str
    data: Any


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    id: OpId
    method: str
    params: Any = None


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    id: OpId


Op = Subscribe | Unsubscribe | Publish | Call | Ping | SetPresence


@dataclasses.dataclass(frozen=True, slots=True)
class ProtocolError:
    """What was wrong with a frame or an op: sent back as an error reply."""

    id: OpId | None
    code: str
    message: str


class _Invalid(Exception):
    """Raised inside the parser only, and turned into a ProtocolError at its boundary."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse(frame: str | bytes | None, max_size: int) -> Op | ProtocolError:
    """Read one client frame. Never raises: a bad frame gives a :class:`ProtocolError`,
    with the op's id when it could be read."""
    if not isinstance(frame, str):
        return ProtocolError(None, INVALID_FRAME, "frames are JSON text, not binary")
    if utf8_longer_than(frame, max_size):
        return ProtocolError(None, TOO_BIG, f"frame is larger than {max_size} bytes")
    try:
        value = _json.loads(frame)
    except (ValueError, TypeError):
        return ProtocolError(None, INVALID_JSON, "frame is not valid JSON")
    if not isinstance(value, dict):
        return ProtocolError(None, INVALID_FRAME, "frame must be a JSON object")
    op_id = _op_id(value.get("id"))
    if op_id is None:
        return ProtocolError(
            None,
            INVALID_FRAME,
            f"'id' must be an integer from 0 to {MAX_ID} or a string of at most "
            f"{MAX_ID_LENGTH} characters",
        )
    try:
        return _op(op_id, value)
    except _Invalid as invalid:
        return ProtocolError(op_id, invalid.code, invalid.message)


def _op_id(value: object) -> OpId | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value <= MAX_ID:
        return value
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
        return value
    return None


def _op(op_id: OpId, frame: Mapping[str, Any]) -> Op:
    op = frame.get("op")
    if op == "subscribe":
        presence = frame.get("presence")
        if presence is not None and not isinstance(presence, dict):
            raise _Invalid(INVALID_FIELD, "'presence' must be an object (the meta)")
        return Subscribe(op_id, _topic(frame), _since(frame.get("since")), presence)
    if op == "presence":
        if "meta" not in frame:
            raise _Invalid(INVALID_FIELD, "'meta' is required (an object, or null to stop)")
        meta = frame["meta"]
        if meta is not None and not isinstance(meta, dict):
            raise _Invalid(INVALID_FIELD, "'meta' must be an object, or null to stop")
        return SetPresence(op_id, _topic(frame), meta)
    if op == "unsubscribe":
        return Unsubscribe(op_id, _topic(frame))
    if op == "publish":
        if "data" not in frame:
            raise _Invalid(INVALID_FIELD, "'data' is required")
        return Publish(op_id, _topic(frame), frame["data"])
    if op == "call":
        method = frame.get("method")
        if not isinstance(method, str) or not method or len(method) > MAX_METHOD_LENGTH:
            raise _Invalid(
                INVALID_FIELD, f"'method' must be a name of 1 to {MAX_METHOD_LENGTH} characters"
            )
        return Call(op_id, method, frame.get("params"))
    if op == "ping":
        return Ping(op_id)
    if op is None:
        raise _Invalid(UNKNOWN_OP, "'op' is required")
    shown = op if isinstance(op, str) and len(op) <= 32 else type(op).__name__
    raise _Invalid(
        UNKNOWN_OP,
        f"unknown op {shown!r}; ops are subscribe, unsubscribe, publish, call, ping, presence",
    )


def _topic(frame: Mapping[str, Any]) -> str:
    topic = frame.get("topic")
    if topic is None:
        raise _Invalid(INVALID_FIELD, "'topic' is required")
    problem = name_problem(topic, "topic")
    if problem is not None:
        raise _Invalid(INVALID_TOPIC, problem)
    assert isinstance(topic, str)
    return topic


def _since(value: object) -> Position | None:
    if value is None:
        return None
    if isinstance(value, dict):
        epoch, offset = value.get("epoch"), value.get("offset")
        if (
            isinstance(epoch, str)
            and len(epoch) <= 64
            and isinstance(offset, int)
            and not isinstance(offset, bool)
            and 0 <= offset <= MAX_ID
        ):
            return Position(epoch, offset)
    raise _Invalid(INVALID_FIELD, '\'since\' must be {"epoch": string, "offset": integer >= 0}')


# -- what the server sends -------------------------------------------------------------


def hello(transport: str) -> str:
    return _json.dumps({"type": "hello", "version": VERSION, "transport": transport})


def subscribed(op_id: OpId | None, topic: str, position: Position, recovered: bool) -> str:
    return _json.dumps(
        {
            "type": "subscribed",
            "id": op_id,
            "topic": topic,
            "epoch": position.epoch,
            "offset": position.offset,
            "recovered": recovered,
        }
    )


def unsubscribed(topic: str, reason: str) -> str:
    return _json.dumps({"type": "unsubscribed", "topic": topic, "reason": reason})


def gap(topic: str, position: Position) -> str:
    return _json.dumps(
        {"type": "gap", "topic": topic, "epoch": position.epoch, "offset": position.offset}
    )


def reply(op_id: OpId, result: Any) -> str:
    """A successful answer. Raises ``TypeError`` if ``result`` is not JSON-serializable."""
    return _json.dumps({"type": "reply", "id": op_id, "ok": True, "result": result})


def error(op_id: OpId | None, code: str, message: str) -> str:
    return _json.dumps(
        {"type": "reply", "id": op_id, "ok": False, "error": {"code": code, "message": message}}
    )


def error_reply(problem: ProtocolError) -> str:
    return error(problem.id, problem.code, problem.message)


class ErrorBudget:
    """Counts a connection's error replies: more than ``limit`` within ``window``
    seconds means the client is abusive (or broken) and should be closed."""

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int = 20, window: float = 10.0) -> None:
        self.limit = limit
        self.window = window
        self._times: list[float] = []

    def spend(self, now: float) -> bool:
        """Record one error at ``now``; return True if the budget is exceeded."""
        times = self._times
        cutoff = now - self.window
        while times and times[0] <= cutoff:
            times.pop(0)
        times.append(now)
        return len(times) > self.limit


__all__ = [
    "VERSION",
    "Call",
    "ErrorBudget",
    "Op",
    "Ping",
    "ProtocolError",
    "Publish",
    "SetPresence",
    "Subscribe",
    "Unsubscribe",
    "error",
    "error_reply",
    "gap",
    "hello",
    "parse",
    "reply",
    "subscribed",
    "unsubscribed",
]

"""The topics protocol without I/O: frames in, ops or error values out; answers out."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from courant import protocol
from courant.history import Position
from courant.message import Kind, Message
from courant.protocol import Call, Ping, ProtocolError, Publish, Subscribe, Unsubscribe

LIMIT = 65536


def parse(value: Any) -> protocol.Op | ProtocolError:
    return protocol.parse(value if isinstance(value, str) else json.dumps(value), LIMIT)


def test_every_op_is_read_with_its_fields():
    assert parse({"op": "subscribe", "id": 1, "topic": "chat:lobby"}) == Subscribe(
        1, "chat:lobby", None
    )
    since = {"epoch": "e1", "offset": 41}
    assert parse({"op": "subscribe", "id": "a", "topic": "t", "since": since}) == Subscribe(
        "a", "t", Position("e1", 41)
    )
    assert parse({"op": "unsubscribe", "id": 2, "topic": "t"}) == Unsubscribe(2, "t")
    assert parse({"op": "publish", "id": 3, "topic": "t", "data": None}) == Publish(3, "t", None)
    assert parse({"op": "call", "id": 4, "method": "rooms.list"}) == Call(4, "rooms.list", None)
    assert parse({"op": "call", "id": 5, "method": "m", "params": [1]}) == Call(5, "m", [1])
    assert parse({"op": "ping", "id": 6}) == Ping(6)


def test_unknown_keys_are_ignored_for_later_minor_versions():
    assert parse({"op": "ping", "id": 1, "trace": "x"}) == Ping(1)


@pytest.mark.parametrize(
    ("frame", "code", "op_id", "says"),
    [
        ("{not json", "invalid_json", None, "not valid JSON"),
        ("[1, 2]", "invalid_frame", None, "JSON object"),
        ('{"op": "ping"}', "invalid_frame", None, "'id'"),
        ('{"op": "ping", "id": true}', "invalid_frame", None, "'id'"),
        ('{"op": "ping", "id": -1}', "invalid_frame", None, "'id'"),
        ('{"op": "ping", "id": 9007199254740992}', "invalid_frame", None, "'id'"),
        ('{"op": "ping", "id": "' + "x" * 65 + '"}', "invalid_frame", None, "'id'"),
        ('{"id": 1}', "unknown_op", 1, "'op' is required"),
        ('{"op": "dance", "id": 1}', "unknown_op", 1, "'dance'"),
        ('{"op": ["x"], "id": 1}', "unknown_op", 1, "list"),
        ('{"op": "subscribe", "id": 1}', "invalid_field", 1, "'topic'"),
        ('{"op": "subscribe", "id": 1, "topic": "a b"}', "invalid_topic", 1, "whitespace"),
        ('{"op": "subscribe", "id": 1, "topic": 7}', "invalid_topic", 1, "str"),
        ('{"op": "subscribe", "id": 1, "topic": "t", "since": 3}', "invalid_field", 1, "since"),
        (
            '{"op": "subscribe", "id": 1, "topic": "t", "since": {"epoch": "e", "offset": -1}}',
            "invalid_field",
            1,
            "since",
        ),
        ('{"op": "publish", "id": 2, "topic": "t"}', "invalid_field", 2, "'data'"),
        ('{"op": "call", "id": 3}', "invalid_field", 3, "'method'"),
        ('{"op": "call", "id": 3, "method": ""}', "invalid_field", 3, "'method'"),
    ],
)
def test_a_bad_frame_is_an_error_naming_the_problem(frame, code, op_id, says):
    result = protocol.parse(frame, LIMIT)
    assert isinstance(result, ProtocolError)
    assert (result.code, result.id) == (code, op_id)
    assert says in result.message


def test_binary_and_oversized_frames_are_refused():
    assert protocol.parse(b'{"op": "ping", "id": 1}', LIMIT) == ProtocolError(
        None, "invalid_frame", "frames are JSON text, not binary"
    )
    frame = json.dumps(
        {"op": "publish", "id": 1, "topic": "t", "data": "é" * 40}, ensure_ascii=False
    )
    size = len(frame.encode())
    assert len(frame) < size - 30  # 40 "é" are 80 bytes
    # Counted in UTF-8 bytes, not characters.
    result = protocol.parse(frame, len(frame))
    assert isinstance(result, ProtocolError)
    assert result.code == "too_big"
    assert f"{len(frame)} bytes" in result.message
    assert isinstance(protocol.parse(frame, size), Publish)


def test_server_frames_are_the_documented_json():
    position = Position("e1", 7)
    assert json.loads(protocol.hello("sse")) == {"type": "hello", "version": 1, "transport": "sse"}
    assert json.loads(protocol.subscribed(1, "t", position, True)) == {
        "type": "subscribed",
        "id": 1,
        "topic": "t",
        "epoch": "e1",
        "offset": 7,
        "recovered": True,
    }
    assert json.loads(protocol.unsubscribed("t", "forbidden")) == {
        "type": "unsubscribed",
        "topic": "t",
        "reason": "forbidden",
    }
    assert json.loads(protocol.gap("t", position)) == {
        "type": "gap",
        "topic": "t",
        "epoch": "e1",
        "offset": 7,
    }
    assert json.loads(protocol.reply("x", {"a": [1]})) == {
        "type": "reply",
        "id": "x",
        "ok": True,
        "result": {"a": [1]},
    }
    assert json.loads(protocol.error(None, "too_big", "no")) == {
        "type": "reply",
        "id": None,
        "ok": False,
        "error": {"code": "too_big", "message": "no"},
    }


@pytest.mark.parametrize(
    ("kind", "payload", "data", "extra"),
    [
        (Kind.JSON, '{"text":"hi","n":[1,2]}', {"text": "hi", "n": [1, 2]}, {}),
        (Kind.TEXT, 'quote " and \\ and \n', 'quote " and \\ and \n', {}),
        (Kind.BINARY, b"\x00\xff", "AP8=", {"binary": True}),
    ],
)
def test_a_message_frame_carries_the_published_value(kind, payload, data, extra):
    message = Message("chat:lobby", 3, "e9", kind, payload)
    assert json.loads(message.protocol_frame) == {
        "type": "message",
        "topic": "chat:lobby",
        "epoch": "e9",
        "offset": 3,
        "data": data,
        **extra,
    }
    assert message.protocol_event == {"type": "websocket.send", "text": message.protocol_frame}


def test_the_error_budget_tolerates_mistakes_but_not_a_flood():
    budget = protocol.ErrorBudget(limit=3, window=10.0)
    assert [budget.spend(t) for t in (0.0, 1.0, 2.0)] == [False, False, False]
    assert budget.spend(3.0) is True  # a fourth within ten seconds
    assert budget.spend(12.5) is False  # the first three have aged out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
ops = st.sampled_from(["subscribe", "unsubscribe", "publish", "call", "ping", "x", ""])
frames = st.fixed_dictionaries(
    {},
    optional={
        "op": ops | json_values,
        "id": st.integers(-5, 2**60) | st.text(max_size=70) | json_values,
        "topic": st.text(max_size=20) | json_values,
        "data": json_values,
        "method": st.text(max_size=20) | json_values,
        "params": json_values,
        "since": json_values
        | st.fixed_dictionaries(
            {"epoch": st.text(max_size=10) | json_values, "offset": st.integers() | json_values}
        ),
    },
)


@settings(max_examples=400, deadline=None)
@given(frames)
def test_any_json_object_gives_an_op_or_an_error_never_an_exception(frame):
    result = protocol.parse(json.dumps(frame), LIMIT)
    assert isinstance(result, ProtocolError | Subscribe | Unsubscribe | Publish | Call | Ping)
    if isinstance(result, ProtocolError):
        # The answer to it can always be sent.
        assert json.loads(protocol.error_reply(result))["ok"] is False
    else:
        assert result.id == frame["id"]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_or_bytes_gives_an_op_or_an_error_never_an_exception(frame):
    result = protocol.parse(frame, 100)
    assert isinstance(result, ProtocolError | Subscribe | Unsubscribe | Publish | Call | Ping)

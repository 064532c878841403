"""SSE framing and Last-Event-ID, without I/O: the server's encoder checked against a
reader written from the HTML standard (tests/sse_client.py)."""

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from courant.history import Position
from courant.message import Kind, Message
from courant.topics import MAX_TOPIC_LENGTH
from courant.transports import events

from .sse_client import EventReader


def read(data: bytes):
    return EventReader().feed(data)


def test_a_text_frame_is_an_unnamed_event_and_each_line_break_starts_a_data_line():
    assert events.text_event("hi") == b"data: hi\n\n"
    assert events.text_event("a\nb\r\nc\rd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert events.text_event("") == b"data: \n\n"
    [event] = read(events.text_event("a\r\nb"))
    assert (event.type, event.data) == ("message", "a\nb")


def test_an_empty_text_and_one_of_line_breaks_still_arrive():
    assert [e.data for e in read(events.text_event(""))] == [""]
    assert [e.data for e in read(events.text_event("\n\n"))] == ["\n\n"]
    assert [e.data for e in read(events.text_event(" lead"))] == [" lead"]


def test_a_binary_frame_is_base64_in_a_binary_event():
    [event] = read(events.binary_event(b"\x00\xffok"))
    assert event.type == "binary"
    assert base64.b64decode(event.data) == b"\x00\xffok"


def test_open_and_close_events_carry_json():
    opened, closed = read(events.open_event("c1", "s3cret") + events.close_event(1011, "boom"))
    assert (opened.type, json.loads(opened.data)) == (
        "open",
        {"connection": "c1", "secret": "s3cret"},
    )
    assert (closed.type, json.loads(closed.data)) == ("close", {"code": 1011, "reason": "boom"})


def test_the_keepalive_is_a_comment_that_dispatches_nothing():
    reader = EventReader()
    assert reader.feed(events.KEEPALIVE) == []
    assert reader.comments == ["keep-alive"]


def test_a_message_event_with_its_id_lists_every_position():
    message = Message("chat:lobby", 7, "e1", Kind.JSON, '{"text":"hi"}')
    positions = {"chat:lobby": Position("e1", 7), "doc:42": Position("e2", 0)}
    [event] = read(events.with_id(message.sse_event, events.event_id(positions)))
    assert event.data == '{"text":"hi"}'
    assert event.last_event_id == "chat:lobby e1:7 doc:42 e2:0"
    assert events.parse_last_event_id(event.last_event_id, 100) == positions


def test_a_binary_message_and_a_protocol_frame_are_encoded_once():
    binary = Message("t", 1, "e", Kind.BINARY, b"\x01")
    assert binary.sse_event is binary.sse_event
    assert read(binary.sse_event)[0].type == "binary"
    text = Message("t", 2, "e", Kind.TEXT, "line\nbreak")
    assert json.loads(read(text.sse_protocol_event)[0].data)["data"] == "line\nbreak"


def test_last_event_id_skips_malformed_pairs_and_reads_at_most_the_limit():
    parse = events.parse_last_event_id
    assert parse("a e:1 b nocolon c e:x d :5 f e:-1 g e:2", 100) == {
        "a": Position("e", 1),
        "g": Position("e", 2),
    }
    assert parse("a e:1 b e:2 c e:3", 2) == {"a": Position("e", 1), "b": Position("e", 2)}
    assert parse("", 100) == {}
    assert parse("lonely", 100) == {}
    assert parse(b"\xff\xfe", 100) == {}
    assert parse(b"chat:1 ep:och:3", 100) == {"chat:1": Position("ep:och", 3)}
    assert parse("t e:" + "9" * 20, 100) == {}
    assert parse("x" * (MAX_TOPIC_LENGTH + 1) + " e:1", 100) == {}


@given(st.one_of(st.text(), st.binary()), st.integers(min_value=0, max_value=200))
def test_any_last_event_id_parses_without_raising(value, limit):
    positions = events.parse_last_event_id(value, limit)
    assert len(positions) <= limit
    assert all(isinstance(position, Position) for position in positions.values())


names = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cn", "Co", "Cf")),
    min_size=1,
).filter(lambda name: name.isprintable() and not any(ch.isspace() for ch in name))


@given(
    st.dictionaries(
        names.filter(lambda name: len(name) <= MAX_TOPIC_LENGTH),
        st.builds(
            Position,
            names.filter(lambda epoch: len(epoch) <= events.MAX_EPOCH_LENGTH),
            st.integers(min_value=0, max_value=2**63 - 1),
        ),
        max_size=20,
    )
)
def test_positions_round_trip_through_the_event_id(positions):
    encoded = events.event_id(positions)
    [event] = read(events.with_id(events.text_event("x"), encoded))
    assert event.last_event_id == encoded
    assert events.parse_last_event_id(encoded, 20) == positions


@given(st.text())
def test_any_text_frame_arrives_with_cr_and_crlf_as_lf(text):
    [event] = read(events.text_event(text))
    assert event.data == text.replace("\r\n", "\n").replace("\r", "\n")

import datetime
import decimal

import pytest
from django.utils.translation import gettext_lazy

from courant import EncodeError, InvalidTopic
from courant.message import Kind, Message, encode
from courant.topics import MAX_TOPIC_LENGTH, validate_topic


def test_text_and_bytes_pass_through_unchanged():
    assert encode("héllo") == (Kind.TEXT, "héllo")
    assert encode(b"\x00\x01") == (Kind.BINARY, b"\x00\x01")
    assert encode(bytearray(b"ab")) == (Kind.BINARY, b"ab")


def test_other_values_become_compact_json_with_django_types():
    kind, payload = encode(
        {
            "n": 1,
            "price": decimal.Decimal("9.50"),
            "label": gettext_lazy("Yes"),
            "at": datetime.date(2026, 1, 2),
        }
    )
    assert kind is Kind.JSON
    assert payload == '{"n":1,"price":"9.50","label":"Yes","at":"2026-01-02"}'


def test_unencodable_data_is_a_clear_error():
    with pytest.raises(EncodeError, match=r"cannot publish dict: .*set"):
        encode({"s": {1, 2}})


def test_message_decodes_json_once_and_builds_its_frame_once():
    message = Message("t", 3, "e", Kind.JSON, '{"a":[1,2]}')
    assert message.data == {"a": [1, 2]}
    assert message.data is message.data
    assert message.websocket_event == {"type": "websocket.send", "text": '{"a":[1,2]}'}
    assert message.websocket_event is message.websocket_event
    assert Message("t", 1, "e", Kind.BINARY, b"x").websocket_event == {
        "type": "websocket.send",
        "bytes": b"x",
    }
    assert Message("t", 1, "e", Kind.TEXT, "plain").data == "plain"


@pytest.mark.parametrize(
    "name", ["chat:lobby", "doc:42", "a", "x" * MAX_TOPIC_LENGTH, "ünïcode:ok"]
)
def test_valid_topic_names(name):
    assert validate_topic(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("x" * (MAX_TOPIC_LENGTH + 1), "at most"),
        ("chat lobby", "whitespace"),
        ("chat:\x00", "control"),
        ("tab\there", "whitespace"),
        (42, "must be a str"),
    ],
)
def test_invalid_topic_names_are_refused(name, problem):
    with pytest.raises(InvalidTopic, match=problem):
        validate_topic(name)

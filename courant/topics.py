"""Topic names.

A topic is a named pub/sub stream such as ``chat:lobby`` or ``doc:42``. Any printable
text without whitespace works; the colon convention (``kind:id``) is what topic classes
match on in the topics protocol.
"""

from __future__ import annotations

from .exceptions import InvalidTopic

#: The longest topic name accepted, in characters.
MAX_TOPIC_LENGTH = 256


def validate_topic(topic: object) -> str:
    """Return ``topic`` if it is a usable topic name, else raise :class:`InvalidTopic`."""
    if not isinstance(topic, str):
        raise InvalidTopic(f"a topic name must be a str, not {type(topic).__name__}")
    if not topic:
        raise InvalidTopic("a topic name cannot be empty")
    if len(topic) > MAX_TOPIC_LENGTH:
        raise InvalidTopic(f"a topic name is at most {MAX_TOPIC_LENGTH} characters")
    if not topic.isprintable() or any(ch.isspace() for ch in topic):
        raise InvalidTopic(
            f"a topic name cannot contain whitespace or control characters: {topic!r}"
        )
    return topic

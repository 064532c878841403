"""Topic names.

A topic is a named pub/sub stream such as ``chat:lobby`` or ``doc:42``. Any printable
text without whitespace works; the colon convention (``kind:id``) is what topic classes
match on in the topics protocol.
"""

from __future__ import annotations

from .exceptions import InvalidTopic

#: The longest topic name accepted, in characters.
MAX_TOPIC_LENGTH = 256


def name_problem(name: object, what: str) -> str | None:
    """What makes ``name`` unusable as a ``what`` name (topic or channel: the same rules),
    or None if it is fine."""
    if not isinstance(name, str):
        return f"a {what} name must be a str, not {type(name).__name__}"
    if not name:
        return f"a {what} name cannot be empty"
    if len(name) > MAX_TOPIC_LENGTH:
        return f"a {what} name is at most {MAX_TOPIC_LENGTH} characters"
    if not name.isprintable() or any(ch.isspace() for ch in name):
        return f"a {what} name cannot contain whitespace or control characters: {name!r}"
    return None


def validate_topic(topic: object) -> str:
    """Return ``topic`` if it is a usable topic name, else raise :class:`InvalidTopic`."""
    problem = name_problem(topic, "topic")
    if problem is not None:
        raise InvalidTopic(problem)
    assert isinstance(topic, str)
    return topic

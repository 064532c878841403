"""Topic names.

A topic is a named pub/sub stream such as ``chat:lobby`` or ``doc:42``. Any printable
text without whitespace works; the colon convention (``kind:id``) is what topic classes
match on in the topics protocol.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Iterator
from typing import Any, ClassVar

from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured

from .exceptions import InvalidTopic
from .history import History

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


# -- topic classes: who may subscribe and publish, matched by pattern ----------------------

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``"chat:{room}"`` -> a regex matching ``chat:lobby`` with ``room="lobby"``. A field
    matches one or more characters other than ``:``; the rest matches literally."""
    if not isinstance(pattern, str) or not pattern:
        raise ImproperlyConfigured(f"a topic pattern must be a non-empty str, not {pattern!r}")
    parts: list[str] = []
    seen: set[str] = set()
    position = 0
    for match in _FIELD.finditer(pattern):
        name = match.group(1)
        if name in seen:
            raise ImproperlyConfigured(f"topic pattern {pattern!r} names {{{name}}} twice")
        seen.add(name)
        parts.append(re.escape(pattern[position : match.start()]))
        parts.append(f"(?P<{name}>[^:]+)")
        position = match.end()
    literal = _FIELD.sub("", pattern)
    if "{" in literal or "}" in literal:
        raise ImproperlyConfigured(
            f"topic pattern {pattern!r}: fields are written {{name}}, with a Python identifier"
        )
    parts.append(re.escape(pattern[position:]))
    return re.compile("".join(parts))


class Topic:
    """A class of topics, matched by ``pattern``, saying who may subscribe and publish
    through the topics endpoint (docs/topic-classes.md)::

        class ChatRoom(courant.Topic):
            pattern = "chat:{room}"
            history = courant.History(size=100, ttl=600)

            def can_subscribe(self, user, room):
                return user.is_authenticated

            def can_publish(self, user, room):
                return user.is_authenticated

            def clean(self, user, data, room):
                return {"text": str(data.get("text", ""))[:500], "user": user.get_username()}

    Defining the class registers it. Each method may be ``def`` (run in a worker thread,
    so it may use the ORM) or ``async def``, and receives the user and the fields the
    pattern captured, as keyword arguments. By default nobody may subscribe or publish:
    a topic class opens what it says, and a topic that matches none is refused.
    """

    #: The topics this class covers, such as ``"doc:{id}"``.
    pattern: ClassVar[str]
    #: How much history these topics keep; None leaves it to ``COURANT["HISTORY"]``.
    history: ClassVar[History | None] = None
    #: Whether subscribers see who is on these topics, and may be tracked on them
    #: (docs/presence.md).
    presence: ClassVar[bool] = False
    # Whether the class defines can_receive (set when the class is defined): only then
    # are its subscribers' deliveries checked one by one.
    _filtered: ClassVar[bool] = False

    def __init__(self, name: str, fields: dict[str, str]) -> None:
        #: The topic's full name, e.g. ``"chat:lobby"``.
        self.name = name
        #: What the pattern captured, e.g. ``{"room": "lobby"}``.
        self.fields = fields

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        if iscoroutinefunction(cls.can_receive):
            raise ImproperlyConfigured(
                f"{cls.__qualname__}.can_receive() must be a plain def, not async def: it runs "
                "on the event loop for every message to every subscriber, so it must not wait "
                "(nor use the database)"
            )
        cls._filtered = cls.can_receive is not Topic.can_receive
        if "pattern" in cls.__dict__:
            registry.register(cls)

    # Typed (*args, **kwargs) so that subclasses may name the fields they take, as
    # ``def can_subscribe(self, user, room)``, and still type-check.

    def can_subscribe(self, *args: Any, **kwargs: Any) -> bool | Awaitable[bool]:
        """``can_subscribe(user, **fields)``: whether ``user`` may subscribe. The
        default: nobody."""
        return False

    def can_publish(self, *args: Any, **kwargs: Any) -> bool | Awaitable[bool]:
        """``can_publish(user, **fields)``: whether ``user`` may publish from a client.
        The default: nobody. (Server-side code publishes to any topic with
        :func:`courant.publish`, unchecked.)"""
        return False

    def clean_presence(self, *args: Any, **kwargs: Any) -> Any:
        """``clean_presence(user, meta, **fields)``: the presence meta to track for
        ``user``, from the one the client sent: ``meta`` as it is (the default), reshaped
        (add the user's name, keep only known keys), or raise :class:`courant.Reject`."""
        return args[1] if len(args) > 1 else kwargs["meta"]

    def can_receive(self, *args: Any, **kwargs: Any) -> bool:
        """``can_receive(user, data, **fields)``: whether the subscriber ``user`` gets the
        message ``data`` (the published value, decoded; shared by every subscriber, so
        read-only). The default: every subscriber gets every message, and nothing is
        checked per message.

        Defined on a class, it filters each delivery to the subscribers of its topics that
        came through the topics endpoint, live messages and recovered ones alike. It must
        be a plain ``def``, fast, and without I/O: it runs on the event loop, once per
        message per subscriber, so it must not use the database (decide from ``user``'s
        attributes and from ``data``). An exception counts as False, and is logged.
        """
        return True

    def clean(self, *args: Any, **kwargs: Any) -> Any:
        """``clean(user, data, **fields)``: what to publish when ``user`` publishes
        ``data``: ``data`` as it is (the default), reshaped, or raise
        :class:`courant.Reject` to refuse it."""
        return args[1] if len(args) > 1 else kwargs["data"]


class TopicRegistry:
    """Every topic class, by pattern. Topic names are matched against the patterns in the
    order the classes were defined; the first match wins."""

    def __init__(self) -> None:
        self._classes: list[tuple[re.Pattern[str], type[Topic]]] = []

    def register(self, topic_class: type[Topic]) -> None:
        compiled = compile_pattern(topic_class.pattern)
        history = topic_class.history
        if history is not None and not isinstance(history, History):
            raise ImproperlyConfigured(
                f"{topic_class.__qualname__}.history must be a courant.History, not {history!r}"
            )
        shape = _FIELD.sub("{}", topic_class.pattern)
        for index, (_, known) in enumerate(self._classes):
            if _FIELD.sub("{}", known.pattern) == shape:
                if known.__qualname__ == topic_class.__qualname__:
                    # The same class defined again (a module imported twice, a reload).
                    self._classes[index] = (compiled, topic_class)
                    return
                raise ImproperlyConfigured(
                    f"{topic_class.__qualname__} and {known.__qualname__} both claim "
                    f"the topic pattern {topic_class.pattern!r}"
                )
        self._classes.append((compiled, topic_class))

    def unregister(self, topic_class: type[Topic]) -> None:
        self._classes = [(p, c) for p, c in self._classes if c is not topic_class]

    def match(self, name: str) -> Topic | None:
        """An instance of the class covering topic ``name``, or None."""
        for compiled, topic_class in self._classes:
            found = compiled.fullmatch(name)
            if found is not None:
                return topic_class(name, found.groupdict())
        return None

    def history_for(self, name: str) -> History | None:
        """The history the class covering ``name`` asks for, if any."""
        for compiled, topic_class in self._classes:
            if compiled.fullmatch(name) is not None:
                return topic_class.history
        return None

    def __iter__(self) -> Iterator[type[Topic]]:
        return iter([topic_class for _, topic_class in self._classes])


#: The topic classes of this process (filled as modules define them; Courant imports
#: each installed app's ``topics`` module at start-up).
registry = TopicRegistry()

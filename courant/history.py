"""History and recovery: where a subscriber is in a topic, and what it missed.

Every topic keeps its last messages for a while (its *history*), each with its offset
under the topic's epoch. A client that remembers the :class:`Position` of the last
message it saw can ask for everything after it. The answer, a :class:`Recovery`, is either
complete (every missed message, in order) or says plainly that recovery is impossible:
the epoch changed (the history was lost) or the history no longer reaches back that far.
It is never a list with a hole in it.

How much history a topic keeps is set per topic pattern::

    COURANT = {
        "HISTORY": {
            "chat:*": {"size": 200, "ttl": 600},   # last 200 messages, at most 10 minutes old
            "ticker:*": {"size": 0},               # no history
        },
    }

The first pattern (:mod:`fnmatch` syntax) that matches a topic wins; topics no pattern
matches keep :data:`DEFAULT_HISTORY`.

This module does no I/O: engines store the messages, and use :func:`recover_from` (or
the same rules in their own storage) to decide.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from .message import Message


class Position(NamedTuple):
    """A place in a topic: the offset of the last message seen, under an epoch.

    Offset 0 is the place before the first message of the epoch.
    """

    epoch: str
    offset: int


@dataclasses.dataclass(frozen=True)
class Recovery:
    """The answer to "what did I miss on this topic since ``since``?".

    - ``recovered``: True when ``messages`` is exactly what was missed (possibly nothing);
      False when it cannot be known (then ``messages`` is empty). Also False when no
      position was given to recover from.
    - ``position``: where the topic is now; messages that follow come after it.
    - ``messages``: the missed messages, in offset order.
    """

    recovered: bool
    position: Position
    messages: tuple[Message, ...] = ()


@dataclasses.dataclass(frozen=True)
class History:
    """How much of a topic's past is kept: the last ``size`` messages (0 keeps none), each
    for at most ``ttl`` seconds (None: as long as the topic lives)."""

    size: int = 100
    ttl: float | None = 300.0


#: What a topic keeps when no ``COURANT["HISTORY"]`` pattern matches it.
DEFAULT_HISTORY = History()


class HistoryPolicy:
    """Topic -> :class:`History`: what ``classes`` says first (the topic classes' own
    ``history``), then the first of the ``(pattern, history)`` pairs that matches, then
    ``default``."""

    def __init__(
        self,
        rules: Sequence[tuple[str, History]] = (),
        default: History = DEFAULT_HISTORY,
        classes: Callable[[str], History | None] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.default = default
        self.classes = classes
        self._compiled = [
            (re.compile(fnmatch.translate(pattern)), history) for pattern, history in rules
        ]
        # Topics repeat, patterns are few: remember answers, within a bound.
        self.for_topic = functools.lru_cache(maxsize=4096)(self._lookup)

    def _lookup(self, topic: str) -> History:
        if self.classes is not None:
            chosen = self.classes(topic)
            if chosen is not None:
                return chosen
        for pattern, history in self._compiled:
            if pattern.match(topic):
                return history
        return self.default

    @classmethod
    def from_setting(cls, rules: Mapping[str, History]) -> HistoryPolicy:
        return cls(list(rules.items()))


def recover_from(kept: Iterable[Message], position: Position, since: Position | None) -> Recovery:
    """Decide what a subscriber at ``since`` missed, from the messages ``kept`` (oldest
    first, contiguous offsets, ending at ``position``)."""
    if since is None:
        return Recovery(False, position)
    epoch, offset = since
    if epoch != position.epoch or offset > position.offset or offset < 0:
        return Recovery(False, position)
    if offset == position.offset:
        return Recovery(True, position)
    missed = tuple(message for message in kept if message.offset > offset)
    if (
        len(missed) != position.offset - offset
        or missed[0].offset != offset + 1
        or missed[-1].offset != position.offset
    ):
        return Recovery(False, position)  # trimmed past ``since``: there would be a hole
    return Recovery(True, position, missed)


def is_after(message: Message, position: Position) -> bool:
    """Whether ``message`` comes after ``position`` (a message of another epoch does: the
    topic started again since)."""
    return message.epoch != position.epoch or message.offset > position.offset


__all__ = [
    "DEFAULT_HISTORY",
    "History",
    "HistoryPolicy",
    "Position",
    "Recovery",
    "is_after",
    "recover_from",
]

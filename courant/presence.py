"""Presence: who is on a topic now, each with a small dict of metadata.

Every connection that is *tracked* on a topic is one **entry** (an id unique across
processes, the **key** of its user, and its meta). Entries with the same key (one user,
several tabs or devices) make one member: counts are of keys, and a user leaves only
when the last of their entries goes. Engines store the entries and publish every change
as an event on the topic's companion events topic (:func:`events_topic`), in order;
each process that has subscribers keeps a :class:`PresenceState` from a snapshot plus
those events, turns each event into a member-level :class:`Diff`, and sends it, encoded
once, to its subscribers. Entries are refreshed by their process while it lives and
expire when it dies without a goodbye, so a killed process leaves no ghosts.

This module does no I/O: the state, the diffs and the frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from . import _json
from .protocol import RESERVED_PREFIX

#: Prefix of the topic that carries a topic's presence events.
EVENTS_PREFIX: Final = RESERVED_PREFIX + "presence:"

#: What the engines publish on the events topic: ``{"op": "set", "id": ID, "key": KEY,
#: "meta": {...}}`` for an entry added or changed, ``{"op": "del", "id": ID}`` for one gone.
SET: Final = "set"
DEL: Final = "del"

Meta = dict[str, Any]


def events_topic(topic: str) -> str:
    """The topic on which ``topic``'s presence changes are published."""
    return EVENTS_PREFIX + topic


@dataclasses.dataclass(frozen=True)
class Entry:
    """One tracked connection: its member's key and its meta."""

    key: str
    meta: Meta


@dataclasses.dataclass(frozen=True)
class Diff:
    """How the members changed: each maps a key to that member's metas (after the change
    for joins and updates, before it for leaves)."""

    joins: Mapping[str, list[Meta]] = dataclasses.field(default_factory=dict)
    leaves: Mapping[str, list[Meta]] = dataclasses.field(default_factory=dict)
    updates: Mapping[str, list[Meta]] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.joins or self.leaves or self.updates)


class PresenceState:
    """The entries of one topic, by id and by key."""

    def __init__(self, entries: Mapping[str, Entry] | None = None) -> None:
        self._entries: dict[str, Entry] = {}
        self._members: dict[str, dict[str, Meta]] = {}
        for entry_id, entry in (entries or {}).items():
            self.set(entry_id, entry)

    def set(self, entry_id: str, entry: Entry) -> Diff:
        """Add an entry, or change its meta."""
        old = self._entries.get(entry_id)
        if old is not None and old.key != entry.key:
            left = self.remove(entry_id)
            joined = self.set(entry_id, entry)
            return Diff({**joined.joins}, {**left.leaves}, {**left.updates, **joined.updates})
        self._entries[entry_id] = entry
        member = self._members.get(entry.key)
        if member is None:
            member = self._members[entry.key] = {}
            member[entry_id] = entry.meta
            return Diff(joins={entry.key: self.metas(entry.key)})
        if old is not None and old.meta == entry.meta:
            return Diff()
        member[entry_id] = entry.meta
        return Diff(updates={entry.key: self.metas(entry.key)})

    def remove(self, entry_id: str) -> Diff:
        """Remove an entry (an unknown id changes nothing)."""
        entry = self._entries.pop(entry_id, None)
        if entry is None:
            return Diff()
        member = self._members[entry.key]
        before = list(member.values())
        del member[entry_id]
        if not member:
            del self._members[entry.key]
            return Diff(leaves={entry.key: before})
        return Diff(updates={entry.key: self.metas(entry.key)})

    def apply(self, event: Any) -> Diff:
        """Apply one event from the events topic; a malformed one changes nothing."""
        if not isinstance(event, dict):
            return Diff()
        entry_id = event.get("id")
        if not isinstance(entry_id, str):
            return Diff()
        if event.get("op") == DEL:
            return self.remove(entry_id)
        key, meta = event.get("key"), event.get("meta")
        if event.get("op") == SET and isinstance(key, str) and isinstance(meta, dict):
            return self.set(entry_id, Entry(key, meta))
        return Diff()

    def metas(self, key: str) -> list[Meta]:
        return list(self._members.get(key, {}).values())

    def members(self) -> dict[str, list[Meta]]:
        """Key -> metas, for every member."""
        return {key: list(member.values()) for key, member in self._members.items()}

    def __len__(self) -> int:
        """How many members (distinct keys)."""
        return len(self._members)

    @property
    def entries(self) -> int:
        return len(self._entries)


def diff_between(before: PresenceState, after: PresenceState) -> Diff:
    """What changed from ``before`` to ``after``, member by member (after a resync)."""
    old, new = before.members(), after.members()
    return Diff(
        joins={key: metas for key, metas in new.items() if key not in old},
        leaves={key: metas for key, metas in old.items() if key not in new},
        updates={key: metas for key, metas in new.items() if key in old and old[key] != metas},
    )


def set_event(entry_id: str, key: str, meta_json: str) -> str:
    """The event an engine publishes for an entry added or changed (meta already JSON)."""
    head = f'{{"op":"set","id":{_json.dumps(entry_id)},"key":{_json.dumps(key)}'
    return f'{head},"meta":{meta_json}}}'


def del_event(entry_id: str) -> str:
    return f'{{"op":"del","id":{_json.dumps(entry_id)}}}'


# -- frames of the topics protocol ------------------------------------------------------


def state_frame(topic: str, state: PresenceState) -> str:
    """The whole presence of ``topic``: sent to a subscriber once, after ``subscribed``."""
    return _json.dumps({"type": "presence", "topic": topic, "members": state.members()})


def diff_frame(topic: str, diff: Diff) -> str:
    """What changed: sent to every subscriber, built once per change per process."""
    frame: dict[str, Any] = {"type": "presence_diff", "topic": topic}
    for name in ("joins", "leaves", "updates"):
        changed = getattr(diff, name)
        if changed:
            frame[name] = changed
    return _json.dumps(frame)


__all__ = [
    "DEL",
    "EVENTS_PREFIX",
    "SET",
    "Diff",
    "Entry",
    "PresenceState",
    "del_event",
    "diff_between",
    "diff_frame",
    "events_topic",
    "set_event",
    "state_frame",
]

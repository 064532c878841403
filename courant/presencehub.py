"""Presence in one process: what the hub does for it (the I/O around :mod:`.presence`).

For each topic this process needs presence of, a :class:`TopicPresence` holds the state
(an engine snapshot, then the events published after it, in order), sends each change to
the local connections watching the topic, one frame built once, and tracks the entries
of local connections. A keeper task refreshes this process's entries every third of
``PRESENCE_TTL`` (so they outlive it only by that TTL if the process dies) and reaps the
expired entries of every topic it watches, so that their leaves are published.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from typing import TYPE_CHECKING, Any

from . import _json
from ._sync import refuse_on_a_loop
from .conf import get_settings
from .exceptions import EngineError
from .history import Position, is_after
from .hub import get_hub
from .presence import Meta, PresenceState, diff_between, diff_frame, events_topic, state_frame
from .topics import validate_topic

if TYPE_CHECKING:
    from .connection import Connection
    from .hub import Hub
    from .message import Message

logger = logging.getLogger("courant.presence")

#: Snapshots tried before giving up, when the events after each were already trimmed.
SYNC_ATTEMPTS = 3


class PresenceFull(Exception):
    """The topic already has ``PRESENCE_MAX_ENTRIES`` entries."""


class TopicPresence:
    """One topic's presence in this process."""

    #: A hub subscriber that is not a connection (see ``Subscriber.direct``).
    direct: Connection | None = None

    def __init__(self, manager: PresenceHub, topic: str) -> None:
        self.manager = manager
        self.topic = topic
        self.state = PresenceState()
        self.position = Position("", 0)
        #: Local connections that receive this topic's presence frames.
        self.watchers: set[Connection] = set()
        #: Entries of local connections: connection -> (entry id, key, meta JSON).
        self.tracked: dict[Connection, tuple[str, str, str]] = {}
        self._synced: asyncio.Task[None] | None = None
        self._joined = False

    # -- the state ------------------------------------------------------------------------

    async def sync(self) -> None:
        """Load the state (once; concurrent callers wait for the same load)."""
        if self._synced is None:
            self._synced = asyncio.get_running_loop().create_task(self._sync())
        try:
            await asyncio.shield(self._synced)
        except BaseException:
            if self._synced.done():
                self._synced = None  # failed: the next caller tries again
            raise

    async def _sync(self) -> None:
        hub = self.manager.hub
        for _ in range(SYNC_ATTEMPTS):
            entries, position = await hub.engine.presence_snapshot(self.topic)
            self.state = PresenceState(entries)
            self.position = position
            if self._joined:
                return  # already receiving events (a resync after a gap)
            recovery = await hub.join(events_topic(self.topic), self, since=position)
            self._joined = True
            if recovery.recovered:
                return
            # The events after the snapshot were trimmed before we could read them: the
            # live ones flow now, so a new snapshot is complete.
        raise EngineError(f"could not load the presence of {self.topic!r}")

    def deliver(self, message: Message) -> None:
        if not is_after(message, self.position):
            return  # already in the snapshot
        self.position = Position(message.epoch, message.offset)
        diff = self.state.apply(message.data)
        if diff:
            frame = diff_frame(self.topic, diff)
            for connection in self.watchers:
                connection.send_text(frame)

    def gap(self, topic: str, position: Position) -> None:
        """Events were lost (the engine lost its link and its data): load the state again
        and tell the watchers what changed."""
        self.manager.spawn(self._resync())

    async def _resync(self) -> None:
        before = self.state
        try:
            entries, position = await self.manager.hub.engine.presence_snapshot(self.topic)
        except EngineError as exc:
            logger.warning("Could not reload the presence of %r: %s", self.topic, exc)
            return
        self.state, self.position = PresenceState(entries), position
        diff = diff_between(before, self.state)
        if diff:
            frame = diff_frame(self.topic, diff)
            for connection in self.watchers:
                connection.send_text(frame)

    def frame(self) -> str:
        return state_frame(self.topic, self.state)

    @property
    def idle(self) -> bool:
        return not self.watchers and not self.tracked


class PresenceHub:
    """Presence for one hub (one process, one event loop)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.topics: dict[str, TopicPresence] = {}
        # Entry ids are unique across processes: this hub's id, then a counter.
        self._node = secrets.token_hex(6)
        self._count = 0
        self._keeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _topic(self, topic: str) -> TopicPresence:
        found = self.topics.get(topic)
        if found is None:
            found = self.topics[topic] = TopicPresence(self, topic)
        if self._keeper is None:
            self._keeper = asyncio.get_running_loop().create_task(self._keep())
        return found

    # -- what connections do ----------------------------------------------------------------

    async def watch(self, topic: str, connection: Connection) -> str:
        """Send ``topic``'s presence changes to ``connection`` from now on; return the
        frame with the whole presence, to send it first."""
        presence = self._topic(topic)
        try:
            await presence.sync()
        except BaseException:
            await self._drop_if_idle(presence)
            raise
        presence.watchers.add(connection)
        return presence.frame()

    async def track(self, topic: str, connection: Connection, key: str, meta: Any) -> None:
        """Make ``connection`` an entry of ``topic`` under ``key``, with ``meta``; or change
        its meta if it is one already. Raises PresenceFull."""
        settings = get_settings()
        presence = self._topic(topic)
        meta_json = _json.dumps(meta)
        known = presence.tracked.get(connection)
        if known is None:
            self._count += 1
            entry_id = f"{self._node}:{self._count}"
        else:
            entry_id = known[0]
        presence.tracked[connection] = (entry_id, key, meta_json)
        try:
            added = await self.hub.engine.presence_set(
                topic,
                entry_id,
                key,
                meta_json,
                settings.presence_ttl,
                settings.presence_max_entries,
            )
        except BaseException:
            if known is None:
                presence.tracked.pop(connection, None)
            raise
        if not added:
            presence.tracked.pop(connection, None)
            await self._drop_if_idle(presence)
            raise PresenceFull(
                f"{topic!r} has {settings.presence_max_entries} presence entries already"
            )
        if connection.closed:  # it left while the entry was being made
            await self.untrack(topic, connection)

    async def untrack(self, topic: str, connection: Connection) -> None:
        presence = self.topics.get(topic)
        if presence is None:
            return
        known = presence.tracked.pop(connection, None)
        try:
            if known is not None:
                await self.hub.engine.presence_remove(topic, [known[0]])
        finally:
            await self._drop_if_idle(presence)

    async def unwatch(self, topic: str, connection: Connection) -> None:
        presence = self.topics.get(topic)
        if presence is not None:
            presence.watchers.discard(connection)
            await self._drop_if_idle(presence)

    async def forget(self, connection: Connection) -> None:
        """The connection ended: remove its entries and stop sending it changes."""
        for topic, presence in list(self.topics.items()):
            if connection in presence.tracked:
                try:
                    await self.untrack(topic, connection)
                except EngineError as exc:
                    # Its entry expires by itself, within PRESENCE_TTL.
                    logger.warning("Could not remove a presence entry of %r: %s", topic, exc)
            if connection in presence.watchers:
                await self.unwatch(topic, connection)

    async def _drop_if_idle(self, presence: TopicPresence) -> None:
        if not presence.idle or self.topics.get(presence.topic) is not presence:
            return
        del self.topics[presence.topic]
        if not self.topics and self._keeper is not None:
            self._keeper.cancel()  # nothing to keep: no timer left behind
            self._keeper = None
        if presence._joined:
            await self.hub.leave(events_topic(presence.topic), presence)

    # -- the keeper -------------------------------------------------------------------------

    async def _keep(self) -> None:
        """Refresh this process's entries and reap expired ones, every third of the TTL,
        while there is presence to keep."""
        while self.topics:
            await asyncio.sleep(get_settings().presence_ttl / 3)
            await self._refresh_and_reap()
        self._keeper = None

    async def _refresh_and_reap(self) -> None:
        ttl = get_settings().presence_ttl
        engine = self.hub.engine
        for topic, presence in list(self.topics.items()):
            try:
                tracked = dict(presence.tracked)
                if tracked:
                    ids = {entry_id: (key, meta) for entry_id, key, meta in tracked.values()}
                    missing = await engine.presence_refresh(topic, list(ids), ttl)
                    # Expired while this process could not refresh them (a long pause):
                    # they are back, and their joins are published again.
                    for entry_id in missing:
                        key, meta = ids[entry_id]
                        limit = get_settings().presence_max_entries
                        await engine.presence_set(topic, entry_id, key, meta, ttl, limit)
                if presence.watchers:
                    await engine.presence_reap(topic)
            except EngineError as exc:
                logger.warning("Could not refresh the presence of %r: %s", topic, exc)

    async def shutdown(self) -> None:
        """Remove every entry of this process at once (a clean shutdown leaves no one
        behind for the TTL to catch)."""
        for topic, presence in list(self.topics.items()):
            ids = [entry_id for entry_id, _, _ in presence.tracked.values()]
            presence.tracked.clear()
            if ids:
                try:
                    await self.hub.engine.presence_remove(topic, ids)
                except EngineError as exc:
                    logger.warning("Could not remove the presence of %r: %s", topic, exc)
        if self._keeper is not None:
            self._keeper.cancel()


_hubs: weakref.WeakKeyDictionary[Hub, PresenceHub] = weakref.WeakKeyDictionary()


def presence_hub(hub: Hub) -> PresenceHub:
    """The presence side of ``hub``, made on first use."""
    found = _hubs.get(hub)
    if found is None:
        found = _hubs[hub] = PresenceHub(hub)
    return found


async def apresence(topic: str) -> dict[str, list[Meta]]:
    """Who is on ``topic`` now, on every process: each member's key (a user's id, or
    ``anonymous:...`` for a connection without a user) and its metas, one per connection.
    ``len()`` of it counts distinct users."""
    validate_topic(topic)
    entries, _ = await get_hub().engine.presence_snapshot(topic)
    return PresenceState(entries).members()


def presence(topic: str) -> dict[str, list[Meta]]:
    """Sync twin of :func:`apresence`, for views, signals and tasks."""
    refuse_on_a_loop("presence")
    validate_topic(topic)
    return get_hub().run_blocking(lambda: apresence(topic))


async def shutdown_presence(hub: Hub) -> None:
    """Remove the entries this process still holds (at shutdown)."""
    found = _hubs.get(hub)
    if found is not None:
        await found.shutdown()


async def forget_connection(connection: Connection) -> None:
    """What a transport driver calls when a connection ends."""
    found = _hubs.get(connection.hub)
    if found is not None:
        await found.forget(connection)


__all__ = [
    "PresenceFull",
    "PresenceHub",
    "TopicPresence",
    "apresence",
    "forget_connection",
    "presence",
    "presence_hub",
    "shutdown_presence",
]

"""The topics endpoint: the consumer behind ``COURANT["ENDPOINT"]`` that speaks the topics
protocol (docs/protocol.md) on every transport, so that most apps need no consumer of
their own: topic classes (:mod:`courant.topics`) and RPC methods (:mod:`courant.rpc`)
decide what each client may do.

Ops of one connection are handled in the order they arrive, one at a time, like every
consumer's handlers. Topic messages skip the consumer entirely: the hub writes each
message's protocol frame, encoded once per process, straight to every subscriber.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

from asgiref.sync import iscoroutinefunction

from . import _json, protocol
from ._sync import executor_for_connection, run_sync
from .closecodes import CloseCode
from .conf import get_settings
from .consumer import Consumer
from .exceptions import EncodeError, EngineError, Reject
from .history import Position
from .hub import Hub
from .message import Message
from .presencehub import PresenceFull, presence_hub
from .protocol import OpId, ProtocolError
from .publishing import apublish, publish
from .rpc import methods
from .topics import Topic, registry

logger = logging.getLogger("courant.endpoint")

T = TypeVar("T")

#: The reserved topic on which :func:`recheck` reaches every process.
RECHECK_TOPIC = protocol.RESERVED_PREFIX + "recheck"


async def arecheck(topic: str) -> None:
    """Check again, on every process, who may stay subscribed to ``topic``: each client of
    the topics endpoint whose user its topic class no longer lets subscribe is
    unsubscribed, and told so with an ``unsubscribed`` frame (reason ``"forbidden"``).
    Call it after changing what ``can_subscribe`` depends on (a membership removed)."""
    await apublish(RECHECK_TOPIC, topic)


def recheck(topic: str) -> None:
    """Sync twin of :func:`arecheck`, for views, signals and tasks."""
    publish(RECHECK_TOPIC, topic)


class _Rechecker:
    """One per hub: subscribed to :data:`RECHECK_TOPIC` while the process serves the
    topics endpoint, it has the named topic's local subscribers check again."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.consumers: weakref.WeakSet[TopicsConsumer] = weakref.WeakSet()
        self._joined = False
        self._running: set[asyncio.Task[None]] = set()

    async def enlist(self, consumer: TopicsConsumer) -> None:
        self.consumers.add(consumer)
        if not self._joined:
            self._joined = True
            try:
                await self.hub.join(RECHECK_TOPIC, self)
            except EngineError as exc:
                self._joined = False
                logger.warning("courant.recheck() will not reach this process: %s", exc)

    def deliver(self, message: Message) -> None:
        topic = message.data
        for consumer in list(self.consumers):
            if isinstance(topic, str) and topic in consumer.connection.topics:
                task = asyncio.get_running_loop().create_task(consumer._recheck(topic))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    def gap(self, topic: str, position: Position) -> None:
        """Rechecks lost with the engine's link are lost: nothing to catch up."""


_recheckers: weakref.WeakKeyDictionary[Hub, _Rechecker] = weakref.WeakKeyDictionary()


class _Filter:
    """A connection's ``deliver`` while it holds subscriptions whose topic class defines
    ``can_receive``: messages of those topics reach the client only if ``can_receive``
    says so; others are forwarded as before.

    Installed only on such connections, and removed with their last such subscription, so
    that every other connection keeps its plain forward and pays nothing per message.
    The hub hands recovered messages to ``deliver`` too, so history is filtered the same
    way as live messages.
    """

    __slots__ = ("checks", "forward", "user")

    def __init__(self, forward: Callable[[Message], None], user: Any) -> None:
        #: What delivered before: the connection's own forward.
        self.forward = forward
        self.user = user
        #: Topic -> the topic class instance whose ``can_receive`` decides.
        self.checks: dict[str, Topic] = {}

    def __call__(self, message: Message) -> None:
        found = self.checks.get(message.topic)
        if found is None:
            self.forward(message)
            return
        try:
            allowed = found.can_receive(self.user, message.data, **found.fields)
        except Exception:
            logger.exception(
                "%s.can_receive() raised; the message is not sent to this subscriber",
                type(found).__qualname__,
            )
            return
        if allowed:
            self.forward(message)


class TopicsConsumer(Consumer):
    """Serves the topics protocol. Mounted by Courant at ``COURANT["ENDPOINT"]``; route it
    yourself (``path("live/", TopicsConsumer.as_asgi())``) to serve it elsewhere too."""

    _budget: protocol.ErrorBudget | None = None
    _filter: _Filter | None = None

    async def connect(self) -> None:
        asked = self._asked_version()
        if asked is not None and asked != str(protocol.VERSION):
            # Accepted first, so that the client sees why (a refusal carries no code).
            self.accept()
            self.close(CloseCode.UNSUPPORTED_PROTOCOL, f"protocol {asked} is not supported")
            return
        self.connection.wrap_messages = True
        self.connection.on_gap = self._gap
        self.accept()
        self.send(protocol.hello(self.transport))
        hub = self.connection.hub
        rechecker = _recheckers.get(hub)
        if rechecker is None:
            rechecker = _recheckers[hub] = _Rechecker(hub)
        await rechecker.enlist(self)
        # An SSE stream that reconnected says where it was: pick up from there.
        for topic, position in list(self.resume.items())[: get_settings().max_subscriptions]:
            await self._subscribe(protocol.Subscribe(None, topic, position))

    def _asked_version(self) -> str | None:
        asked = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("protocol")
        return asked[-1] if asked else None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        op = protocol.parse(text_data if text_data is not None else bytes_data, self._max_size)
        if isinstance(op, ProtocolError):
            self._refuse(op.id, op.code, op.message)
        elif isinstance(op, protocol.Publish):
            await self._publish(op)
        elif isinstance(op, protocol.Subscribe):
            await self._subscribe(op)
        elif isinstance(op, protocol.Unsubscribe):
            await self._leave(op.topic)
            self.send(protocol.reply(op.id, None))
        elif isinstance(op, protocol.Call):
            await self._call(op)
        elif isinstance(op, protocol.SetPresence):
            await self._set_presence(op)
        else:
            self.send(protocol.reply(op.id, "pong"))

    @functools.cached_property
    def _max_size(self) -> int:
        return get_settings().max_frame_size

    # -- the ops ------------------------------------------------------------------------

    async def _subscribe(self, op: protocol.Subscribe) -> None:
        topic = op.topic
        if topic in self.connection.topics:
            # Already subscribed: its messages are flowing; nothing to replay.
            position = self.connection.hub.position(topic)
            self.send(protocol.subscribed(op.id, topic, position, False))
            return
        if len(self.connection.topics) >= get_settings().max_subscriptions:
            limit = get_settings().max_subscriptions
            self._refuse(
                op.id, protocol.TOO_MANY_SUBSCRIPTIONS, f"at most {limit} topics per connection"
            )
            return
        found = await self._allowed(op.id, topic, "subscribe")
        if found is None:
            return
        meta = None
        if op.presence is not None:
            meta = await self._presence_meta(op.id, found, op.presence)
            if meta is None:
                return
        if found._filtered:
            # Before joining: what the join recovers, and what arrives meanwhile, is
            # filtered too.
            self._filter_topic(topic, found)
        try:
            recovery = await self.ajoin(topic, op.since)
        except EngineError as exc:
            self._unfilter_topic(topic)
            logger.warning("Subscribing to %r failed: %s", topic, exc)
            self._refuse(op.id, protocol.UNAVAILABLE, "the server cannot subscribe now; retry")
            return
        if topic not in self.connection.topics:
            self._unfilter_topic(topic)
            return  # the client left meanwhile
        if meta is not None and not await self._track(op.id, topic, meta):
            await self._leave(topic)
            return
        self.send(protocol.subscribed(op.id, topic, recovery.position, recovery.recovered))
        if found.presence:
            presences = presence_hub(self.connection.hub)
            try:
                self.send(await presences.watch(topic, self.connection))
            except EngineError as exc:
                logger.warning("Could not load the presence of %r: %s", topic, exc)

    async def _leave(self, topic: str) -> None:
        """Unsubscribe, and stop tracking and watching the topic's presence."""
        await self.aleave(topic)
        self._unfilter_topic(topic)
        presences = presence_hub(self.connection.hub)
        try:
            await presences.untrack(topic, self.connection)
        except EngineError as exc:
            logger.warning("Could not remove a presence entry of %r: %s", topic, exc)
        await presences.unwatch(topic, self.connection)

    def _filter_topic(self, topic: str, found: Topic) -> None:
        """Check each message of ``topic`` with ``found.can_receive`` before sending it."""
        connection = self.connection
        if connection.closed:
            return
        if self._filter is None:
            self._filter = _Filter(connection.deliver, self.user)
        self._filter.checks[topic] = found
        connection.deliver = self._filter

    def _unfilter_topic(self, topic: str) -> None:
        """Stop checking ``topic``; with no checked topic left, deliver as before."""
        filtering = self._filter
        if filtering is None or filtering.checks.pop(topic, None) is None:
            return
        if not filtering.checks:
            self._filter = None
            if self.connection.deliver is filtering:
                self.connection.deliver = filtering.forward

    # -- presence ---------------------------------------------------------------------------

    async def _set_presence(self, op: protocol.SetPresence) -> None:
        if op.topic not in self.connection.topics:
            self._refuse(op.id, protocol.NOT_SUBSCRIBED, f"subscribe to {op.topic!r} first")
            return
        found = registry.match(op.topic)
        if found is None:
            self._refuse(op.id, protocol.UNKNOWN_TOPIC, f"no topic class covers {op.topic!r}")
            return
        if op.meta is None:
            try:
                await presence_hub(self.connection.hub).untrack(op.topic, self.connection)
            except EngineError:
                self._refuse(op.id, protocol.UNAVAILABLE, "the server cannot do that now; retry")
                return
            self.send(protocol.reply(op.id, None))
            return
        meta = await self._presence_meta(op.id, found, op.meta)
        if meta is not None and await self._track(op.id, op.topic, meta):
            self.send(protocol.reply(op.id, None))

    async def _presence_meta(self, op_id: OpId | None, found: Topic, meta: dict[str, Any]) -> Any:
        """The meta to track, as the topic class cleans it; None after refusing."""
        if not found.presence:
            self._refuse(op_id, protocol.NO_PRESENCE, f"{found.name!r} has no presence")
            return None
        limit = get_settings().presence_max_meta
        if len(_json.dumps(meta).encode()) > limit:
            self._refuse(op_id, protocol.TOO_BIG, f"presence meta is larger than {limit} bytes")
            return None
        try:
            cleaned = await self._run(found.clean_presence, self.user, meta, **found.fields)
        except Reject as reject:
            self._refuse(op_id, reject.code, reject.message)
            return None
        except Exception:
            logger.exception("%s.clean_presence() raised", type(found).__qualname__)
            self._refuse(op_id, protocol.INTERNAL, "internal error")
            return None
        if not isinstance(cleaned, dict) or len(_json.dumps(cleaned).encode()) > limit:
            logger.error(
                "%s.clean_presence() must return a dict of at most PRESENCE_MAX_META bytes",
                type(found).__qualname__,
            )
            self._refuse(op_id, protocol.INTERNAL, "internal error")
            return None
        return cleaned

    async def _track(self, op_id: OpId | None, topic: str, meta: Any) -> bool:
        presences = presence_hub(self.connection.hub)
        try:
            await presences.track(topic, self.connection, self.presence_key, meta)
        except PresenceFull as exc:
            self._refuse(op_id, protocol.PRESENCE_FULL, str(exc))
            return False
        except EngineError as exc:
            logger.warning("Could not track presence on %r: %s", topic, exc)
            self._refuse(op_id, protocol.UNAVAILABLE, "the server cannot do that now; retry")
            return False
        return True

    async def _publish(self, op: protocol.Publish) -> None:
        found = await self._allowed(op.id, op.topic, "publish")
        if found is None:
            return
        try:
            data = await self._run(found.clean, self.user, op.data, **found.fields)
        except Reject as reject:
            self._refuse(op.id, reject.code, reject.message)
            return
        except Exception:
            logger.exception("%s.clean() raised", type(found).__qualname__)
            self._refuse(op.id, protocol.INTERNAL, "internal error")
            return
        try:
            message = await apublish(op.topic, data)
        except EncodeError as exc:
            self._refuse(op.id, protocol.INVALID_FIELD, str(exc))
            return
        except EngineError as exc:
            logger.warning("Publishing to %r failed: %s", op.topic, exc)
            self._refuse(op.id, protocol.UNAVAILABLE, "the server cannot publish now; retry")
            return
        self.send(protocol.reply(op.id, {"epoch": message.epoch, "offset": message.offset}))

    async def _call(self, op: protocol.Call) -> None:
        function = methods.get(op.method)
        if function is None:
            self._refuse(op.id, protocol.UNKNOWN_METHOD, f"no method {op.method!r}")
            return
        try:
            result = await self._run(function, self.user, op.params)
            frame = protocol.reply(op.id, result)
        except Reject as reject:
            self._refuse(op.id, reject.code, reject.message)
        except Exception:
            logger.exception("RPC method %r raised, or returned what JSON cannot encode", op.method)
            self._refuse(op.id, protocol.INTERNAL, "internal error")
        else:
            self.send(frame)

    # -- helpers ------------------------------------------------------------------------

    async def _allowed(self, op_id: OpId | None, topic: str, action: str) -> Topic | None:
        """The topic's class if this user may ``action`` it; else refuse and return None."""
        found = None if topic.startswith(protocol.RESERVED_PREFIX) else registry.match(topic)
        if found is None:
            self._refuse(op_id, protocol.UNKNOWN_TOPIC, f"no topic class covers {topic!r}")
            return None
        check = found.can_subscribe if action == "subscribe" else found.can_publish
        try:
            allowed = await self._run(check, self.user, **found.fields)
        except Exception:
            logger.exception("%s.can_%s() raised", type(found).__qualname__, action)
            self._refuse(op_id, protocol.INTERNAL, "internal error")
            return None
        if not allowed:
            self._refuse(op_id, protocol.FORBIDDEN, f"not allowed to {action} to {topic!r}")
            return None
        return found

    async def _run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call user code: awaited if async, else in this connection's worker thread."""
        if iscoroutinefunction(function):
            result: T = await function(*args, **kwargs)
            return result
        if self._executor is None:
            self._executor = executor_for_connection()
        return await run_sync(self._executor, functools.partial(function, *args, **kwargs))

    def _refuse(self, op_id: OpId | None, code: str, message: str) -> None:
        self.send(protocol.error(op_id, code, message))
        if self._budget is None:
            self._budget = protocol.ErrorBudget()
        if self._budget.spend(asyncio.get_running_loop().time()):
            logger.info("Closing a topics connection: too many protocol errors")
            self.close(CloseCode.PROTOCOL_ERROR, "too many protocol errors")

    def _gap(self, topic: str, position: Position) -> None:
        self.send(protocol.gap(topic, position))

    async def _recheck(self, topic: str) -> None:
        found = registry.match(topic)
        allowed = False
        if found is not None:
            try:
                allowed = bool(await self._run(found.can_subscribe, self.user, **found.fields))
            except Exception:
                logger.exception("%s.can_subscribe() raised", type(found).__qualname__)
        if not allowed and topic in self.connection.topics:
            await self._leave(topic)
            self.send(protocol.unsubscribed(topic, "forbidden"))


__all__ = ["RECHECK_TOPIC", "TopicsConsumer", "arecheck", "recheck"]

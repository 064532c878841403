"""The Redis engine: many processes, many hosts, linked by the Redis a Django team runs.

``COURANT = {"ENGINE": "redis://127.0.0.1:6379/0"}`` (or ``rediss://`` for TLS, or
``unix:///path/to/redis.sock``). A list of URLs spreads topics over several servers by
consistent hashing (:mod:`courant.engines.sharding`); each topic lives wholly on one, so
its order and history stay intact. Options in the URL's query: ``prefix`` (default
``courant:``), which namespaces keys *and* pub/sub channels (Redis pub/sub ignores the
database number), and redis-py's own, such as ``socket_connect_timeout`` (default 2 s).

How it keeps its promises:

- **One subscription per topic per process.** Each server gets one pub/sub connection per
  process, driven here by a small protocol on asyncio (not per connection: the hub
  reference-counts). A message costs the process one read, whatever the number of its
  subscribers, and no round trip.
- **Atomic offsets and history.** One Lua script per publish creates the topic's epoch if
  it has none, increments its offset, appends the message to the topic's stream (trimmed
  to the last N entries and T seconds) and publishes it: a constant number of commands
  per publish, and no two publishers can produce the same or an out-of-order offset.
- **Recovery** reads the stream newest-first for exactly the number of missed messages;
  fewer than that (trimmed or expired) or another epoch means "cannot recover".
- **Faults.** An unreachable server fails the first operation with
  :class:`~courant.exceptions.EngineError` after ``socket_connect_timeout``. A lost
  pub/sub link is logged once, retried with jittered exponential backoff, subscribed
  again, and reported to the hub, which fills each topic's gap from history (or tells
  subscribers it cannot). A silent link is detected by PINGs when idle.

Keys, per topic ``T`` on its server: ``{prefix}m:T`` (hash: epoch ``e``, offset ``o``),
``{prefix}h:T`` (the history stream) and the pub/sub channel ``{prefix}t:T``; a channel
``C`` is the list ``{prefix}c:C``. Topic state expires after a day without publishes
(:data:`TOPIC_STATE_TTL`), after which the topic starts again under a new epoch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import random
import ssl
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import hiredis
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.retry import Retry

from .. import _json
from ..exceptions import ChannelFull, EngineError
from ..history import History, Position, Recovery
from ..message import Kind, Message, Payload
from ..presence import EVENTS_PREFIX, Entry, events_topic
from . import Engine
from .sharding import HashRing

if TYPE_CHECKING:
    from ..conf import Settings

logger = logging.getLogger("courant.engines.redis")

#: Seconds a topic's epoch and offset live after its last publish.
TOPIC_STATE_TTL = 86_400
#: Seconds of silence on a pub/sub link before it is PINGed; no answer for as long again
#: and the link is considered dead.
HEALTH_INTERVAL = 15.0
#: Reconnection backoff bounds, in seconds.
BACKOFF_MIN = 0.05
BACKOFF_MAX = 5.0
#: Seconds to wait for a connection to Redis, unless the URL sets socket_connect_timeout.
CONNECT_TIMEOUT = 2.0
#: Seconds to wait for a SUBSCRIBE or PING answer on a live link.
ANSWER_TIMEOUT = 10.0
#: A receive without a timeout waits in slices this long (seconds), so a stopping worker
#: is never stuck in Redis for long.
RECEIVE_SLICE = 5.0

_KIND_CODES = {Kind.TEXT: "t", Kind.BINARY: "b", Kind.JSON: "j"}
_KINDS = {ord(code): kind for kind, code in _KIND_CODES.items()}

# -- the server-side scripts ---------------------------------------------------------------

# Every topic script starts by reading the topic's epoch, creating one (from the server's
# clock, unique per life of the topic) when the topic has none.
_EPOCH = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  local t = redis.call('TIME')
  epoch = string.format('%x%05x', tonumber(t[1]), tonumber(t[2]))
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])  -- history of an earlier life, if it outlived the state
end
local offset = tonumber(redis.call('HGET', KEYS[1], 'o'))
local function trim(ttl)
  if ttl > 0 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('XTRIM', KEYS[2], 'MINID', now - ttl)
  end
end
"""

# Publishing a message on the topic of KEYS[1] and KEYS[2] (after _EPOCH): the next
# offset, the history stream trimmed to ``size`` entries and ``ttl`` ms, the PUBLISH.
_PUBLISH_MESSAGE = """
local function publish_message(state_ttl, channel, kind, payload, size, ttl)
  offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
  redis.call('EXPIRE', KEYS[1], state_ttl)
  if size > 0 then
    redis.call('XADD', KEYS[2], 'MAXLEN', size, '*', 'o', offset, 'k', kind, 'p', payload)
    trim(ttl)
    if ttl > 0 then
      redis.call('PEXPIRE', KEYS[2], ttl)
    else
      redis.call('EXPIRE', KEYS[2], state_ttl)
    end
  end
  redis.call('PUBLISH', channel, kind .. epoch .. ':' .. offset .. '\\n' .. payload)
end
"""

# KEYS: meta, stream. ARGV: state ttl, pub/sub channel, kind, payload, size, ttl ms.
_PUBLISH = (
    _EPOCH
    + _PUBLISH_MESSAGE
    + """
publish_message(ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
return {epoch, offset}
"""
)

# Presence (courant.presence). KEYS: the events topic's meta and stream, the topic's
# entries (hash: id -> key, newline, meta JSON) and their expiry times (sorted set, ms).
# ARGV starts with what publishing an event takes: state ttl, pub/sub channel, history
# size, history ttl ms. Every change publishes its event in the same step.
_PRESENCE = (
    _EPOCH
    + _PUBLISH_MESSAGE
    + """
local function event(payload)
  publish_message(ARGV[1], ARGV[2], 'j', payload, tonumber(ARGV[3]), tonumber(ARGV[4]))
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function remove(id)
  if redis.call('HDEL', KEYS[3], id) == 1 then
    redis.call('ZREM', KEYS[4], id)
    event('{"op":"del","id":' .. cjson.encode(id) .. '}')
    return 1
  end
  redis.call('ZREM', KEYS[4], id)
  return 0
end
"""
)

# ARGV[5..]: entry id, key, meta JSON, ttl ms, entry limit. Returns 1, or 0 when full.
_PRESENCE_SET = (
    _PRESENCE
    + """
local id, key, meta, ttl = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local value = key .. '\\n' .. meta
local old = redis.call('HGET', KEYS[3], id)
if not old and redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[9]) then
  return 0
end
redis.call('HSET', KEYS[3], id, value)
redis.call('ZADD', KEYS[4], now_ms() + ttl, id)
redis.call('PEXPIRE', KEYS[3], ttl * 2)
redis.call('PEXPIRE', KEYS[4], ttl * 2)
if old ~= value then
  event('{"op":"set","id":' .. cjson.encode(id) .. ',"key":' .. cjson.encode(key)
    .. ',"meta":' .. meta .. '}')
end
return 1
"""
)

# ARGV[5..]: entry ids. Returns how many were there.
_PRESENCE_REMOVE = (
    _PRESENCE
    + """
local removed = 0
for i = 5, #ARGV do
  removed = removed + remove(ARGV[i])
end
return removed
"""
)

# Entries whose time is up. Returns how many were removed.
_PRESENCE_REAP = (
    _PRESENCE
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now_ms(), 'LIMIT', 0, 1000)
local removed = 0
for _, id in ipairs(expired) do
  removed = removed + remove(id)
end
return removed
"""
)

# The live entries and the events topic's position: {epoch, offset, id, value, ...}.
_PRESENCE_SNAPSHOT = (
    _PRESENCE
    + """
local now = now_ms()
local reply = {epoch, offset}
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local expires = redis.call('ZSCORE', KEYS[4], all[i])
  if expires and tonumber(expires) > now then
    reply[#reply + 1] = all[i]
    reply[#reply + 1] = all[i + 1]
  end
end
return reply
"""
)

# KEYS: entries, expiry times. ARGV: ttl ms, entry ids. Returns the ids no longer there.
_PRESENCE_REFRESH = """
local t = redis.call('TIME')
local expires = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local missing = {}
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[2], 'XX', 'CH', expires, ARGV[i]) == 0
      and not redis.call('ZSCORE', KEYS[2], ARGV[i]) then
    missing[#missing + 1] = ARGV[i]
  end
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[1]) * 2)
return missing
"""

# KEYS: meta, stream. ARGV: state ttl.
_POSITION = _EPOCH + "return {epoch, offset}\n"

# KEYS: meta, stream. ARGV: state ttl, since epoch, since offset, ttl ms.
_RECOVER = (
    _EPOCH
    + """
local since = tonumber(ARGV[3])
if epoch ~= ARGV[2] or since > offset or since < 0 then
  return {epoch, offset, 0}
end
if since == offset then
  return {epoch, offset, 1}
end
trim(tonumber(ARGV[4]))
local missed = offset - since
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', missed)
-- Complete only if the entries run exactly from since + 1 to offset: a publish that kept
-- no history (another process with other HISTORY settings) must not leave a hole.
local function offset_of(entry)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'o' then return tonumber(fields[i + 1]) end
  end
end
if #entries < missed or offset_of(entries[1]) ~= offset
    or offset_of(entries[#entries]) ~= since + 1 then
  return {epoch, offset, 0}
end
return {epoch, offset, 1, entries}
"""
)

# KEYS: the channel's list. ARGV: payload, capacity, expiry ms.
_SEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head or tonumber(string.sub(head, 1, 15)) > now then break end
  redis.call('LPOP', KEYS[1])
end
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
local expiry = tonumber(ARGV[3])
redis.call('RPUSH', KEYS[1], string.format('%015d', now + expiry) .. ARGV[1])
redis.call('PEXPIRE', KEYS[1], expiry)
return 1
"""


@dataclasses.dataclass(frozen=True)
class _Script:
    source: str
    sha: str

    @classmethod
    def of(cls, source: str) -> _Script:
        return cls(source, hashlib.sha1(source.encode()).hexdigest())


_SCRIPTS = {
    "publish": _Script.of(_PUBLISH),
    "position": _Script.of(_POSITION),
    "recover": _Script.of(_RECOVER),
    "send": _Script.of(_SEND),
    "presence_set": _Script.of(_PRESENCE_SET),
    "presence_remove": _Script.of(_PRESENCE_REMOVE),
    "presence_reap": _Script.of(_PRESENCE_REAP),
    "presence_snapshot": _Script.of(_PRESENCE_SNAPSHOT),
    "presence_refresh": _Script.of(_PRESENCE_REFRESH),
}

# -- turning replies into messages (no I/O) ------------------------------------------------


def decode_payload(kind: Kind, payload: bytes) -> Payload:
    return payload if kind is Kind.BINARY else payload.decode()


def message_from_envelope(topic: str, data: bytes) -> Message:
    """The message a PUBLISH carried: ``<kind><epoch>:<offset>\\n<payload>``."""
    header_end = data.index(b"\n")
    kind = _KINDS[data[0]]
    epoch, _, offset = data[1:header_end].partition(b":")
    return Message(
        topic, int(offset), epoch.decode(), kind, decode_payload(kind, data[header_end + 1 :])
    )


def message_from_entry(topic: str, epoch: str, entry: Sequence[Any]) -> Message:
    """A message from a history entry: ``[id, [b"o", offset, b"k", kind, b"p", payload]]``."""
    fields = entry[1]
    values = dict(zip(fields[::2], fields[1::2], strict=True))
    kind = _KINDS[values[b"k"][0]]
    return Message(topic, int(values[b"o"]), epoch, kind, decode_payload(kind, values[b"p"]))


def recovery_from_reply(topic: str, reply: Sequence[Any]) -> Recovery:
    """The :class:`Recovery` the recover script answered."""
    epoch = reply[0].decode()
    position = Position(epoch, int(reply[1]))
    if not reply[2]:
        return Recovery(False, position)
    entries = reply[3] if len(reply) > 3 else []
    messages = tuple(message_from_entry(topic, epoch, entry) for entry in reversed(entries))
    return Recovery(True, position, messages)


def _ttl_ms(history: History) -> int:
    """A history's TTL as the scripts take it: milliseconds, 0 for none."""
    return 0 if history.ttl is None else max(1, int(history.ttl * 1000))


# -- one Redis server ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServerAddress:
    """What a URL in ``COURANT["ENGINE"]`` says about one Redis server."""

    #: The URL as redis-py takes it: Courant's own options removed.
    client_url: str
    #: The URL without its password, for logs and errors.
    display: str
    #: The server's identity on the hash ring.
    key: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> ServerAddress:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefix = "courant:"
        kept = []
        for name, value in query:
            if name == "prefix":
                prefix = value
            else:
                kept.append((name, value))
        client_url = urlunsplit(parts._replace(query=urlencode(kept)))
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        display = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return cls(client_url, display, display, prefix)


def _connect_options(address: ServerAddress) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_connect_timeout": CONNECT_TIMEOUT}
    options.update(parse_url(address.client_url))  # type: ignore[no-untyped-call]
    return options


class _ReplyError(Exception):
    """An error reply from Redis (``-ERR ...``), as the parser builds it."""


class _Lost(EngineError):
    """The connection went away while a command waited for its answer: it may or may not
    have run."""


class _Protocol(asyncio.Protocol):
    """The byte stream of one connection: RESP replies parsed by hiredis, each handed to
    its pipeline as it arrives (on the loop, with no task per reply)."""

    def __init__(self, pipeline: _Pipeline) -> None:
        self.pipeline = pipeline
        self.parser = hiredis.Reader(replyError=_ReplyError)
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.last_data = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.last_data = time.monotonic()
        parser = self.parser
        parser.feed(data)
        handle = self.pipeline.handle
        while (reply := parser.gets()) is not False:
            handle(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.pipeline.connection_lost(self)


class _Pipeline:
    """One connection to a server on which commands are written as they come, without
    waiting for earlier answers. Every command the server will answer queues a future in
    ``_waiting``, in the order sent; the server answers in that order, so each answer (or
    error reply) resolves the oldest future."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        # The connection being opened or in use (answers are awaited on it).
        self._current: _Protocol | None = None
        self._waiting: deque[asyncio.Future[Any]] = deque()

    def _send(
        self, protocol: _Protocol, *args: str | bytes | int, answers: int = 1
    ) -> list[asyncio.Future[Any]]:
        """Write one command; return the futures of its ``answers``."""
        futures = [self.loop.create_future() for _ in range(answers)]
        self._waiting.extend(futures)
        assert protocol.transport is not None
        protocol.transport.write(hiredis.pack_command(args))  # type: ignore[arg-type]
        return futures

    async def _connect(self, *setup: tuple[tuple[str | bytes | int, ...], int]) -> _Protocol:
        """Connect and authenticate, then send the ``setup`` commands (each with the number
        of answers it gets) and wait for every answer, all within the connect timeout.
        Raises OSError, TimeoutError or EngineError."""
        options = _connect_options(self.server.address)
        timeout = options.get("socket_connect_timeout") or CONNECT_TIMEOUT
        async with asyncio.timeout(timeout):
            if "path" in options:
                _, protocol = await self.loop.create_unix_connection(
                    lambda: _Protocol(self), options["path"]
                )
            else:
                context = None
                if options.get("connection_class") is redis.asyncio.SSLConnection:
                    context = ssl.create_default_context()
                    if options.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
                        context.check_hostname = False
                        context.verify_mode = ssl.CERT_NONE
                _, protocol = await self.loop.create_connection(
                    lambda: _Protocol(self),
                    options.get("host", "localhost"),
                    options.get("port", 6379),
                    ssl=context,
                )
        self._current = protocol
        answers: list[asyncio.Future[Any]] = []
        password = options.get("password")
        if password:
            username = options.get("username")
            credentials = (username, password) if username else (password,)
            answers += self._send(protocol, "AUTH", *credentials)
        for command, count in setup:
            answers += self._send(protocol, *command, answers=count)
        try:
            async with asyncio.timeout(max(timeout, ANSWER_TIMEOUT)):
                await asyncio.gather(*answers)
        except BaseException as exc:
            if protocol.transport is not None:
                protocol.transport.abort()
            self.fail_waiting()
            if isinstance(exc, _ReplyError):  # a wrong password, say
                raise EngineError(f"Redis at {self.server.address.display}: {exc}") from None
            raise
        return protocol

    def answer(self, reply: Any) -> None:
        """The server answered the oldest command still waiting."""
        if not self._waiting:
            if isinstance(reply, Exception):
                logger.error("Redis at %s answered: %s", self.server.address.display, reply)
            return
        future = self._waiting.popleft()
        if future.done():  # its caller gave up waiting
            return
        if isinstance(reply, Exception):
            future.set_exception(reply)
        else:
            future.set_result(reply)

    handle = answer

    def connection_lost(self, protocol: _Protocol) -> None:
        if protocol is self._current:
            self.fail_waiting()

    def fail_waiting(self, why: str = "lost the connection to") -> None:
        """The connection is gone: nothing waiting on it will be answered."""
        error = _Lost(f"{why} Redis at {self.server.address.display}")
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved, for futures nobody awaits (health PINGs)


class _Commands(_Pipeline):
    """The process's command connection to one server, on one event loop. Commands from
    every task are pipelined on it, so a publish costs one write and one read, with no
    connection pool, lock or task in between. A command is never sent twice here: the
    caller decides what may be retried (a publish may not).

    One timer watches the connection, not one per command: while commands wait, it checks
    every ``ANSWER_TIMEOUT`` that Redis answered something since the last check; if not,
    the connection is dropped and every waiting command fails.
    """

    def __init__(self, server: _Server) -> None:
        super().__init__(server)
        self._protocol: _Protocol | None = None
        self._opening: asyncio.Task[_Protocol] | None = None
        self._answers = 0
        self._watchdog: asyncio.TimerHandle | None = None

    async def call(self, *args: str | bytes | int) -> Any:
        """Run one command and return its answer. An error reply raises
        :class:`_ReplyError`; anything else that goes wrong raises EngineError."""
        protocol = self._protocol
        if protocol is None:
            protocol = await self._up()
        (answer,) = self._send(protocol, *args)
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(
                ANSWER_TIMEOUT, self._check_answers, self._answers
            )
        return await answer

    def answer(self, reply: Any) -> None:
        self._answers += 1
        super().answer(reply)

    handle = answer

    def _check_answers(self, answers: int) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        if self._answers == answers:  # nothing answered for ANSWER_TIMEOUT
            seconds = f"{ANSWER_TIMEOUT:g}"
            self.drop(f"no answer in {seconds}s from")
            return
        self._watchdog = self.loop.call_later(ANSWER_TIMEOUT, self._check_answers, self._answers)

    async def _up(self) -> _Protocol:
        opening = self._opening
        if opening is None:
            opening = self._opening = self.loop.create_task(self._open())
            opening.add_done_callback(self._opened)
        return await asyncio.shield(opening)

    async def _open(self) -> _Protocol:
        options = _connect_options(self.server.address)
        setup: list[tuple[tuple[str | bytes | int, ...], int]] = []
        if options.get("db"):
            setup.append((("SELECT", options["db"]), 1))
        setup.append((("CLIENT", "SETNAME", self.server.client_name), 1))
        try:
            protocol = await self._connect(*setup)
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            display = self.server.address.display
            raise EngineError(f"cannot reach Redis at {display}: {reason}") from None
        self._protocol = protocol
        return protocol

    def _opened(self, task: asyncio.Task[_Protocol]) -> None:
        self._opening = None
        if not task.cancelled():
            task.exception()  # retrieved: every caller may have given up waiting

    def connection_lost(self, protocol: _Protocol) -> None:
        if protocol is self._protocol:
            self._protocol = None
        super().connection_lost(protocol)

    def drop(self, why: str = "lost the connection to") -> None:
        """Abandon the connection: what waits on it fails, the next command reconnects."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abort()
        self.fail_waiting(why)

    def close(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.drop()


class _Link(_Pipeline):
    """The process's pub/sub connection to one server: subscribes the topics the hub
    needs, delivers their messages, and comes back by itself when it is lost.

    The server answers the commands sent on the link (one answer per channel of a
    SUBSCRIBE, one per PING, AUTH or CLIENT) in order, between the messages it pushes.
    """

    def __init__(self, engine: RedisEngine, server: _Server) -> None:
        super().__init__(server)
        self.engine = engine
        #: Topics this process needs from this server (subscribed again on reconnect).
        self.topics: set[str] = set()
        self._channel_prefix = server.channel_prefix.encode()
        self._protocol: _Protocol | None = None
        self._attempt: asyncio.Future[None] = self.loop.create_future()
        self._outage: tuple[float, str] | None = None  # since when, and why
        self._closed = False
        self._task = self.loop.create_task(self._run())

    # -- what the engine asks ---------------------------------------------------------

    async def _protocol_up(self) -> _Protocol:
        if self._protocol is not None:
            return self._protocol
        if self._outage is not None:
            since, reason = self._outage
            raise EngineError(
                f"Redis at {self.server.address.display} is unreachable "
                f"(for {time.monotonic() - since:.1f}s: {reason})"
            )
        await asyncio.shield(self._attempt)
        assert self._protocol is not None
        return self._protocol

    def channel(self, topic: str) -> bytes:
        return self._channel_prefix + topic.encode()

    async def subscribe(self, topic: str) -> None:
        self.topics.add(topic)
        protocol = None
        try:
            protocol = await self._protocol_up()
            (confirmed,) = self._send(protocol, "SUBSCRIBE", self.channel(topic))
            async with asyncio.timeout(ANSWER_TIMEOUT):
                await confirmed
        except BaseException as exc:
            self.unsubscribe(topic)  # it may still take effect on the server: undo it
            if isinstance(exc, _ReplyError):
                raise EngineError(f"Redis at {self.server.address.display}: {exc}") from None
            raise

    def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            # Answered with an "unsubscribe" push, which handle() skips: nothing waits.
            command = ("UNSUBSCRIBE", self.channel(topic))
            protocol.transport.write(hiredis.pack_command(command))  # type: ignore[arg-type]

    async def ping(self) -> None:
        """Return once everything the server sent this link before now has been handled."""
        protocol = await self._protocol_up()
        (answer,) = self._send(protocol, "PING")
        async with asyncio.timeout(ANSWER_TIMEOUT):
            await answer

    # -- what the server sends ----------------------------------------------------------

    def handle(self, reply: Any) -> None:
        if isinstance(reply, list) and reply:
            kind = reply[0]
            if kind == b"message":
                channel = reply[1]
                topic = channel[len(self._channel_prefix) :].decode()
                listener = self.engine._listener
                if listener is not None:
                    try:
                        message = message_from_envelope(topic, reply[2])
                    except (ValueError, KeyError, IndexError):
                        logger.error("Ignoring a malformed message on Redis channel %r", channel)
                        return
                    listener.fan_out(message)
                return
            if kind == b"unsubscribe":
                return
        # A SUBSCRIBE confirmation, a PONG, an OK, or an error: the oldest command's answer.
        self.answer(reply)

    # -- the connection's life ----------------------------------------------------------

    async def _open(self) -> _Protocol:
        """Connect, authenticate, name the connection and subscribe every topic: subscribed
        again before anyone reads history to fill the gap, so that a message published
        from now on is delivered."""
        # Named, so that an operator (or a test) can tell it in CLIENT LIST.
        setup: list[tuple[tuple[str | bytes | int, ...], int]] = [
            (("CLIENT", "SETNAME", self.server.link_name), 1)
        ]
        topics = sorted(self.topics)
        for start in range(0, len(topics), 500):
            chunk = [self.channel(topic) for topic in topics[start : start + 500]]
            setup.append((("SUBSCRIBE", *chunk), len(chunk)))
        return await self._connect(*setup)

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        while not self._closed:
            try:
                protocol = await self._open()
            except (OSError, TimeoutError, EngineError) as exc:
                self._down(exc)
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            up_since = time.monotonic()
            self._protocol = protocol
            attempt, self._attempt = self._attempt, self.loop.create_future()
            if not attempt.done():
                attempt.set_result(None)
            if self._outage is not None:
                since = self._outage[0]
                self._outage = None
                logger.warning(
                    "Redis at %s is back after %.1fs; %d topic(s) subscribed again",
                    self.server.address.display,
                    up_since - since,
                    len(self.topics),
                )
                if self.engine._listener is not None and self.topics:
                    self.engine._listener.link_restored(sorted(self.topics))
            try:
                await self._watch(protocol)
            except (OSError, TimeoutError, EngineError) as exc:
                self._down(exc)
            finally:
                self._protocol = None
                if protocol.transport is not None:
                    protocol.transport.abort()
                self.fail_waiting()
            # A link that keeps dropping right after it comes back (a proxy, an output
            # buffer limit) must not reconnect in a tight loop: the backoff is only
            # forgotten once the link has stayed up for a while.
            if time.monotonic() - up_since > HEALTH_INTERVAL:
                backoff = BACKOFF_MIN
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _watch(self, protocol: _Protocol) -> None:
        """Return (by raising) when the link is lost, or silent for too long: after
        ``HEALTH_INTERVAL`` without data it is PINGed, and must answer within as long."""
        pinged_at: float | None = None
        while True:
            now = time.monotonic()
            if pinged_at is not None and protocol.last_data >= pinged_at:
                pinged_at = None  # it answered
            if pinged_at is None and now - protocol.last_data >= HEALTH_INTERVAL:
                self._send(protocol, "PING")  # its answer is claimed in order, unawaited
                pinged_at = now
            if pinged_at is not None and now - pinged_at >= HEALTH_INTERVAL:
                raise TimeoutError(f"no answer from Redis for {now - protocol.last_data:.0f}s")
            since = pinged_at if pinged_at is not None else protocol.last_data
            wait = max(0.05, HEALTH_INTERVAL - (now - since))
            done, _ = await asyncio.wait({protocol.lost}, timeout=wait)
            if done:
                raise ConnectionError("connection closed by Redis")

    def _down(self, exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        self.server.reset_clients()
        if self._outage is None:
            self._outage = (time.monotonic(), reason)
            logger.warning(
                "Lost the pub/sub link to Redis at %s (%s); reconnecting with backoff",
                self.server.address.display,
                reason,
            )
        attempt, self._attempt = self._attempt, self.loop.create_future()
        if not attempt.done():
            display = self.server.address.display
            attempt.set_exception(EngineError(f"cannot reach Redis at {display}: {reason}"))
            attempt.exception()  # retrieved: nobody may be waiting

    async def close(self) -> None:
        self._closed = True
        self._task.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        await asyncio.gather(self._task, return_exceptions=True)


class _Server:
    """One Redis server: its pipelined command connection (one per event loop), redis-py
    clients for what does not fit a pipeline (BLPOP, and callers in plain threads) and,
    in a process that subscribes, its pub/sub link."""

    def __init__(self, url: str) -> None:
        self.address = ServerAddress.parse(url)
        prefix = self.address.prefix
        self.meta_prefix = f"{prefix}m:"
        self.history_prefix = f"{prefix}h:"
        self.channel_prefix = f"{prefix}t:"
        self.list_prefix = f"{prefix}c:"
        self.presence_prefix = f"{prefix}p:"
        self.presence_expiry_prefix = f"{prefix}pe:"
        self._commands: _Commands | None = None
        self._client: tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis] | None = None
        self._blocking: redis.Redis | None = None
        self.link: _Link | None = None
        # CLIENT SETNAME takes no spaces or quotes.
        tag = "".join(ch if ch.isalnum() or ch in ":-_" else "_" for ch in prefix)
        self.link_name = f"courant-pubsub:{tag}:{os.getpid()}"
        self.client_name = f"courant-commands:{tag}:{os.getpid()}"

    def _options(self) -> dict[str, Any]:
        # No retries: a command that may have run must not run twice (a publish would be
        # duplicated). A stale pooled connection is replaced by the pool's own check.
        return {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "retry": AsyncRetry(NoBackoff(), 0),
            # A command gets its answer within this, or fails (BLPOP waits less).
            "socket_timeout": ANSWER_TIMEOUT,
            # A connection idle this long is checked with a PING before it is used.
            "health_check_interval": 10,
        }

    def reset_clients(self) -> None:
        """Forget the pooled command connections: after the server went away they are
        all broken, and each would fail one command before being replaced."""
        commands = self._commands
        if commands is not None and commands.loop is asyncio.get_running_loop():
            commands.drop()
        self._client = None
        if self._blocking is not None:
            self._blocking.connection_pool.reset()

    def commands(self) -> _Commands:
        commands = self._commands
        if commands is None or commands.loop is not asyncio.get_running_loop():
            commands = self._commands = _Commands(self)
        return commands

    def client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            client = redis.asyncio.Redis.from_url(self.address.client_url, **self._options())
            self._client = (loop, client)
        return self._client[1]

    def blocking_client(self) -> redis.Redis:
        if self._blocking is None:
            options = self._options()
            options["retry"] = Retry(NoBackoff(), 0)
            self._blocking = redis.Redis.from_url(self.address.client_url, **options)
        return self._blocking

    def link_for(self, engine: RedisEngine) -> _Link:
        link = self.link
        if link is None or link.loop is not asyncio.get_running_loop():
            link = self.link = _Link(engine, self)
        return link

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()
            self.link = None
        if self._commands is not None:
            if self._commands.loop is asyncio.get_running_loop():
                self._commands.close()
            self._commands = None
        if self._client is not None:
            loop, client = self._client
            self._client = None
            if loop is asyncio.get_running_loop():
                await client.aclose()
        if self._blocking is not None:
            self._blocking.close()
            self._blocking = None


class RedisEngine(Engine):
    """Links processes through one or more Redis servers (see the module docstring)."""

    name = "redis"

    def __init__(self, urls: str | Sequence[str], settings: Settings | None = None) -> None:
        super().__init__(urls, settings)
        self.servers = [_Server(url) for url in self.urls]
        self.ring = HashRing([(server.address.key, server) for server in self.servers])

    def server_for(self, name: str) -> _Server:
        """The server that holds the topic or channel ``name`` (a topic's presence events
        live with the topic, so that one script changes both)."""
        if name.startswith(EVENTS_PREFIX):
            name = name[len(EVENTS_PREFIX) :]
        return self.ring.node_for(name)

    # -- running commands ---------------------------------------------------------------

    async def _script(
        self, server: _Server, name: str, keys: list[str], args: list[Any], *, retry: bool = False
    ) -> Any:
        """Run a script. With ``retry``, for scripts that may safely run twice, a broken
        connection is retried once on a new one (not for a publish, which would then
        be published twice if the first attempt ran)."""
        script = _SCRIPTS[name]
        commands = server.commands()
        for attempt in range(2 if retry else 1):
            try:
                try:
                    return await commands.call("EVALSHA", script.sha, len(keys), *keys, *args)
                except _ReplyError as exc:
                    if not str(exc).startswith("NOSCRIPT"):
                        raise
                # Not loaded yet (a new or restarted server), so it did not run.
                return await commands.call("EVAL", script.source, len(keys), *keys, *args)
            except _ReplyError as exc:
                raise self._error(server, exc) from None
            except _Lost:
                if attempt or not retry:
                    raise
        raise AssertionError("unreachable")

    def _script_blocking(self, server: _Server, name: str, keys: list[str], args: list[Any]) -> Any:
        script = _SCRIPTS[name]
        client = server.blocking_client()
        try:
            try:
                return client.evalsha(script.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                return client.eval(script.source, len(keys), *keys, *args)
        except (redis.exceptions.RedisError, OSError) as exc:
            raise self._error(server, exc) from exc

    @staticmethod
    def _error(server: _Server, exc: BaseException) -> EngineError:
        return EngineError(f"Redis at {server.address.display}: {exc}")

    def _topic_call(self, topic: str) -> tuple[_Server, list[str]]:
        server = self.server_for(topic)
        return server, [server.meta_prefix + topic, server.history_prefix + topic]

    # -- topics ---------------------------------------------------------------------------

    def _publish_args(self, server: _Server, topic: str, kind: Kind, payload: Payload) -> list[Any]:
        history = self.history.for_topic(topic)
        return [
            TOPIC_STATE_TTL,
            server.channel_prefix + topic,
            _KIND_CODES[kind],
            payload,
            history.size,
            _ttl_ms(history),
        ]

    async def publish(self, topic: str, kind: Kind, payload: Payload) -> Message:
        server, keys = self._topic_call(topic)
        args = self._publish_args(server, topic, kind, payload)
        epoch, offset = await self._script(server, "publish", keys, args)
        return Message(topic, int(offset), epoch.decode(), kind, payload)

    def publish_blocking(self, topic: str, kind: Kind, payload: Payload) -> Message:
        server, keys = self._topic_call(topic)
        args = self._publish_args(server, topic, kind, payload)
        epoch, offset = self._script_blocking(server, "publish", keys, args)
        return Message(topic, int(offset), epoch.decode(), kind, payload)

    async def subscribe(self, topic: str) -> None:
        await self.server_for(topic).link_for(self).subscribe(topic)

    # -- presence -------------------------------------------------------------------------

    def _presence_call(self, topic: str) -> tuple[_Server, list[str], list[Any]]:
        server = self.server_for(topic)
        events = events_topic(topic)
        history = self.history.for_topic(events)
        keys = [
            server.meta_prefix + events,
            server.history_prefix + events,
            server.presence_prefix + topic,
            server.presence_expiry_prefix + topic,
        ]
        args = [TOPIC_STATE_TTL, server.channel_prefix + events, history.size, _ttl_ms(history)]
        return server, keys, args

    async def presence_set(
        self, topic: str, entry_id: str, key: str, meta: str, ttl: float, limit: int
    ) -> bool:
        server, keys, args = self._presence_call(topic)
        args += [entry_id, key, meta, max(1, int(ttl * 1000)), limit]
        return bool(await self._script(server, "presence_set", keys, args))

    async def presence_remove(self, topic: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            server, keys, args = self._presence_call(topic)
            await self._script(server, "presence_remove", keys, [*args, *entry_ids], retry=True)

    async def presence_refresh(self, topic: str, entry_ids: Sequence[str], ttl: float) -> list[str]:
        if not entry_ids:
            return []
        server = self.server_for(topic)
        keys = [server.presence_prefix + topic, server.presence_expiry_prefix + topic]
        args = [max(1, int(ttl * 1000)), *entry_ids]
        missing = await self._script(server, "presence_refresh", keys, args, retry=True)
        return [entry_id.decode() for entry_id in missing]

    async def presence_reap(self, topic: str) -> int:
        server, keys, args = self._presence_call(topic)
        return int(await self._script(server, "presence_reap", keys, args, retry=True))

    async def presence_snapshot(self, topic: str) -> tuple[dict[str, Entry], Position]:
        server, keys, args = self._presence_call(topic)
        reply = await self._script(server, "presence_snapshot", keys, args, retry=True)
        position = Position(reply[0].decode(), int(reply[1]))
        entries = {}
        for index in range(2, len(reply), 2):
            key, _, meta = reply[index + 1].partition(b"\n")
            try:
                entries[reply[index].decode()] = Entry(key.decode(), _json.loads(meta))
            except ValueError:
                logger.error("Ignoring a malformed presence entry of %r", topic)
        return entries, position

    async def unsubscribe(self, topic: str) -> None:
        link = self.server_for(topic).link
        if link is not None:
            link.unsubscribe(topic)

    async def position(self, topic: str) -> Position:
        server, keys = self._topic_call(topic)
        reply = await self._script(server, "position", keys, [TOPIC_STATE_TTL], retry=True)
        epoch, offset = reply
        return Position(epoch.decode(), int(offset))

    async def recover(self, topic: str, since: Position) -> Recovery:
        server, keys = self._topic_call(topic)
        args = [TOPIC_STATE_TTL, since.epoch, since.offset, _ttl_ms(self.history.for_topic(topic))]
        reply = await self._script(server, "recover", keys, args, retry=True)
        return recovery_from_reply(topic, reply)

    async def flush(self, topic: str) -> None:
        await self.server_for(topic).link_for(self).ping()

    # -- channels -------------------------------------------------------------------------

    def _send_call(self, channel: str, payload: bytes) -> tuple[_Server, list[str], list[Any]]:
        server = self.server_for(channel)
        expiry_ms = max(1, int(self.channel_expiry * 1000))
        return server, [server.list_prefix + channel], [payload, self.channel_capacity, expiry_ms]

    def _check_sent(self, channel: str, accepted: int) -> None:
        if not accepted:
            raise ChannelFull(
                f"channel {channel!r} holds {self.channel_capacity} messages "
                "(CHANNEL_CAPACITY); is its worker running?"
            )

    async def send(self, channel: str, payload: bytes) -> None:
        server, keys, args = self._send_call(channel, payload)
        self._check_sent(channel, await self._script(server, "send", keys, args))

    def send_blocking(self, channel: str, payload: bytes) -> None:
        server, keys, args = self._send_call(channel, payload)
        self._check_sent(channel, self._script_blocking(server, "send", keys, args))

    async def receive(self, channel: str, timeout: float | None = None) -> bytes | None:
        server = self.server_for(channel)
        key = server.list_prefix + channel
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            remaining = RECEIVE_SLICE if deadline is None else deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                # BLPOP's timeout is in seconds; 0 would mean "for ever".
                popped = await server.client().blpop(
                    [key], max(0.01, min(remaining, RECEIVE_SLICE))
                )
            except (redis.exceptions.RedisError, OSError) as exc:
                raise self._error(server, exc) from exc
            if popped is None:
                continue
            entry = popped[1]
            assert isinstance(entry, bytes)
            # Expiry is the server's clock (as the send script set it), not this host's.
            try:
                seconds, micros = await server.client().time()
            except (redis.exceptions.RedisError, OSError) as exc:
                raise self._error(server, exc) from exc
            if int(entry[:15]) > seconds * 1000 + micros // 1000:
                return entry[15:]
            # Expired while nobody received it: take the next one.

    async def close(self) -> None:
        for server in self.servers:
            await server.close()

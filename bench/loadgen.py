"""The load generator: one process holding many WebSocket connections to a server.

run.py starts a few of these with the peers' Python and drives them through stdin and
stdout, one JSON object per line. The first line on stdin is the configuration::

    {"protocol": "plain" | "socketio", "client": "auto" | "picows" | "websockets",
     "size": 100, "concurrency": 50, "connect_timeout": 10}

and the process answers ``{"event": "started", "client": ...}``. Then come commands, each
answered with events:

    {"cmd": "connect", "sockets": [[url, room], ...]}
        opens these sockets as well, at most ``concurrency`` handshakes at a time
        -> {"event": "ready", "connected", "failed", "error", "seconds", "total"}
    {"cmd": "warmup", "plan": PLAN, "rate": r}
        sends warm-up frames to the rooms of the plan, r per second in all
        -> {"event": "warm"} once every socket of this process has had one
    {"cmd": "stop_warmup"}
        -> {"event": "warmup_stopped", "sent": {room: frames}}
    {"cmd": "drain_warmup", "sent": {room: frames}}
        -> {"event": "warmup_drained", "complete", "missing"} once every socket has every
           warm-up frame of its room, or none came for 2 s
    {"cmd": "expect", "round": k, "per_room": m}
        starts measured round k, in which every socket gets m frames from its room; a
        frame of another round does not count
        -> {"event": "expecting", "round": k}
        -> {"event": "done", "round": k}  once every socket has its m frames
    {"cmd": "publish", "round": k, "plan": PLAN, "per_room": m, "rate": r}
        sends round k: m frames to each room of the plan, r per second in all (run.py
        sends it once every process is expecting the round)
        -> {"event": "sent", "round": k, ...}
    {"cmd": "report"}  -> {"event": "report", ...}: the figures of the current round
    {"cmd": "quit"}    closes every socket and exits

Sockets are numbered in the order ``connect`` adds them; a room is a number (run.py
turns it into a URL). A PLAN is ``[[room, [socket, ...]], ...]``: the sockets of this
process that take turns sending to that room (and are members of it). Frame number i of
a round goes to room ``i % len(plan)``, so every room gets the same share.

A frame is ``<kind><round:3><seq:8> <monotonic_ns:20> ``, padded with ``x`` to the frame
size; kind is ``M`` (measured) or ``W`` (warm-up), seq counts per room. Latency is the
receive time minus the send time on CLOCK_MONOTONIC, which every process shares.

The client is picows (compiled) when it is installed, else websockets. Neither asks for
compression, so no server compresses.

With ``"protocol": "topics"`` the process speaks Courant's topics protocol (JSON frames
on ``/courant/``) for the ``presence`` scenario instead, with other commands: see
:class:`PresenceLoad`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

MEASURED = ord("M")
WARMUP = ord("W")
HEADER = 34  # kind (1) + round (3) + seq (8) + space + stamp (20) + space

Plan = list[tuple[int, list[int]]]
Sink = Callable[[int, bytes, int], None]  # (socket, payload, receive time in ns)


def build_frame(kind: bytes, round_number: int, seq: int, size: int) -> bytes:
    head = b"%s%03d%08d %020d " % (kind, round_number % 1000, seq, time.monotonic_ns())
    return head + b"x" * (size - len(head))


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def settle(future: asyncio.Future[None], error: str | None = None) -> None:
    if not future.done():
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(ConnectionError(error))


class Receipts:
    """One measured round's frames, as they arrive: a count per socket, and (socket, time,
    frame) kept for the report. ``all_done`` is set once every socket has ``expect``."""

    def __init__(self) -> None:
        self.expect = 0  # frames each socket gets this round
        self.counts: list[int] = []
        self.frames: list[tuple[int, int, bytes]] = []
        self.complete = 0
        self.all_done = asyncio.Event()

    def new_round(self, expect: int) -> asyncio.Event:
        """Start counting again, for ``expect`` frames per socket."""
        self.counts = [0] * len(self.counts)
        self.frames, self.complete, self.expect = [], 0, expect
        self.all_done = asyncio.Event()
        if expect == 0 or not self.counts:
            self.all_done.set()
        return self.all_done

    def keep(self, index: int, now: int, data: bytes) -> None:
        """A measured frame reached socket ``index`` at ``now``."""
        self.frames.append((index, now, data))
        count = self.counts[index] = self.counts[index] + 1
        if count == self.expect:
            self.complete += 1
            if self.complete == len(self.counts):
                self.all_done.set()


class Tally(Receipts):
    """What every socket of this process received.

    The receive path only counts and keeps (socket, time, frame): parsing, order and
    duplicate checks wait for the report, after the measured window, so the load
    generator spends as little CPU per frame as it can while the server is measured.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rooms: list[int] = []  # the room of each socket
        self.disconnected = 0  # by the server or the network, not by us
        self.closing = False
        # The measured round.
        self.round = 0
        self.tag = b"000"
        self.stale = 0  # frames of an earlier round
        # The warm-up.
        self.warm: list[int] = []  # warm-up frames received, per socket
        self.warm_count = 0  # sockets with at least one
        self.warm_target: list[int] | None = None  # per socket, once the warm-up stopped
        self.drained = 0  # sockets that got all of theirs
        self.last_warm = 0
        self.all_warm = asyncio.Event()
        self.all_drained = asyncio.Event()

    def add(self, room: int) -> int:
        self.rooms.append(room)
        self.counts.append(0)
        self.warm.append(0)
        return len(self.rooms) - 1

    def start_round(self, number: int, expect: int) -> asyncio.Event:
        self.round, self.tag, self.stale = number, b"%03d" % (number % 1000), 0
        return self.new_round(expect)

    def text(self, index: int, data: bytes, now: int) -> None:
        kind = data[0] if data else 0
        if kind == MEASURED:
            if data[1:4] != self.tag:
                self.stale += 1
                return
            self.keep(index, now, data)
        elif kind == WARMUP:
            self.last_warm = now
            got = self.warm[index] = self.warm[index] + 1
            if got == 1:
                self.warm_count += 1
                if self.warm_count == len(self.warm):
                    self.all_warm.set()
            if self.warm_target is not None and got == self.warm_target[index]:
                self.drained += 1
                if self.drained == len(self.warm):
                    self.all_drained.set()

    def expect_warmup(self, sent: dict[int, int]) -> None:
        target = [sent.get(room, 0) for room in self.rooms]
        self.drained = sum(got >= want for got, want in zip(self.warm, target, strict=True))
        self.warm_target = target
        if self.drained == len(target):
            self.all_drained.set()

    def warmup_missing(self) -> int:
        target = self.warm_target or [0] * len(self.warm)
        return sum(max(want - got, 0) for got, want in zip(self.warm, target, strict=True))

    def report(self) -> dict[str, Any]:
        expect = self.expect
        seen = [bytearray(expect) for _ in self.counts]
        last = [-1] * len(self.counts)
        latencies = array("q")
        duplicates = reordered = malformed = 0
        for index, received, data in self.frames:
            try:
                seq, sent = int(data[4:12]), int(data[13:33])
            except ValueError:
                seq, sent = -1, 0
            if not 0 <= seq < expect:
                malformed += 1
            elif seen[index][seq]:
                duplicates += 1
            else:
                seen[index][seq] = 1
                latencies.append((received - sent) // 1000)
                if seq < last[index]:
                    reordered += 1
                else:
                    last[index] = seq
        unique = [sum(socket_seen) for socket_seen in seen]
        return {
            "round": self.round,
            "sockets": len(self.counts),
            "expected": len(self.counts) * expect,
            "delivered": sum(unique),
            "duplicates": duplicates,
            "reordered": reordered,
            "malformed": malformed,
            "stale": self.stale,
            "disconnected": self.disconnected,
            "min_per_socket": min(unique, default=0),
            "cold": [index for index, got in enumerate(self.warm) if not got],
            "latencies_us": latencies.tolist(),
        }


class Connection(Protocol):
    async def send(self, payload: bytes) -> None: ...

    async def close(self) -> None: ...


Connector = Callable[[str, str, int, Sink, Tally, float], Awaitable[Connection]]


# -- picows ------------------------------------------------------------------------------


def picows_connector() -> Connector:
    """The picows client; its classes are made once, not once per connection."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    text_type = WSMsgType.TEXT
    clock = time.monotonic_ns

    class Listener(WSListener):
        def __init__(self, index: int, sink: Sink, tally: Tally) -> None:
            self.index, self.sink, self.tally = index, sink, tally

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            # No frame-type test: picows answers pings itself, and no close frame's
            # payload starts with what the sinks look for.
            self.sink(self.index, frame.get_payload_as_bytes(), clock())

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            self.tally.disconnected += not self.tally.closing

    class PicowsConnection:
        def __init__(self, transport: WSTransport) -> None:
            self.transport = transport

        async def send(self, payload: bytes) -> None:
            self.transport.send(text_type, payload)

        async def close(self) -> None:
            self.transport.disconnect()
            await self.transport.wait_disconnected()

    async def connect(
        url: str, origin: str, index: int, sink: Sink, tally: Tally, timeout: float
    ) -> Connection:
        transport, _ = await ws_connect(
            lambda: Listener(index, sink, tally),
            url,
            websocket_handshake_timeout=timeout,
            extra_headers={"Origin": origin},
            enable_auto_pong=True,
        )
        return PicowsConnection(transport)

    return connect


# -- websockets --------------------------------------------------------------------------


async def websockets_connect(
    url: str, origin: str, index: int, sink: Sink, tally: Tally, timeout: float
) -> Connection:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Origin

    socket = await connect(
        url,
        origin=Origin(origin),
        compression=None,
        max_size=None,
        ping_interval=None,
        open_timeout=timeout,
    )

    async def read() -> None:
        try:
            while True:
                data = await socket.recv(decode=False)
                sink(index, data, time.monotonic_ns())
        except ConnectionClosed:
            tally.disconnected += not tally.closing

    reader = asyncio.create_task(read())

    class WebsocketsConnection:
        async def send(self, payload: bytes) -> None:
            await socket.send(payload, text=True)

        async def close(self) -> None:
            await socket.close()
            await reader

    return WebsocketsConnection()


def choose_client(name: str) -> tuple[str, Connector]:
    if name in ("auto", "picows"):
        try:
            return "picows", picows_connector()
        except ImportError:
            if name == "picows":
                raise
    return "websockets", websockets_connect


# -- Socket.IO ---------------------------------------------------------------------------

EVENT_PREFIX = b'42["msg","'
EVENT_SUFFIX = b'"]'


class SocketIOSession:
    """Socket.IO 5 on Engine.IO 4 over a WebSocket, as much of it as the benchmark needs.

    The server opens with ``0{...}``; the client joins the default namespace with ``40``
    and the server confirms with ``40{...}``. The server pings with ``2`` and the client
    answers ``3``. An event is ``42["msg","<frame>"]``: a frame is ASCII with no quote or
    backslash, so its JSON string is the frame itself, and the envelope is cut off by
    position.
    """

    def __init__(self, tally: Tally) -> None:
        loop = asyncio.get_running_loop()
        self.tally = tally
        self.opened: asyncio.Future[None] = loop.create_future()
        self.joined: asyncio.Future[None] = loop.create_future()
        self.connection: Connection | None = None
        self.replies: set[asyncio.Task[None]] = set()

    def text(self, index: int, data: bytes, now: int) -> None:
        if data.startswith(EVENT_PREFIX):
            self.tally.text(index, data[len(EVENT_PREFIX) : -len(EVENT_SUFFIX)], now)
        elif data == b"2" and self.connection is not None:
            task = asyncio.ensure_future(self.connection.send(b"3"))
            self.replies.add(task)
            task.add_done_callback(self.replies.discard)
        elif data.startswith(b"40"):
            settle(self.joined)
        elif data.startswith(b"44"):
            settle(self.joined, f"the server refused the namespace: {data[:200]!r}")
        elif data.startswith(b"0"):
            settle(self.opened)

    async def join(self, connection: Connection) -> Connection:
        self.connection = connection
        await self.opened
        await connection.send(b"40")
        await self.joined
        return SocketIOConnection(connection)


class SocketIOConnection:
    def __init__(self, inner: Connection) -> None:
        self.inner = inner

    async def send(self, payload: bytes) -> None:
        await self.inner.send(EVENT_PREFIX + payload + EVENT_SUFFIX)

    async def close(self) -> None:
        await self.inner.close()


# -- the process -------------------------------------------------------------------------


class Driven:
    """What both loads share: tasks started by commands, and the loop that reads the
    commands (one JSON line each on stdin) until ``quit`` or end of input, then cancels
    the tasks and closes the connections."""

    connections: list[Any]
    tally: Tally

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def handle(self, command: str, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def serve(self, commands: asyncio.StreamReader) -> None:
        while True:
            line = await commands.readline()
            if not line:
                break  # run.py is gone
            message = json.loads(line)
            if message["cmd"] == "quit":
                break
            await self.handle(message["cmd"], message)
        for task in list(self.tasks):
            task.cancel()
        await self.close_all()

    async def close_all(self) -> None:
        self.tally.closing = True
        closing = [asyncio.ensure_future(conn.close()) for conn in self.connections if conn]
        if closing:
            await asyncio.wait(closing, timeout=5)


class LoadGenerator(Driven):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.protocol: str = config["protocol"]
        self.size: int = config["size"]
        self.gate = asyncio.Semaphore(config["concurrency"])
        self.connect_timeout: float = config["connect_timeout"]
        self.client, self.connector = choose_client(config["client"])
        self.tally = Tally()
        self.connections: list[Connection | None] = []
        self.warmup_task: asyncio.Task[None] | None = None
        self.warmup_sent: dict[int, int] = {}
        self.warmup_stop = asyncio.Event()

    async def open(self, index: int, url: str) -> Connection:
        parts = urlsplit(url)
        origin = f"http://{parts.netloc}"
        if self.protocol == "socketio":
            session = SocketIOSession(self.tally)
            inner = await self.connector(
                url, origin, index, session.text, self.tally, self.connect_timeout
            )
            return await session.join(inner)
        return await self.connector(
            url, origin, index, self.tally.text, self.tally, self.connect_timeout
        )

    async def connect(self, sockets: list[tuple[str, int]]) -> None:
        started = time.monotonic()
        errors: list[str] = []
        indexes = [self.tally.add(room) for _, room in sockets]
        self.connections.extend([None] * len(sockets))

        async def one(index: int, url: str) -> None:
            async with self.gate:
                try:
                    self.connections[index] = await asyncio.wait_for(
                        self.open(index, url), self.connect_timeout + 1
                    )
                except Exception as exc:
                    errors.append(f"{url}: {type(exc).__name__}: {exc}")

        # One socket first: a server that cannot take connections fails in seconds,
        # not after every socket has timed out in turn.
        pairs = list(zip(indexes, (url for url, _ in sockets), strict=True))
        if pairs:
            await one(*pairs[0])
        if not errors:
            await asyncio.gather(*(one(index, url) for index, url in pairs[1:]))
        connected = sum(self.connections[index] is not None for index in indexes)
        emit(
            "ready",
            connected=connected,
            failed=len(sockets) - connected,
            error=errors[0] if errors else None,
            seconds=round(time.monotonic() - started, 4),
            total=sum(conn is not None for conn in self.connections),
        )

    async def send(self, socket: int, frame: bytes) -> None:
        connection = self.connections[socket]
        if connection is not None:
            await connection.send(frame)

    async def announce(self, event: asyncio.Event, name: str, **fields: Any) -> None:
        await event.wait()
        emit(name, **fields)

    async def warmup(self, plan: Plan, rate: float) -> None:
        interval, deadline = 1 / rate, time.monotonic() + 120  # run.py stops it long before
        number = 0
        while plan and time.monotonic() < deadline:
            room, senders = plan[number % len(plan)]
            seq = number // len(plan)
            await self.send(senders[seq % len(senders)], build_frame(b"W", 0, seq, self.size))
            self.warmup_sent[room] = self.warmup_sent.get(room, 0) + 1
            number += 1
            # At least three frames, and one to every room, before it stops.
            if self.warmup_stop.is_set() and number >= max(3, len(plan)):
                return
            await asyncio.sleep(interval)

    async def drain_warmup(self, sent: dict[int, int]) -> None:
        tally = self.tally
        tally.expect_warmup(sent)
        for _ in range(120):  # at most 60 s
            try:
                await asyncio.wait_for(tally.all_drained.wait(), 0.5)
            except TimeoutError:
                if time.monotonic_ns() - tally.last_warm > 2e9:
                    break  # nothing came for 2 s: frames were lost, not late
            else:
                break
        emit(
            "warmup_drained",
            complete=tally.all_drained.is_set(),
            missing=tally.warmup_missing(),
        )

    async def publish(self, round_number: int, plan: Plan, per_room: int, rate: float) -> None:
        total = len(plan) * per_room
        interval = 1e9 / rate
        start = time.monotonic_ns()
        max_lag = 0
        for number in range(total):
            target = start + int(number * interval)
            # Yield even when behind: the sockets of this process must go on reading.
            await asyncio.sleep(max(target - time.monotonic_ns(), 0) / 1e9)
            max_lag = max(max_lag, time.monotonic_ns() - target)
            _, senders = plan[number % len(plan)]
            seq = number // len(plan)
            await self.send(
                senders[seq % len(senders)], build_frame(b"M", round_number, seq, self.size)
            )
        emit(
            "sent",
            round=round_number,
            count=total,
            seconds=round((time.monotonic_ns() - start) / 1e9, 4),
            max_lag_ms=round(max_lag / 1e6, 3),
        )

    async def handle(self, command: str, message: dict[str, Any]) -> None:
        if command == "connect":
            self.spawn(self.connect([(url, room) for url, room in message["sockets"]]))
        elif command == "warmup":
            if not self.tally.rooms:
                self.tally.all_warm.set()  # no socket here to wait for
            self.spawn(self.announce(self.tally.all_warm, "warm"))
            if message["plan"]:
                self.warmup_task = asyncio.ensure_future(
                    self.warmup(message["plan"], message["rate"])
                )
        elif command == "stop_warmup":
            if self.warmup_task is not None:
                self.warmup_stop.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.warmup_task), 10)
                self.warmup_task.cancel()
            emit("warmup_stopped", sent=self.warmup_sent)
        elif command == "drain_warmup":
            sent = {int(room): count for room, count in message["sent"].items()}
            self.spawn(self.drain_warmup(sent))
        elif command == "expect":
            number = int(message["round"])
            done = self.tally.start_round(number, int(message["per_room"]))
            self.spawn(self.announce(done, "done", round=number))
            emit("expecting", round=number)
        elif command == "publish":
            self.spawn(
                self.publish(
                    int(message["round"]),
                    message["plan"],
                    int(message["per_room"]),
                    message["rate"],
                )
            )
        elif command == "report":
            emit("report", **self.tally.report())


# -- presence (Courant's topics protocol) ------------------------------------------------

#: How a Courant server starts the frames this process tells apart while it is measured:
#: compact JSON (orjson), ``type`` first. Anything else is parsed, outside the window.
SUBSCRIBED = b'{"type":"subscribed",'
REPLY = b'{"type":"reply",'
STATE = b'{"type":"presence",'
NOT_YET = 1 << 62  # a watcher's frame count never reaches it: no round is being awaited


class Churner:
    """One churn client: it connects, subscribes with presence, stays, and leaves."""

    __slots__ = ("closed", "joined_ns", "sent_ns", "state_bytes", "subscribed")

    def __init__(self, subscribed: asyncio.Future[None]) -> None:
        self.subscribed = subscribed
        self.sent_ns = 0  # when it sent its subscribe
        self.joined_ns = 0  # when its `subscribed` came
        self.state_bytes = 0  # the `presence` frame it received (the whole state)
        self.closed = False


class PresenceLoad(Driven, Receipts):
    """Presence churn over Courant's topics endpoint, for the ``presence`` scenario.

    Commands (one JSON line each, as for :class:`LoadGenerator`):

        {"cmd": "watch", "urls": [url, ...], "subscribe": FRAME}
            opens these watchers; each sends FRAME (a subscribe with presence) and is
            ready once the whole presence arrived
            -> {"event": "watching", "connected", "failed", "error", "seconds"}
        {"cmd": "settle", "members": n, "timeout": s}
            -> {"event": "settled", "complete", "min", "max"} once every watcher counts n
               members (its `presence` frame, plus the joins, less the leaves since)
        {"cmd": "probe", "url": url, "subscribe": FRAME}
            one more client subscribes (FRAME asks no presence), keeps the whole presence
            it receives, and leaves
            -> {"event": "probed", "bytes", "members", "error"}
        {"cmd": "measure", "round": k}
            from now on the watchers only keep what they receive (arrival time, bytes)
            -> {"event": "measuring", "round": k}
        {"cmd": "churn", "round": k, "start_ns": t, "plan": [[offset_s, url], ...],
         "hold": h, "subscribe": FRAME}
            churn client i connects at t + offset_i (CLOCK_MONOTONIC), sends FRAME (a
            subscribe with presence), waits for `subscribed`, and disconnects h seconds
            after it started
            -> {"event": "churned", "round": k, "joined", "left", "failed", ...}
        {"cmd": "await_diffs", "round": k, "expect": n, "timeout": s}
            -> {"event": "diffs_done", "round": k, "complete", "last_ns"} once every
               watcher has n frames, or nothing came for 2 s, or s seconds passed
        {"cmd": "report"}  -> {"event": "report", ...}: what each watcher received
        {"cmd": "quit"}

    While measured, the receive path of a watcher only counts and keeps (watcher, time,
    frame), and that of a churn client compares a few bytes: the JSON is parsed for the
    report, after the window.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        Driven.__init__(self)
        Receipts.__init__(self)
        self.gate = asyncio.Semaphore(config["concurrency"])
        self.connect_timeout: float = config["connect_timeout"]
        self.client, self.connector = choose_client(config["client"])
        self.tally = Tally()  # counts the watchers that the server dropped
        self.churn_tally = Tally()  # churn clients: each leaves on purpose
        self.churn_tally.closing = True
        self.connections: list[Connection] = []
        # The watchers, by number.
        self.ready: list[asyncio.Future[None]] = []
        self.members: list[int] = []
        # The measured round.
        self.round = 0
        self.measuring = False
        self.expect = NOT_YET
        self.churners: list[Churner] = []

    # -- receiving ------------------------------------------------------------------------

    def watcher_frame(self, index: int, data: bytes, now: int) -> None:
        if self.measuring:
            self.keep(index, now, data)
            return
        try:
            frame = json.loads(data)
        except ValueError:
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        if kind == "presence_diff":
            self.members[index] += len(frame.get("joins") or ()) - len(frame.get("leaves") or ())
        elif kind == "presence":
            self.members[index] = len(frame["members"])
            settle(self.ready[index])
        elif kind == "reply" and not frame.get("ok"):
            settle(self.ready[index], f"the subscribe was refused: {frame.get('error')}")

    def churner_frame(self, index: int, data: bytes, now: int) -> None:
        churner = self.churners[index]
        if churner.joined_ns:
            if not churner.state_bytes and data.startswith(STATE):
                churner.state_bytes = len(data)
        elif data.startswith(SUBSCRIBED):
            churner.joined_ns = now
            settle(churner.subscribed)
        elif data.startswith(REPLY):
            settle(churner.subscribed, f"the subscribe was refused: {data[:300]!r}")

    # -- the watchers ---------------------------------------------------------------------

    async def watch(self, urls: list[str], subscribe: bytes) -> None:
        started = time.monotonic()
        errors: list[str] = []
        loop = asyncio.get_running_loop()
        first = len(self.ready)
        for _ in urls:
            self.ready.append(loop.create_future())
            self.members.append(0)
            self.counts.append(0)

        async def one(index: int, url: str) -> None:
            async with self.gate:
                try:
                    connection = await self.connector(
                        url, origin_of(url), index, self.watcher_frame, self.tally,
                        self.connect_timeout,
                    )  # fmt: skip
                    self.connections.append(connection)
                    await connection.send(subscribe)
                    await asyncio.wait_for(asyncio.shield(self.ready[index]), self.connect_timeout)
                except Exception as exc:
                    errors.append(f"{url}: {type(exc).__name__}: {exc}")

        pairs = [(first + number, url) for number, url in enumerate(urls)]
        if pairs:
            await one(*pairs[0])  # a server that refuses fails in seconds
        if not errors:
            await asyncio.gather(*(one(index, url) for index, url in pairs[1:]))
        connected = sum(succeeded(future) for future in self.ready[first:])
        emit(
            "watching",
            connected=connected,
            failed=len(urls) - connected,
            error=errors[0] if errors else None,
            seconds=round(time.monotonic() - started, 4),
        )

    async def settle_members(self, members: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(count == members for count in self.members):
                break
            await asyncio.sleep(0.1)
        emit(
            "settled",
            complete=all(count == members for count in self.members),
            min=min(self.members, default=0),
            max=max(self.members, default=0),
        )

    async def probe(self, url: str, subscribe: bytes) -> None:
        """One client subscribes without presence and keeps the whole presence it gets."""
        got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        def frame(index: int, data: bytes, now: int) -> None:
            if not got.done() and (data.startswith((STATE, REPLY))):
                got.set_result(data)

        error = None
        data = b""
        try:
            connection = await self.connector(
                url, origin_of(url), 0, frame, self.churn_tally, self.connect_timeout
            )
            await connection.send(subscribe)
            data = await asyncio.wait_for(got, self.connect_timeout)
            await connection.close()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        members = None
        if data.startswith(STATE):
            members = len(json.loads(data)["members"])
        elif data:
            error = data[:300].decode(errors="replace")
        emit("probed", bytes=len(data) if members is not None else None, members=members,
             error=error)  # fmt: skip

    # -- the measured round ---------------------------------------------------------------

    def measure(self, number: int) -> None:
        self.round, self.measuring = number, True
        self.new_round(NOT_YET)
        self.churners = []

    async def churn(
        self, number: int, start_ns: int, plan: list[tuple[float, str]], hold: float,
        subscribe: bytes,
    ) -> None:  # fmt: skip
        loop = asyncio.get_running_loop()
        errors: list[str] = []
        lags: list[int] = []
        left = 0

        async def one(offset: float, url: str) -> None:
            nonlocal left
            index = len(self.churners)
            churner = Churner(loop.create_future())
            self.churners.append(churner)
            due = start_ns + int(offset * 1e9)
            await asyncio.sleep(max(due - time.monotonic_ns(), 0) / 1e9)
            lags.append(time.monotonic_ns() - due)
            connection = None
            try:
                connection = await self.connector(
                    url, origin_of(url), index, self.churner_frame, self.churn_tally,
                    self.connect_timeout,
                )  # fmt: skip
                churner.sent_ns = time.monotonic_ns()
                await connection.send(subscribe)
                await asyncio.wait_for(asyncio.shield(churner.subscribed), self.connect_timeout)
                await asyncio.sleep(max(due + int(hold * 1e9) - time.monotonic_ns(), 0) / 1e9)
            except Exception as exc:
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
            if connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)
                    churner.closed = True
                    left += churner.joined_ns > 0

        started = time.monotonic_ns()
        await asyncio.gather(*(one(offset, url) for offset, url in plan))
        joined = [c for c in self.churners if c.joined_ns]
        emit(
            "churned",
            round=number,
            planned=len(plan),
            joined=len(joined),
            left=left,
            failed=len(plan) - len(joined),
            error=errors[0] if errors else None,
            seconds=round((time.monotonic_ns() - started) / 1e9, 4),
            max_lag_ms=round(max(lags, default=0) / 1e6, 3),
            subscribed_us=[(c.joined_ns - c.sent_ns) // 1000 for c in joined],
            state_bytes=[c.state_bytes for c in joined if c.state_bytes],
        )

    async def await_diffs(self, number: int, expect: int, timeout: float) -> None:
        self.expect = expect
        self.complete = sum(count >= expect for count in self.counts)
        if self.complete == len(self.counts):
            self.all_done.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.all_done.is_set():
            try:
                await asyncio.wait_for(self.all_done.wait(), 0.5)
            except TimeoutError:
                last = self.frames[-1][1] if self.frames else 0
                if time.monotonic_ns() - last > 2e9:
                    break  # nothing came for 2 s: what is missing was lost, not late
        emit(
            "diffs_done",
            round=number,
            complete=self.all_done.is_set(),
            last_ns=self.frames[-1][1] if self.frames else None,
        )

    def report(self) -> dict[str, Any]:
        """Every watcher's diffs, parsed: which members joined and left, how many frames,
        how large, and when each change reached this process's first and last watcher."""
        watchers = len(self.counts)
        joins: list[set[str]] = [set() for _ in range(watchers)]
        leaves: list[set[str]] = [set() for _ in range(watchers)]
        reach: dict[str, list[int]] = {}  # "+key" / "-key" -> [first, last] arrival
        join_bytes: dict[int, int] = {}
        leave_bytes: dict[int, int] = {}
        duplicates = bundled = other = updates = diff_bytes = 0
        for index, now, data in self.frames:
            try:
                frame = json.loads(data)
            except ValueError:
                frame = None
            if not isinstance(frame, dict) or frame.get("type") != "presence_diff":
                other += 1
                continue
            diff_bytes += len(data)
            joined, gone = frame.get("joins") or {}, frame.get("leaves") or {}
            updates += len(frame.get("updates") or ())
            if len(joined) + len(gone) + len(frame.get("updates") or ()) != 1:
                bundled += 1  # more than one change in one frame
            elif joined:
                join_bytes[len(data)] = join_bytes.get(len(data), 0) + 1
            elif gone:
                leave_bytes[len(data)] = leave_bytes.get(len(data), 0) + 1
            for sign, keys, seen in (("+", joined, joins[index]), ("-", gone, leaves[index])):
                for key in keys:
                    if key in seen:
                        duplicates += 1
                        continue
                    seen.add(key)
                    span = reach.get(sign + key)
                    if span is None:
                        reach[sign + key] = [now, now]
                    else:
                        span[0], span[1] = min(span[0], now), max(span[1], now)
        return {
            "round": self.round,
            "watchers": watchers,
            "frames": len(self.frames),
            "diff_bytes": diff_bytes,
            "min_frames": min(self.counts, default=0),
            "max_frames": max(self.counts, default=0),
            "joins": [len(seen) for seen in joins],
            "leaves": [len(seen) for seen in leaves],
            "reach": reach,
            "join_bytes": join_bytes,
            "leave_bytes": leave_bytes,
            "duplicates": duplicates,
            "bundled": bundled,
            "updates": updates,
            "other": other,
            "disconnected": self.tally.disconnected,
        }

    # -- commands -------------------------------------------------------------------------

    async def handle(self, command: str, message: dict[str, Any]) -> None:
        if command == "watch":
            self.spawn(self.watch(message["urls"], message["subscribe"].encode()))
        elif command == "settle":
            self.spawn(self.settle_members(int(message["members"]), message["timeout"]))
        elif command == "probe":
            self.spawn(self.probe(message["url"], message["subscribe"].encode()))
        elif command == "measure":
            self.measure(int(message["round"]))
            emit("measuring", round=self.round)
        elif command == "churn":
            plan = [(float(offset), url) for offset, url in message["plan"]]
            self.spawn(
                self.churn(
                    int(message["round"]),
                    int(message["start_ns"]),
                    plan,
                    float(message["hold"]),
                    message["subscribe"].encode(),
                )
            )
        elif command == "await_diffs":
            self.spawn(
                self.await_diffs(int(message["round"]), int(message["expect"]), message["timeout"])
            )
        elif command == "report":
            emit("report", **self.report())


def succeeded(future: asyncio.Future[None]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def origin_of(url: str) -> str:
    return f"http://{urlsplit(url).netloc}"


async def run(lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    # Whatever happens, this process ends by itself within its lifetime.
    loop.call_later(lifetime, os._exit, 3)
    commands = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    config = json.loads(await commands.readline())
    generator: LoadGenerator | PresenceLoad
    if config["protocol"] == "topics":
        generator = PresenceLoad(config)
    else:
        if config["size"] < HEADER:
            raise SystemExit(f"frames must be at least {HEADER} bytes")
        generator = LoadGenerator(config)
    emit("started", client=generator.client)
    await generator.serve(commands)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lifetime", type=float, default=900, help="hard limit, seconds")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args.lifetime))
    else:
        uvloop.run(run(args.lifetime))


if __name__ == "__main__":
    main()

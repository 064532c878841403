"""The load generator: one process holding many WebSocket connections to the servers.

run.py starts one or more of these with the peers' Python and drives them with one JSON
command per line on stdin; each answers with one JSON event per line on stdout:

    (connects every URL)                -> {"event": "ready", ...}
    {"cmd": "warmup"}      (publisher)  sends warm-up frames at the offered rate (10/s
                                        at most)
                                        -> {"event": "warm"} once each socket got one
    {"cmd": "stop_warmup"} (publisher)  stops after 3 frames at least
                                        -> {"event": "warmup_stopped", "sent": N}
    {"cmd": "drain_warmup", "count": N} -> {"event": "warmup_drained", ...} once each
                                        socket got all N (or none came for 2 s), so no
                                        warm-up backlog runs into the measured window
    {"cmd": "go"}          (publisher)  sends the measured frames at the offered rate
                                        -> {"event": "sent", ...}
                                        -> {"event": "done"} once each socket got them all
    {"cmd": "report"}                   -> {"event": "report", ...}
    {"cmd": "quit"}                     closes the sockets and exits

The first URL of the publishing process is the publisher's own socket: it is one of the
subscribers too, and counts its own frames as they come back.

A frame is ``<kind><seq:8> <monotonic_ns:20> `` padded with ``x`` to the frame size;
kind is ``M`` (measured) or ``W`` (warm-up). Latency is the receive time minus the send
time on CLOCK_MONOTONIC, which every process on the machine shares.

The client is picows (compiled) when it is installed, else websockets. Neither asks for
compression, so no server compresses.
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
HEADER = 31  # kind (1) + seq (8) + space + stamp (20) + space


def build_frame(kind: bytes, seq: int, size: int) -> bytes:
    head = b"%s%08d %020d " % (kind, seq, time.monotonic_ns())
    return head + b"x" * (size - len(head))


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class Tally:
    """What every socket of this process received.

    The receive path only counts and keeps (socket, time, frame): parsing, order and
    duplicate checks wait for the report, after the measured window, so the load
    generator spends as little CPU per frame as it can while the servers are measured.
    """

    def __init__(self, sockets: int, messages: int) -> None:
        self.sockets = sockets
        self.messages = messages
        self.counts = [0] * sockets
        self.frames: list[tuple[int, int, bytes]] = []
        self.complete = 0
        self.warm = [0] * sockets  # warm-up frames received, per socket
        self.warm_count = 0  # sockets with at least one
        self.warm_target = 0  # warm-up frames sent, once the warm-up has stopped
        self.drained = 0  # sockets that got all of them
        self.last_warm = 0
        self.disconnected = 0  # by the server or the network, not by us
        self.closing = False
        self.all_warm = asyncio.Event()
        self.all_drained = asyncio.Event()
        self.all_done = asyncio.Event()

    def text(self, index: int, data: bytes, now: int) -> None:
        kind = data[0] if data else 0
        if kind == MEASURED:
            self.frames.append((index, now, data))
            count = self.counts[index] = self.counts[index] + 1
            if count == self.messages:
                self.complete += 1
                if self.complete == self.sockets:
                    self.all_done.set()
        elif kind == WARMUP:
            self.last_warm = now
            got = self.warm[index] = self.warm[index] + 1
            if got == 1:
                self.warm_count += 1
                if self.warm_count == self.sockets:
                    self.all_warm.set()
            if got == self.warm_target:
                self.drained += 1
                if self.drained == self.sockets:
                    self.all_drained.set()

    def expect_warmup(self, count: int) -> None:
        self.warm_target = count
        self.drained = sum(got >= count for got in self.warm)
        if self.drained == self.sockets:
            self.all_drained.set()

    def report(self) -> dict[str, Any]:
        seen = [bytearray(self.messages) for _ in range(self.sockets)]
        last = [-1] * self.sockets
        latencies = array("q")
        duplicates = reordered = malformed = 0
        for index, received, data in self.frames:
            try:
                seq, sent = int(data[1:9]), int(data[10:30])
            except ValueError:
                seq, sent = -1, 0
            if not 0 <= seq < self.messages:
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
            "sockets": self.sockets,
            "expected": self.sockets * self.messages,
            "delivered": sum(unique),
            "duplicates": duplicates,
            "reordered": reordered,
            "malformed": malformed,
            "disconnected": self.disconnected,
            "min_per_socket": min(unique, default=0),
            "warm": self.warm_count,
            "cold": [index for index, got in enumerate(self.warm) if not got],
            "latencies_us": latencies.tolist(),
        }


class Connection(Protocol):
    async def send(self, payload: bytes) -> None: ...

    async def close(self) -> None: ...


Connector = Callable[[str, str, int, Tally, float], Awaitable[Connection]]


# -- picows ------------------------------------------------------------------------------


async def picows_connect(
    url: str, origin: str, index: int, tally: Tally, timeout: float
) -> Connection:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    text_type = WSMsgType.TEXT
    clock = time.monotonic_ns

    class Listener(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            # No frame-type test: picows answers pings itself, and no close frame's
            # payload starts with the "M" or "W" that Tally.text looks for.
            tally.text(index, frame.get_payload_as_bytes(), clock())

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            tally.disconnected += not tally.closing

    transport, _ = await ws_connect(
        Listener,
        url,
        websocket_handshake_timeout=timeout,
        extra_headers={"Origin": origin},
        enable_auto_pong=True,
    )

    class PicowsConnection:
        async def send(self, payload: bytes) -> None:
            transport.send(text_type, payload)

        async def close(self) -> None:
            transport.disconnect()
            await transport.wait_disconnected()

    return PicowsConnection()


# -- websockets --------------------------------------------------------------------------


async def websockets_connect(
    url: str, origin: str, index: int, tally: Tally, timeout: float
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
                tally.text(index, data, time.monotonic_ns())
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
            import picows  # noqa: F401
        except ImportError:
            if name == "picows":
                raise
        else:
            return "picows", picows_connect
    return "websockets", websockets_connect


# -- the process -------------------------------------------------------------------------


class LoadGenerator:
    def __init__(self, config: dict[str, Any]) -> None:
        self.urls: list[str] = config["urls"]
        self.publisher: bool = config["publisher"]
        self.messages: int = config["messages"]
        self.rate: float = config["rate"]
        self.size: int = config["size"]
        self.concurrency: int = config["connect_concurrency"]
        self.connect_timeout: float = config["connect_timeout"]
        self.client, self.connector = choose_client(config["client"])
        self.tally = Tally(len(self.urls), self.messages)
        self.connections: list[Connection] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.warmup_task: asyncio.Task[None] | None = None
        self.warmup_sent = 0
        self.warmup_stop = asyncio.Event()

    async def connect_all(self) -> None:
        started = time.monotonic()
        gate = asyncio.Semaphore(self.concurrency)
        errors: list[str] = []

        async def one(index: int, url: str) -> Connection | None:
            parts = urlsplit(url)
            origin = f"http://{parts.netloc}"
            async with gate:
                try:
                    return await asyncio.wait_for(
                        self.connector(url, origin, index, self.tally, self.connect_timeout),
                        self.connect_timeout + 1,
                    )
                except Exception as exc:
                    errors.append(f"{url}: {type(exc).__name__}: {exc}")
                    return None

        # One socket first: a server that cannot take connections fails in seconds,
        # not after every socket has timed out in turn.
        first = await one(0, self.urls[0]) if self.urls else None
        if first is not None:
            rest = await asyncio.gather(*(one(i, url) for i, url in enumerate(self.urls) if i))
            self.connections = [first, *(conn for conn in rest if conn is not None)]
        emit(
            "ready",
            client=self.client,
            connected=len(self.connections),
            failed=len(self.urls) - len(self.connections),
            error=errors[0] if errors else None,
            seconds=round(time.monotonic() - started, 3),
        )

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def announce_warm(self) -> None:
        await self.tally.all_warm.wait()
        emit("warm")

    async def announce_done(self) -> None:
        await self.tally.all_done.wait()
        emit("done")

    async def warmup(self) -> None:
        interval = 1 / min(self.rate, 10.0)
        for seq in range(600):  # bounded; run.py stops it long before
            await self.connections[0].send(build_frame(b"W", seq, self.size))
            self.warmup_sent += 1
            if self.warmup_stop.is_set() and self.warmup_sent >= 3:
                return
            await asyncio.sleep(interval)

    async def drain_warmup(self, count: int) -> None:
        tally = self.tally
        tally.expect_warmup(count)
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
            missing=count * tally.sockets - sum(min(got, count) for got in tally.warm),
        )

    async def publish(self) -> None:
        publisher = self.connections[0]
        interval = 1e9 / self.rate
        start = time.monotonic_ns()
        max_lag = 0
        for seq in range(self.messages):
            target = start + int(seq * interval)
            delay = target - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            max_lag = max(max_lag, time.monotonic_ns() - target)
            await publisher.send(build_frame(b"M", seq, self.size))
        emit(
            "sent",
            count=self.messages,
            seconds=round((time.monotonic_ns() - start) / 1e9, 3),
            max_lag_ms=round(max_lag / 1e6, 3),
        )

    async def close_all(self) -> None:
        self.tally.closing = True
        closing = [conn.close() for conn in self.connections]
        if closing:
            await asyncio.wait([asyncio.ensure_future(coro) for coro in closing], timeout=5)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        commands = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
        await self.connect_all()
        self.spawn(self.announce_warm())
        self.spawn(self.announce_done())
        while True:
            line = await commands.readline()
            if not line:
                break  # run.py is gone
            message = json.loads(line)
            command = message["cmd"]
            if command == "warmup" and self.publisher and self.connections:
                self.warmup_task = asyncio.ensure_future(self.warmup())
            elif command == "stop_warmup" and self.warmup_task is not None:
                self.warmup_stop.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.warmup_task), 10)
                self.warmup_task.cancel()
                emit("warmup_stopped", sent=self.warmup_sent)
            elif command == "drain_warmup":
                self.spawn(self.drain_warmup(int(message["count"])))
            elif command == "go" and self.publisher and self.connections:
                self.spawn(self.publish())
            elif command == "report":
                emit("report", client=self.client, **self.tally.report())
            elif command == "quit":
                break
        for task in list(self.tasks):
            task.cancel()
        await self.close_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("config", help="JSON: urls, publisher, messages, rate, size, ...")
    parser.add_argument("--lifetime", type=float, default=900, help="hard limit, seconds")
    args = parser.parse_args()
    config = json.loads(args.config)
    if config["size"] < HEADER:
        parser.error(f"frames must be at least {HEADER} bytes")

    async def run() -> None:
        # Whatever happens, this process ends by itself within its lifetime.
        asyncio.get_running_loop().call_later(args.lifetime, os._exit, 3)
        await LoadGenerator(config).serve()

    try:
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    main()

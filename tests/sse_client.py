"""A small HTTP/1.1 client for the SSE and long-poll transports, on asyncio streams.

It reads the event stream format as the HTML standard says a browser does (written here
independently of courant.transports.events, so the tests check one against the other),
and nothing more: one request per TCP connection, chunked or Content-Length bodies.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .live import Server

TIMEOUT = 10.0


@dataclass
class Event:
    """One dispatched event, as ``EventSource`` reports it."""

    type: str
    data: str
    last_event_id: str

    def json(self) -> Any:
        return json.loads(self.data)


class EventReader:
    """Bytes of an event stream in, dispatched events out (WHATWG HTML, 9.2.6)."""

    def __init__(self) -> None:
        self.buffer = b""
        self.data: list[str] = []
        self.type = ""
        self.last_event_id = ""
        self.comments: list[str] = []

    def feed(self, chunk: bytes) -> list[Event]:
        self.buffer += chunk
        dispatched: list[Event] = []
        while True:
            match = re.search(rb"\r\n|\r|\n", self.buffer)
            # A lone CR at the end may be the first half of a CRLF: wait for more.
            if match is None or (match.group() == b"\r" and match.end() == len(self.buffer)):
                return dispatched
            line = self.buffer[: match.start()].decode()
            self.buffer = self.buffer[match.end() :]
            event = self._line(line)
            if event is not None:
                dispatched.append(event)

    def _line(self, line: str) -> Event | None:
        if not line:
            if not self.data:
                self.type = ""
                return None
            event = Event(self.type or "message", "\n".join(self.data), self.last_event_id)
            self.data, self.type = [], ""
            return event
        if line.startswith(":"):
            self.comments.append(line[1:].strip())
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self.data.append(value)
        elif field == "event":
            self.type = value
        elif field == "id" and "\0" not in value:
            self.last_event_id = value
        return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def events(self) -> list[Event]:
        return EventReader().feed(self.body)


async def _open(server: Server, method: str, target: str, headers: Mapping[str, str], body: bytes):
    reader, writer = await asyncio.open_connection(server.host, server.port)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {server.host}:{server.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    received: dict[str, str] = {}
    for _ in range(100):
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    return reader, writer, status, received


async def _chunks(reader: asyncio.StreamReader, headers: Mapping[str, str]):
    """Yield the body's pieces as they arrive, until it ends."""
    if headers.get("transfer-encoding") != "chunked":
        length = int(headers.get("content-length", "0"))
        if length:
            yield await reader.readexactly(length)
        return
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return
        piece = await reader.readexactly(size)
        await reader.readexactly(2)
        yield piece


async def request(
    server: Server,
    method: str,
    target: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> Response:
    """One whole request and its whole response."""
    async with asyncio.timeout(TIMEOUT + 30):
        reader, writer, status, received = await _open(server, method, target, headers or {}, body)
        try:
            pieces = [piece async for piece in _chunks(reader, received)]
        finally:
            writer.close()
    return Response(status, received, b"".join(pieces))


class Stream:
    """An open SSE stream: its events, read as they come."""

    def __init__(self, status: int, headers: dict[str, str], reader, writer) -> None:
        self.status = status
        self.headers = headers
        self._writer = writer
        self._pieces = _chunks(reader, headers)
        self._reader = EventReader()
        self._ready: list[Event] = []
        self.ended = False

    async def next(self, timeout: float = TIMEOUT) -> Event:
        """The next event; raises EOFError if the stream ends first."""
        async with asyncio.timeout(timeout):
            while not self._ready:
                try:
                    piece = await anext(self._pieces)
                except StopAsyncIteration:
                    self.ended = True
                    raise EOFError("the stream ended") from None
                self._ready += self._reader.feed(piece)
        return self._ready.pop(0)

    async def rest(self, timeout: float = TIMEOUT) -> list[Event]:
        """Every event until the stream ends."""
        events: list[Event] = []
        for _ in range(10_000):
            try:
                events.append(await self.next(timeout))
            except EOFError:
                return events
        raise AssertionError("the stream did not end")

    async def comment(self, timeout: float = TIMEOUT) -> str:
        """The next comment line (a keep-alive), skipping no event."""
        async with asyncio.timeout(timeout):
            while not self._reader.comments:
                self._ready += self._reader.feed(await anext(self._pieces))
        assert not self._ready, f"events came first: {self._ready}"
        return self._reader.comments.pop(0)

    def close(self) -> None:
        """Drop the TCP connection, as a browser tab that goes away does."""
        self._writer.close()


async def stream(server: Server, target: str, headers: Mapping[str, str] | None = None) -> Stream:
    """Open an SSE stream (``GET`` with ``Accept: text/event-stream``)."""
    async with asyncio.timeout(TIMEOUT):
        reader, writer, status, received = await _open(
            server, "GET", target, {"Accept": "text/event-stream", **(headers or {})}, b""
        )
    return Stream(status, received, reader, writer)


@dataclass
class Opened:
    """What the ``open`` event says."""

    connection: str
    secret: str

    @classmethod
    def of(cls, event: Event) -> Opened:
        assert event.type == "open", event
        data = event.json()
        return cls(data["connection"], data["secret"])

    def target(self, path: str, transport: str) -> str:
        return f"{path}?transport={transport}&connection={self.connection}"

    async def post(
        self,
        server: Server,
        path: str,
        transport: str,
        body: bytes | str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one frame (text, or bytes as a binary frame)."""
        kind = "application/octet-stream" if isinstance(body, bytes) else "text/plain"
        data = body if isinstance(body, bytes) else body.encode()
        return await request(
            server,
            "POST",
            self.target(path, transport),
            headers={"X-Courant-Secret": self.secret, "Content-Type": kind, **(headers or {})},
            body=data,
        )

    async def poll(self, server: Server, path: str) -> Response:
        return await request(
            server,
            "GET",
            self.target(path, "longpoll"),
            headers={"X-Courant-Secret": self.secret},
        )

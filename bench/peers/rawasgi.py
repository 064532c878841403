"""The ceiling: the benchmark contract as a bare ASGI application, with no framework.

Each room is a set of the ``send`` callables of its open WebSockets. A text frame from
any of them is written, as the same event, to every ``send`` of the room in turn. One
process only: nothing links processes.

Serve it with ``uvicorn rawasgi:app`` from this directory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PREFIX = "/ws/bench/"
rooms: dict[str, set[Send]] = {}


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def not_found(send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def room_of(path: str) -> str | None:
    if not path.startswith(PREFIX) or not path.endswith("/"):
        return None
    room = path[len(PREFIX) : -1]
    return room if room and "/" not in room else None


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    room = room_of(scope["path"])
    if scope["type"] != "websocket":
        await not_found(send)
        return
    if (await receive())["type"] != "websocket.connect":
        return
    if room is None:
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept"})
    members = rooms.setdefault(room, set())
    members.add(send)
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None:
                continue
            frame = {"type": "websocket.send", "text": text}
            for member in list(members):  # a copy: sockets may leave while we write
                try:
                    await member(frame)
                except Exception:  # that socket is closing; the others go on
                    members.discard(member)
    finally:
        members.discard(send)
        if not members:
            rooms.pop(room, None)

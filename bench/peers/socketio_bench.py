"""The benchmark contract on python-socketio, written the way its documentation writes a
chat room: an ``AsyncServer`` in ASGI mode, rooms, and the default in-memory manager
(one process).

A client connects to ``/socket.io/?EIO=4&transport=websocket&room=<room>`` and joins
``<room>``; every ``msg`` event it emits goes to the whole room, its sender included,
as a ``msg`` event with the same string. The Origin check is python-socketio's default
(same origin only), which the load generator passes like a browser on the same site.

Serve it with ``uvicorn socketio_bench:app`` from this directory.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import socketio

sio = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(sio)


@sio.event  # type: ignore[untyped-decorator]
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
    room = parse_qs(environ.get("QUERY_STRING", "")).get("room", [""])[0]
    if not room:
        return False  # refused: the client gets a connect error
    await sio.enter_room(sid, room)
    await sio.save_session(sid, {"room": room})
    return True


@sio.event  # type: ignore[untyped-decorator]
async def msg(sid: str, data: Any) -> None:
    session = await sio.get_session(sid)
    await sio.emit("msg", data, room=session["room"])

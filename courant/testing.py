"""Testing consumers in-process: no server, no network.

:class:`WebSocketClient` drives your ASGI application the way a server would, for one
WebSocket, inside the test's event loop. It goes through the whole stack (Origin check,
routing, session and user, your consumer, Courant's limits), so what passes here passes
on a real server::

    from courant.testing import WebSocketClient
    from mysite.asgi import application

    async def test_chat_echoes():
        async with WebSocketClient(application, "/ws/chat/lobby/", user=alice) as ws:
            await ws.send_json({"text": "hi"})
            assert (await ws.receive_json())["text"] == "hi"
            assert await ws.receive_nothing()

Consumers with sync handlers reach the database from another thread, so tests that use
them need a transactional test case (``TransactionTestCase``, or
``pytest.mark.django_db(transaction=True)``): data inside a test's open transaction is not
visible from other threads.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _json
from .types import ASGIApp, ASGIEvent

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser


class HandshakeRefused(AssertionError):
    """The application refused the connection (a real server would answer 403)."""

    def __init__(self, code: int | None) -> None:
        self.code = code
        super().__init__(f"the application refused the connection (close code {code})")


class ConnectionClosed(AssertionError):
    """A frame was expected, but the application closed the connection."""

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(
            f"the connection was closed with code {code}{': ' + reason if reason else ''}"
        )


class WebSocketClient:
    """One in-process WebSocket client of an ASGI application.

    ``headers`` are sent with the handshake (e.g. ``[(b"origin", b"https://evil.example")]``).
    ``user`` logs the connection in as that user without a session cookie; leave it out to
    exercise the real cookie path with ``headers=[(b"cookie", ...)]``.
    """

    def __init__(
        self,
        application: ASGIApp,
        path: str,
        *,
        headers: Iterable[tuple[bytes, bytes]] = (),
        user: AbstractBaseUser | AnonymousUser | None = None,
        subprotocols: Iterable[str] = (),
        query_string: bytes = b"",
        timeout: float = 2.0,
    ) -> None:
        self.application = application
        self.timeout = timeout
        self.scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query_string,
            "headers": [(b"host", b"testserver"), *headers],
            "subprotocols": list(subprotocols),
        }
        if user is not None:
            self.scope["user"] = user
            from .auth import new_session

            self.scope["session"] = new_session()
        self._to_app: asyncio.Queue[ASGIEvent] = asyncio.Queue()
        self._from_app: asyncio.Queue[ASGIEvent] = asyncio.Queue()
        self._pushed_back: deque[ASGIEvent] = deque()
        self._task: asyncio.Task[None] | None = None
        #: The close code, once the application has closed the connection.
        self.close_code: int | None = None
        #: The subprotocol the application accepted, if any.
        self.subprotocol: str | None = None

    # -- the ASGI side -------------------------------------------------------------------

    async def _receive(self) -> ASGIEvent:
        return await self._to_app.get()

    async def _send(self, event: ASGIEvent) -> None:
        await self._from_app.put(event)

    async def _next(self, timeout: float | None) -> ASGIEvent:
        if self._pushed_back:
            return self._pushed_back.popleft()
        assert self._task is not None, "connect() first"
        getter = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait(
            {getter, self._task},
            timeout=self.timeout if timeout is None else timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if getter in done:
            return getter.result()
        getter.cancel()
        if self._task in done:
            self._task.result()  # re-raise what the application raised
            raise AssertionError("the application finished without sending anything more")
        raise TimeoutError("nothing arrived from the application in time")

    # -- the client side -----------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection; raise :class:`HandshakeRefused` if the app refuses it."""

        async def serve() -> None:
            await self.application(self.scope, self._receive, self._send)

        self._task = asyncio.get_running_loop().create_task(serve())
        await self._to_app.put({"type": "websocket.connect"})
        event = await self._next(None)
        if event["type"] == "websocket.accept":
            self.subprotocol = event.get("subprotocol")
            return
        if event["type"] == "websocket.close":
            self.close_code = event.get("code", 1000)
            await self._finish()
            raise HandshakeRefused(self.close_code)
        raise AssertionError(f"expected the handshake to be accepted or refused, got {event!r}")

    async def send_text(self, text: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def send_json(self, content: Any) -> None:
        await self.send_text(_json.dumps(content))

    async def _receive_frame(self, timeout: float | None) -> ASGIEvent:
        event = await self._next(timeout)
        if event["type"] == "websocket.close":
            self.close_code = event.get("code", 1000)
            raise ConnectionClosed(self.close_code or 1000, event.get("reason") or "")
        return event

    async def _receive_field(self, field: str, timeout: float | None) -> Any:
        event = await self._receive_frame(timeout)
        value = event.get(field)
        if value is None:
            kind = "text" if field == "text" else "binary"
            raise AssertionError(f"expected a {kind} frame, got {event!r}")
        return value

    async def receive_text(self, timeout: float | None = None) -> str:
        """The next frame, which must be text."""
        return str(await self._receive_field("text", timeout))

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next frame, which must be binary."""
        return bytes(await self._receive_field("bytes", timeout))

    async def receive_json(self, timeout: float | None = None) -> Any:
        """The next frame, decoded as JSON."""
        return _json.loads(await self.receive_text(timeout))

    async def receive_close(self, timeout: float | None = None) -> int:
        """Wait for the application to close the connection; return the close code.
        Frames that arrive first are skipped."""
        while True:
            event = await self._next(timeout)
            if event["type"] == "websocket.close":
                self.close_code = int(event.get("code", 1000))
                await self._finish()
                return self.close_code

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        """True if nothing arrives within ``timeout`` seconds. Something that does arrive
        is kept for the next ``receive_*`` call."""
        try:
            event = await self._next(timeout)
        except TimeoutError:
            return True
        self._pushed_back.append(event)
        return False

    async def disconnect(self, code: int = 1000) -> None:
        """Close the connection from the client side and let the application finish."""
        if self._task is not None:
            await self._finish(code)

    async def _finish(self, code: int | None = None) -> None:
        # After a server-side close the application still waits for the disconnect, as
        # it would from a real server; send it, then let the application return.
        assert self._task is not None
        if not self._task.done():
            event = {"type": "websocket.disconnect", "code": code or self.close_code or 1000}
            await self._to_app.put(event)
            await asyncio.wait_for(asyncio.shield(self._task), self.timeout)
        self._task.result()

    async def __aenter__(self) -> WebSocketClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()


__all__ = ["ConnectionClosed", "HandshakeRefused", "WebSocketClient"]

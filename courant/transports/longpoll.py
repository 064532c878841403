"""The long-polling transport: repeated ``GET``s, each answered with the events that
arrived since the previous one, and one ``POST`` per frame from the client (:mod:`.http`
answers those).

A long-poll connection outlives the requests that carry it, so its conversation runs in
a task of its own. Its events wait for the next poll, bounded like a WebSocket's send
queue (``SEND_QUEUE_LIMIT``, past which it is closed with 4000). A poll waits up to
``LONGPOLL_TIMEOUT`` for events; a connection with no poll waiting for
``LONGPOLL_EXPIRY`` ends as if its client had left.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..closecodes import CloseCode
from ..conf import get_settings
from ..connection import OPEN
from ..hub import get_hub
from .http import OPENED, REFUSED, HTTPConnection, converse, respond, until_disconnect

if TYPE_CHECKING:
    from ..conf import Settings
    from ..consumer import Consumer
    from ..hub import Hub
    from ..types import ASGIEvent, Receive, Scope, Send

logger = logging.getLogger("courant.longpoll")

# Conversations run as tasks of their own: the loop keeps only weak references to tasks.
_running: set[asyncio.Task[None]] = set()


class LongPollConnection(HTTPConnection):
    """A connection whose events wait for the client's next poll."""

    transport = "longpoll"

    def __init__(self, *, hub: Hub, settings: Settings) -> None:
        super().__init__(self._hold, hub=hub, settings=settings)
        # The events the next poll takes, and whether the last event is among them.
        self._held: list[bytes] = []
        self._final_held = False
        self._headers: list[tuple[bytes, bytes]] = []
        # The poll waiting for events, if any.
        self._poll: asyncio.Future[None] | None = None
        self._timeout = settings.longpoll_timeout
        self._expiry_after = settings.longpoll_expiry
        self._expiry: asyncio.TimerHandle | None = None

    async def _hold(self, event: ASGIEvent) -> None:
        """Keep one event for the next poll: the connection's ``send``."""
        kind = event["type"]
        if kind == REFUSED:
            self._final_delivered()  # the opening request answers 403
            return
        if kind == OPENED:
            self._headers = event["headers"]
        elif self.state is OPEN and len(self._held) >= self._limit:
            self.overflow()
            return
        self._held.append(event["body"])
        if not event.get("more_body", True):
            self._final_held = True
        waiting = self._poll
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    def overflow(self) -> None:
        self._held.clear()  # what is waiting for the client is dropped, as on any transport
        super().overflow()

    def _take(self) -> tuple[bytes, bool]:
        """The events held (all of them), and whether the last event is among them."""
        body, final = b"".join(self._held), self._final_held
        self._held.clear()
        self._final_held = False
        return body, final

    async def _answer(self, send: Send, *, headers: list[tuple[bytes, bytes]]) -> None:
        body, final = self._take()
        await respond(
            send, 200, body, content_type=b"text/event-stream; charset=utf-8", headers=headers
        )
        if final:
            self._final_delivered()

    # -- polls and expiry ----------------------------------------------------------------

    async def poll(self, receive: Receive, send: Send) -> None:
        """Answer a poll: with the events held, or the first to arrive within
        ``LONGPOLL_TIMEOUT``; or with none, once that passes. A poll whose client leaves
        meanwhile takes nothing, and one that a newer poll replaces answers with none."""
        self._stop_expiry()
        previous = self._poll
        if previous is not None and not previous.done():
            previous.set_result(None)
        waiter = self._poll = self.loop.create_future()
        gone = self.loop.create_task(until_disconnect(receive))
        try:
            if not self._held and not self.closed:
                await asyncio.wait(
                    (waiter, gone), timeout=self._timeout, return_when=asyncio.FIRST_COMPLETED
                )
            if gone.done():
                return  # the events wait for the next poll
            if self._poll is not waiter:
                await respond(send, 200, b"", content_type=b"text/event-stream; charset=utf-8")
                return
            await self._answer(send, headers=[])
        finally:
            gone.cancel()
            if self._poll is waiter:
                self._poll = None
                self._start_expiry()

    def _start_expiry(self) -> None:
        if self._expiry is None and not self.closed:
            self._expiry = self.loop.call_later(self._expiry_after, self._expire)

    def _stop_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _expire(self) -> None:
        self._expiry = None
        logger.info(
            "Long-poll connection %s expired: no poll for %.1fs", self.id, self._expiry_after
        )
        self.end(CloseCode.GOING_AWAY)

    def finish(self, code: int) -> list[str]:
        self._stop_expiry()
        waiting = self._poll
        if waiting is not None and not waiting.done():
            waiting.set_result(None)
        return super().finish(code)

    @classmethod
    async def open(cls, consumer: Consumer, scope: Scope, receive: Receive, send: Send) -> None:
        """Open a long-poll connection: run ``connect()``, then answer with the events so
        far (403 if it was refused). The conversation goes on in a task of its own."""
        loop = asyncio.get_running_loop()
        connection = cls(hub=get_hub(), settings=get_settings())
        connected = loop.create_future()
        task = loop.create_task(converse(connection, consumer, scope, connected))
        _running.add(task)
        task.add_done_callback(_running.discard)
        await connected
        if not connection.accepted:
            await respond(send, 403, b"Forbidden")
            return
        await connection._answer(send, headers=connection._headers)
        connection._start_expiry()


__all__ = ["LongPollConnection"]

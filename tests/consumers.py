"""Consumers that exist only to test Courant's behaviour."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs

import courant
from chat.consumers import BenchConsumer
from courant import Message
from courant.history import Position


class EchoConsumer(courant.JsonConsumer):
    """Answers every JSON message with what it knows about the connection."""

    greeting = "hi"

    def receive_json(self, content: Any) -> None:  # sync on purpose: runs in a thread
        self.send_json(
            {
                "echo": content,
                "greeting": self.greeting,
                "args": list(self.args),
                "kwargs": self.kwargs,
                "user": self.user.get_username() if self.user.is_authenticated else None,
                "thread": threading.current_thread().name,
            }
        )


class WatchedConsumer(BenchConsumer):
    """The bench consumer, reporting its own end on the topic ``watch``, so a test can
    observe from outside how the server closed it."""

    async def disconnect(self, code: int) -> None:
        await courant.apublish("watch", {"room": self.kwargs["room"], "closed": code})


class BrokenConsumer(courant.Consumer):
    """Raises in the handler named by the path."""

    async def connect(self) -> None:
        if self.kwargs["where"] == "connect":
            raise RuntimeError("connect is broken")
        self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raise RuntimeError(f"receive is broken: {text_data}")


class HookConsumer(courant.JsonConsumer):
    """Handles topic messages itself: wraps each in an envelope with its offset."""

    async def connect(self) -> None:
        await self.ajoin(self.kwargs["room"])
        self.accept()

    async def receive_json(self, content: Any) -> None:
        await self.apublish(self.kwargs["room"], content)

    async def topic_message(self, message: Message) -> None:
        self.send_json({"topic": message.topic, "offset": message.offset, "data": message.data})


class SyncHookConsumer(HookConsumer):
    """The same with sync handlers, using the sync twins."""

    def connect(self) -> None:  # type: ignore[override]
        self.join(self.kwargs["room"])
        self.accept()

    def receive_json(self, content: Any) -> None:  # type: ignore[override]
        self.publish(self.kwargs["room"], content)

    def topic_message(self, message: Message) -> None:  # type: ignore[override]
        self.send_json(
            {"topic": message.topic, "offset": message.offset, "data": message.data, "sync": True}
        )


class TrackingConsumer(courant.JsonConsumer):
    """Joins topic ``track:<room>``, recovering from ``?epoch=E&offset=N`` if given, and
    reports as JSON how it joined, every message with its position, and every gap.
    What it receives it publishes to the topic."""

    @property
    def topic(self) -> str:
        return f"track:{self.kwargs['room']}"

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        since = (query["epoch"][0], int(query["offset"][0])) if "epoch" in query else None
        self.accept()
        recovery = await self.ajoin(self.topic, since)
        self.send_json({"joined": {"recovered": recovery.recovered, **recovery.position._asdict()}})

    async def receive_json(self, content: Any) -> None:
        await self.apublish(self.topic, content)

    async def topic_message(self, message: Message) -> None:
        self.send_json({"epoch": message.epoch, "offset": message.offset, "data": message.data})

    async def topic_gap(self, topic: str, position: Position) -> None:
        self.send_json({"gap": position._asdict()})


class ResumeConsumer(courant.Consumer):
    """Joins topic ``<room>`` (the bench consumer's, so a bench WebSocket can publish to
    it), where the client was if its SSE stream reconnected, as docs/transports.md shows.
    What it receives it publishes there."""

    async def connect(self) -> None:
        topic = self.kwargs["room"]
        await self.ajoin(topic, since=self.resume.get(topic))
        self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.apublish(self.kwargs["room"], text_data if text_data is not None else bytes_data)


class PresentConsumer(courant.JsonConsumer):
    """Shows its connection in the presence of ``board:<room>`` from a consumer of its
    own (no topics endpoint): a sync handler changes the meta, ``{"leave": true}`` leaves."""

    async def connect(self) -> None:
        self.accept()
        await self.atrack(f"board:{self.kwargs['room']}", {"state": "reading"})
        self.send_json("tracked")

    def receive_json(self, content: Any) -> None:
        topic = f"board:{self.kwargs['room']}"
        if content.get("leave"):
            self.untrack(topic)
        else:
            self.track(topic, {"state": content["state"]})
        self.send_json("done")


class ListenConsumer(courant.JsonConsumer):
    """Joins topic ``<topic>`` verbatim (``/ws/listen/user:7/``) and sends each message's
    data as JSON: a server-side ear on topics no client may subscribe to."""

    async def connect(self) -> None:
        self.accept()
        await self.ajoin(self.kwargs["topic"])
        self.send_json("listening")

    async def topic_message(self, message: Message) -> None:
        self.send_json(message.data)

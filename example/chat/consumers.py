"""The example's consumers."""

from __future__ import annotations

from typing import Any

import courant

from .messages import post_message, room_topic


class ChatConsumer(courant.JsonConsumer):
    """A chat room at ``/ws/chat/<room>/``.

    Only logged-in users get in. What they say is stored with the ORM (``receive_json``
    is a plain ``def``, so it runs in a worker thread) and published to the room's topic,
    which every open tab in the room has joined, so it reaches them all at once.
    """

    async def connect(self) -> None:
        if not self.user.is_authenticated:
            return  # not accepted: the handshake is refused
        await self.ajoin(room_topic(self.kwargs["room"]))
        self.accept()

    def receive_json(self, content: Any) -> None:
        text = content.get("text") if isinstance(content, dict) else None
        if not isinstance(text, str) or not text.strip():
            self.send_json({"type": "error", "error": 'expected {"text": "..."}'})
            return
        post_message(self.kwargs["room"], self.user, text)  # type: ignore[arg-type]


class BenchConsumer(courant.Consumer):
    """The benchmark contract at ``/ws/bench/<room>/``: the socket joins topic ``<room>``,
    and every text frame it sends reaches every socket there (itself included) verbatim.
    No auth, no JSON: the default ``topic_message`` forwards the published text as-is."""

    async def connect(self) -> None:
        await self.ajoin(self.kwargs["room"])
        self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.apublish(self.kwargs["room"], text_data)

"""The benchmark contract, written as the Channels documentation teaches a chat room."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class BenchConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Joins group ``bench.<room>``; every text frame goes to the whole group verbatim."""

    group: str

    async def connect(self) -> None:
        self.group = f"bench.{self.scope['url_route']['kwargs']['room']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            await self.channel_layer.group_send(
                self.group, {"type": "bench.message", "text": text_data}
            )

    async def bench_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

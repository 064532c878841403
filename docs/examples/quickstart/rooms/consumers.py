# rooms/consumers.py
import courant


class RoomConsumer(courant.JsonConsumer):
    """Everyone connected to /ws/rooms/<name>/ hears what anyone says there."""

    async def connect(self):
        self.topic = f"room:{self.kwargs['name']}"
        await self.ajoin(self.topic)
        self.accept()

    async def receive_json(self, content):
        if isinstance(content, dict) and isinstance(content.get("text"), str):
            sender = self.user.get_username() or "anonymous"
            await self.apublish(self.topic, {"from": sender, "text": content["text"]})

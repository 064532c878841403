from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class ChatMessage(models.Model):
    """One message said in a chat room."""

    room = models.SlugField(max_length=64, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.TextField(max_length=2000)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.text[:40]}"

    def as_event(self) -> dict[str, Any]:
        """What the room's subscribers receive for this message."""
        return {
            "type": "message",
            "id": self.pk,
            "author": self.author.get_username(),
            "text": self.text,
            "created": self.created.isoformat(),
        }

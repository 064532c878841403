"""Work the chat hands to worker processes (``manage.py courant_worker chat``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

import courant

from .messages import post_message


class ChatWorker(courant.Worker):
    """``{"type": "chat.post", "room": ..., "username": ..., "text": ...}`` stores and
    publishes a message in a room, as a bot, an import or a scheduled job would, from a
    process that serves no connections."""

    def chat_post(self, message: dict[str, Any]) -> None:
        author = get_user_model().objects.get(username=message["username"])
        post_message(message["room"], author, message["text"])

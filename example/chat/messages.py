"""Saying something in a room: one function shared by the WebSocket consumer and the
HTTP view, so both paths store and publish the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

import courant

from .models import ChatMessage

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_TEXT = 2000


def room_topic(room: str) -> str:
    return f"chat:{room}"


def post_message(room: str, author: User, text: str) -> ChatMessage:
    """Store ``text`` as said by ``author`` in ``room`` and publish it to the room.

    Sync code (the ORM, then ``courant.publish``): call it from a view or a sync handler.
    """
    message = ChatMessage.objects.create(room=room, author=author, text=text.strip()[:MAX_TEXT])
    courant.publish(room_topic(room), message.as_event())
    return message

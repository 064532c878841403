"""Saying something in a room: one place for the WebSocket consumer, the HTTP view and the
topic class, so every path stores, notifies and publishes the same way."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.urls import reverse

import courant
from demo.topics import display_name, notify_user

from .models import ChatMessage

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_TEXT = 2000
#: ``@bob`` in a message: bob is told, on whatever page of the site he has open.
MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")


def room_topic(room: str) -> str:
    return f"chat:{room}"


def store_message(room: str, author: User, text: str) -> ChatMessage:
    """Store ``text`` as said by ``author`` in ``room``, and notify the users it mentions
    (their ``user:<id>`` topic, demo/topics.py). Publishing it to the room is the
    caller's: :func:`post_message`, or the topic class's ``clean()`` whose return value
    the endpoint publishes. Sync code (the ORM)."""
    message = ChatMessage.objects.create(room=room, author=author, text=text.strip()[:MAX_TEXT])
    names = set(MENTION.findall(message.text))
    if names:
        mentioned = get_user_model().objects.filter(username__in=names).exclude(pk=author.pk)
        url = reverse("chat:room", args=[room])
        for user in mentioned:
            notify_user(
                user.pk, f"{display_name(author)} mentioned you in #{room}", message.text, url
            )
    return message


def post_message(room: str, author: User, text: str) -> ChatMessage:
    """Store ``text`` as said by ``author`` in ``room`` and publish it to the room.

    Sync code (the ORM, then ``courant.publish``): call it from a view or a sync handler.
    """
    message = store_message(room, author, text)
    courant.publish(room_topic(room), message.as_event())
    return message

"""The chat's topic classes and RPC methods, for pages that use ``courant.js``.

Courant imports this module at start-up (each installed app's ``topics`` module). The
room page subscribes to ``chat:<room>`` over the topics endpoint and publishes what its
user says there; ``ChatRoom.clean()`` stores the message with the ORM and publishes the
same event as the WebSocket consumer (``ChatMessage.as_event()``), so pages of both kinds
can share a room.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max

import courant

from .messages import store_message
from .models import ChatMessage


class ChatRoom(courant.Topic):
    """``chat:<room>``: logged-in users read and talk; messages are stored; the room page
    shows who is in the room, and who of them is typing (presence)."""

    pattern = "chat:{room}"
    # How much history: COURANT["HISTORY"]["chat:*"] in settings, shared with the
    # consumer's pages (a `history` here would win over it).
    presence = True

    def can_subscribe(self, user: Any, room: str) -> bool:
        return bool(user.is_authenticated)

    def can_publish(self, user: Any, room: str) -> bool:
        return bool(user.is_authenticated)

    def clean(self, user: Any, data: Any, room: str) -> dict[str, Any]:
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise courant.Reject("empty message")
        # A plain def: Courant runs it in a worker thread, so it may use the ORM.
        return store_message(room, user, text).as_event()

    def clean_presence(self, user: Any, meta: Any, room: str) -> dict[str, Any]:
        # A page is shown by its user's name (whatever it claims), and whether its user
        # is typing: the room page sets {"typing": true} while its user types, and
        # {"typing": false} after a few seconds without a key, or once the message is sent.
        typing = meta.get("typing", False) if isinstance(meta, dict) else False
        if not isinstance(typing, bool):
            raise courant.Reject("typing is true or false")
        return {"name": user.get_username(), "typing": typing}


class StaffTopic(courant.Topic):
    """``admin:<name>``: for staff only. The room page subscribes to
    ``admin:announcements`` to show what a refused subscription looks like."""

    pattern = "admin:{name}"

    def can_subscribe(self, user: Any, name: str) -> bool:
        return bool(user.is_staff)

    def can_publish(self, user: Any, name: str) -> bool:
        return bool(user.is_staff)


class BenchPresence(courant.Topic):
    """``presence-bench:<name>``: for bench/ only (the ``presence`` scenario). Anyone may
    subscribe, anonymous clients included (each connection is then a member of its
    own), presence is on, and a meta is shown as the client sent it. Nobody publishes."""

    pattern = "presence-bench:{name}"
    presence = True

    def can_subscribe(self, user: Any, name: str) -> bool:
        return True

    def clean_presence(self, user: Any, meta: dict[str, Any], name: str) -> dict[str, Any]:
        return meta


@courant.method("chat.rooms")
def rooms(user: Any, params: Any) -> list[dict[str, Any]]:
    """The rooms that have messages, the latest first: ``client.call("chat.rooms")``."""
    if not user.is_authenticated:
        raise courant.Reject("log in first", code="forbidden")
    counted = ChatMessage.objects.values("room").annotate(messages=Count("id"), last=Max("created"))
    return [
        {"room": row["room"], "messages": row["messages"]} for row in counted.order_by("-last")[:20]
    ]

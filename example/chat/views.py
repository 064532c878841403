from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from .messages import post_message
from .models import ChatMessage

HISTORY = 50


#: Rooms on the chat's index page, the latest active first.
ROOMS = 20


@login_required
def open_room(request: HttpRequest) -> HttpResponse:
    """The chat's index: the rooms with messages, the latest active first (the page counts
    who is in each, live), and a form that opens any room, ``?room=<name>``."""
    if "room" in request.GET:
        room = slugify(request.GET["room"]) or "lobby"
        return redirect("chat:room", room=room)
    rooms = (
        ChatMessage.objects.values("room")
        .annotate(messages=Count("id"), last=Max("created"))
        .order_by("-last")[:ROOMS]
    )
    return render(request, "chat/index.html", {"rooms": rooms})


def _recent(room: str) -> list[dict[str, Any]]:
    """The room's last messages, oldest first, as its subscribers receive them."""
    recent = (
        ChatMessage.objects.filter(room=room).select_related("author").order_by("-created", "-id")
    )
    return [message.as_event() for message in reversed(recent[:HISTORY])]


@login_required
def room(request: HttpRequest, room: str) -> HttpResponse:
    """The room on courant.js: topics ``chat:<room>`` (see topics.py) over the endpoint."""
    return render(request, "chat/room.html", {"room": room, "history": _recent(room)})


@login_required
def socket_room(request: HttpRequest, room: str) -> HttpResponse:
    """The same room, the low-level way: a hand-written WebSocket client of ChatConsumer."""
    return render(request, "chat/socket.html", {"room": room, "history": _recent(room)})


@login_required
@require_POST
def post(request: HttpRequest, room: str) -> HttpResponse:
    """Say something over plain HTTP: the room form's action without JavaScript, the
    consumer page's fallback when its WebSocket is down, and an example of publishing
    from a sync view."""
    text = request.POST.get("text", "")
    if not text.strip():
        return JsonResponse({"error": "empty message"}, status=400)
    message = post_message(room, request.user, text)  # type: ignore[arg-type]
    if request.headers.get("accept") == "application/json":
        return JsonResponse(message.as_event(), status=201)
    return redirect("chat:room", room=room)

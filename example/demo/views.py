"""The demo's own pages: the home page, with a card for each application, and the status
page, which shows the engine in use and this process's live counts."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

import courant
from blog.models import Post
from chat.models import ChatMessage


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "demo/home.html",
        {
            "posts": Post.objects.published().count(),
            "rooms": ChatMessage.objects.values("room").distinct().count(),
        },
    )


def status(request: HttpRequest) -> HttpResponse:
    """Rendered with the numbers of the moment; the page then asks for them again every
    two seconds (the ``demo.stats`` RPC method, topics.py) over its own connection, so it
    shows the process that serves that connection."""
    return render(request, "demo/status.html", {"stats": courant.stats(), "pid": os.getpid()})

"""Routing WebSocket connections to consumers with Django's ``path()`` and ``re_path()``.

::

    routes = [
        path("ws/chat/<str:room>/", ChatConsumer.as_asgi()),
        re_path(r"^ws/feed/(?P<feed>\\w+)/$", FeedConsumer.as_asgi()),
    ]

Captured values reach the consumer as ``self.kwargs`` (named) and ``self.args``
(unnamed), and the scope as ``scope["url_route"]``. ``include()`` works as in urls.py.
A path that matches no route is refused before the handshake completes, and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.urls import URLPattern, URLResolver
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern

from .types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("courant.routing")

Route = URLPattern | URLResolver


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse a connection before it is established: 403 for WebSocket and HTTP alike."""
    if scope["type"] == "websocket":
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Forbidden"})


class URLRouter:
    """Picks the app of the first route matching a connection's path."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = list(routes)
        for route in self.routes:
            if not isinstance(route, URLPattern | URLResolver):
                raise TypeError(
                    f"routes must be made with path(), re_path() or include(), not {route!r}"
                )
        self._resolver = URLResolver(RegexPattern(r"^/"), self.routes)

    def resolve(self, path: str) -> tuple[ASGIApp, dict[str, Any]] | None:
        """The app for ``path`` and the ``url_route`` to put in its scope, or None."""
        try:
            match = self._resolver.resolve(path)
        except Resolver404:
            return None
        return match.func, {"args": match.args, "kwargs": match.kwargs}

    def match(self, scope: Scope) -> tuple[ASGIApp, Scope] | None:
        """The app for the connection of ``scope``, and a copy of ``scope`` with its
        ``url_route``; or None if no route matches."""
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        resolved = self.resolve(path)
        if resolved is None:
            return None
        app, url_route = resolved
        return app, {**scope, "url_route": url_route}

    def route(self, scope: Scope) -> tuple[ASGIApp, Scope] | None:
        """Like :meth:`match`, logging a connection that no route takes."""
        routed = self.match(scope)
        if routed is None:
            logger.warning(
                "Refused %s connection to %s: no route matches this path",
                scope["type"],
                scope["path"],
            )
        return routed


__all__ = ["Route", "URLRouter", "refuse"]

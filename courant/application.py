"""The ASGI application: Django for HTTP, Courant's consumers for WebSockets.

In your project's ``asgi.py``::

    import os
    import courant

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    application = courant.asgi_application(routes="mysite.routing.routes")

and ``ASGI_APPLICATION = "mysite.asgi.application"`` in settings, for ``runserver``.

``routes`` may be a list, or the dotted path to one: the path form is imported after
Django is set up, so the routes module may import models.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import cast

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.utils.module_loading import import_string

from ._sync import close_thread_connections
from .auth import populate_scope
from .closecodes import CloseCode
from .hub import get_hub
from .origin import check_origin
from .routing import Route, URLRouter, refuse
from .types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("courant")


class CourantApplication:
    """Sends each connection to the app for its scope type, and runs the lifespan.

    A WebSocket passes the Origin check, is routed, and gets the session and user in its
    scope, before its consumer's app runs; all in this one coroutine, because every
    coroutine a connection awaits through stays in memory for as long as it is open.
    """

    def __init__(self, *, http: ASGIApp, router: URLRouter) -> None:
        self.http = http
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            routed = self.router.route(scope) if check_origin(scope) else None
            if routed is None:
                await refuse(scope, receive, send)
                return
            app, scope = routed
            await populate_scope(scope)  # only for connections that have somewhere to go
            await app(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)
        else:
            raise ValueError(f"Courant cannot serve ASGI scope type {kind!r}")

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """Startup needs nothing (the engine connects on first use); shutdown closes the
        remaining connections with 1001 and then the engine."""
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                try:
                    await get_hub().shutdown(CloseCode.GOING_AWAY, "server shutting down")
                    await asyncio.get_running_loop().run_in_executor(None, close_thread_connections)
                except Exception as exc:
                    logger.exception("Courant shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def asgi_application(
    routes: Sequence[Route] | str = (), *, http: ASGIApp | None = None
) -> CourantApplication:
    """Build the project's ASGI application.

    ``routes`` (a list of ``path()``/``re_path()``, or its dotted path) serve WebSocket
    connections with consumers, behind the Origin check and Django's session and user.
    Plain HTTP goes to ``http``, by default Django's own ASGI handler.
    """
    if http is None:
        # django-stubs types ASGIHandler with dict scopes; it is an ASGI app all the same.
        http = cast("ASGIApp", get_asgi_application())
    else:
        django.setup(set_prefix=False)
    table: Sequence[Route] = import_string(routes) if isinstance(routes, str) else routes
    return CourantApplication(http=http, router=URLRouter(table))


def get_default_application() -> ASGIApp:
    """The application named by ``ASGI_APPLICATION``, or one with no WebSocket routes."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if path:
        app: ASGIApp = import_string(path)
        return app
    return asgi_application()


__all__ = ["CourantApplication", "asgi_application", "get_default_application"]

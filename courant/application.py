"""The ASGI application: Django for HTTP, Courant's consumers for WebSockets, SSE and
long-polling.

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
from django.urls import path
from django.utils.module_loading import import_string

from ._sync import close_thread_connections
from .auth import populate_scope
from .closecodes import CloseCode
from .conf import get_settings
from .hub import get_hub
from .origin import check_origin
from .routing import Route, URLRouter, refuse
from .transports.http import opens_connection, requested_transport, respond
from .types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("courant")


class CourantApplication:
    """Sends each connection to the app for its scope type, and runs the lifespan.

    A WebSocket passes the Origin check, is routed, and gets the session and user in its
    scope, before its consumer's app runs; all in this one coroutine, because every
    coroutine a connection awaits through stays in memory for as long as it is open.
    An HTTP request to a consumer route with ``?transport=sse`` or ``?transport=longpoll``
    takes the same way (only the requests that open a connection load the session and
    user: the others run as their connection's); every other HTTP request goes to
    ``http``, untouched.
    """

    def __init__(self, *, http: ASGIApp, router: URLRouter) -> None:
        self.http = http
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            transport = requested_transport(scope)
            routed = self.router.match(scope) if transport is not None else None
            if routed is None:
                await self.http(scope, receive, send)
                return
            app, scope = routed
            if transport not in get_settings().transports:
                await respond(send, 404, b"Not Found")
            elif not check_origin(scope):
                await refuse(scope, receive, send)
            else:
                if opens_connection(scope):
                    await populate_scope(scope)
                await app(scope, receive, send)
        elif kind == "websocket":
            routed = (
                self.router.route(scope)
                if "websocket" in get_settings().transports and check_origin(scope)
                else None
            )
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
        remaining connections with 1001 (SSE streams get their close event), waits for
        them to end, and then closes the engine."""
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

    ``routes`` (a list of ``path()``/``re_path()``, or its dotted path) serve WebSocket,
    SSE and long-poll connections with consumers, behind the Origin check and Django's
    session and user.
    Plain HTTP goes to ``http``, by default Django's own ASGI handler.
    """
    if http is None:
        # django-stubs types ASGIHandler with dict scopes; it is an ASGI app all the same.
        http = cast("ASGIApp", get_asgi_application())
    else:
        django.setup(set_prefix=False)
    table: Sequence[Route] = import_string(routes) if isinstance(routes, str) else routes
    endpoint = get_settings().endpoint
    if endpoint is not None:
        from .endpoint import TopicsConsumer

        table = [path(endpoint.lstrip("/"), TopicsConsumer.as_asgi()), *table]
    return CourantApplication(http=http, router=URLRouter(table))


def get_default_application() -> ASGIApp:
    """The application named by ``ASGI_APPLICATION``, or one with no WebSocket routes."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if path:
        app: ASGIApp = import_string(path)
        return app
    return asgi_application()


__all__ = ["CourantApplication", "asgi_application", "get_default_application"]

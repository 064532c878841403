"""Django's session and user on every connection.

:class:`AuthMiddleware` reads the session cookie from the handshake, loads the session
with ``SESSION_ENGINE`` and the user with the authentication backends, and puts them in
``scope["session"]`` and ``scope["user"]``: the same user a view would see for the same
browser. Loading is async (no thread hop) and happens once, before ``connect()``.

Values already in the scope are kept, so a test (or an outer middleware) can set them.
"""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.conf import settings
from django.http.cookie import parse_cookie

from .types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from django.http import HttpRequest


def _cookies(scope: Scope) -> dict[str, str]:
    values = [
        bytes(value).decode("latin-1")
        for key, value in scope.get("headers", ())
        if key.lower() == b"cookie"
    ]
    return parse_cookie("; ".join(values)) if values else {}


async def populate_scope(scope: Scope) -> None:
    """Set ``scope["session"]`` and ``scope["user"]`` from the request's cookies."""
    session: Any = scope.get("session")
    if "session" not in scope:
        if apps.is_installed("django.contrib.sessions"):
            engine = import_module(settings.SESSION_ENGINE)
            session = engine.SessionStore(_cookies(scope).get(settings.SESSION_COOKIE_NAME))
        scope["session"] = session
    if "user" not in scope and apps.is_installed("django.contrib.auth"):
        from django.contrib.auth import aget_user
        from django.contrib.auth.models import AnonymousUser

        if session is None:
            scope["user"] = AnonymousUser()
        else:
            # aget_user() only reads request.session.
            request = cast("HttpRequest", SimpleNamespace(session=session))
            scope["user"] = await aget_user(request)


class AuthMiddleware:
    """ASGI middleware putting Django's session and user into the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = dict(scope)
        await populate_scope(scope)
        await self.app(scope, receive, send)


__all__ = ["AuthMiddleware", "populate_scope"]

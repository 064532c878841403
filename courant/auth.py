"""Django's session and user on every connection.

:func:`populate_scope` reads the session cookie from the handshake, loads the session
with ``SESSION_ENGINE`` and the user with the authentication backends, and puts them in
``scope["session"]`` and ``scope["user"]``: the same user a view would see for the same
browser. Loading is async (no thread hop) and happens once, before ``connect()``.

The session is only read. Django's own ``aget_user()`` may rotate the session key (when
the session was signed with a key from ``SECRET_KEY_FALLBACKS``) or flush the session
(when its hash no longer matches); both need a new cookie, which a WebSocket handshake
cannot deliver, so the browser would be logged out. Courant accepts a fallback-signed
session as it stands and treats a mismatched one as anonymous, leaving both changes to the
next HTTP request.

Values already in the scope are kept, so a test (or an ASGI middleware wrapped around the
application) can set them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http.cookie import parse_cookie
from django.utils.crypto import constant_time_compare

from .types import Scope

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.sessions.backends.base import SessionBase


def _cookies(scope: Scope) -> dict[str, str]:
    values = [
        bytes(value).decode("latin-1")
        for key, value in scope.get("headers", ())
        if key.lower() == b"cookie"
    ]
    return parse_cookie("; ".join(values)) if values else {}


def new_session(session_key: str | None = None) -> SessionBase:
    """A session of the project's ``SESSION_ENGINE``: the one ``session_key`` names, or a
    new, empty one (stored only if saved)."""
    store: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return store


async def populate_scope(scope: Scope) -> None:
    """Set ``scope["session"]`` and ``scope["user"]`` from the request's cookies."""
    session: Any = scope.get("session")
    if "session" not in scope:
        if apps.is_installed("django.contrib.sessions"):
            session = new_session(_cookies(scope).get(settings.SESSION_COOKIE_NAME))
        scope["session"] = session
    if "user" not in scope and apps.is_installed("django.contrib.auth"):
        from django.contrib.auth.models import AnonymousUser

        user = None if session is None else await load_user(session)
        scope["user"] = AnonymousUser() if user is None else user


async def load_user(session: SessionBase) -> AbstractBaseUser | None:
    """The user the session is logged in as, or None; reads the session, never writes it."""
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
        load_backend,
    )

    try:
        user_id = get_user_model()._meta.pk.to_python(await session.aget(SESSION_KEY))
        backend_path = await session.aget(BACKEND_SESSION_KEY)
    except (KeyError, ValueError, ValidationError):
        return None
    if user_id is None or not isinstance(backend_path, str):
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user: AbstractBaseUser | None = await load_backend(backend_path).aget_user(user_id)
    if user is None or not hasattr(user, "get_session_auth_hash"):
        return user
    session_hash = await session.aget(HASH_SESSION_KEY)
    if not session_hash:
        return None
    valid = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if any(constant_time_compare(session_hash, expected) for expected in valid):
        return user
    return None


__all__ = ["load_user", "new_session", "populate_scope"]

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import AsyncClient

from courant.auth import populate_scope

pytestmark = pytest.mark.django_db(transaction=True)


async def logged_in(username):
    """A user, and the session key a browser logged in as that user would send."""
    user, _ = await get_user_model().objects.aget_or_create(username=username)
    client = AsyncClient()
    await client.aforce_login(user)
    return user, client.cookies["sessionid"].value


async def handshake(headers) -> dict[str, Any]:
    """The scope a WebSocket handshake with these headers ends up with."""
    scope: dict[str, Any] = {"type": "websocket", "headers": headers}
    await populate_scope(scope)
    return scope


def with_session(session_key):
    return [(b"cookie", f"sessionid={session_key}; csrftoken=abc".encode())]


async def test_the_session_cookie_gives_the_same_user_a_view_would_see():
    user, session_key = await logged_in("dora")
    scope = await handshake(with_session(session_key))
    assert scope["user"] == user
    assert await scope["session"].aget("_auth_user_id") == str(user.pk)


@pytest.mark.parametrize(
    "headers", [[], [(b"cookie", b"sessionid=not-a-real-session")], [(b"cookie", b"a=b")]]
)
async def test_without_a_valid_session_the_user_is_anonymous(headers):
    scope = await handshake(headers)
    assert not scope["user"].is_authenticated
    assert scope["session"] is not None


async def test_values_already_in_the_scope_are_kept():
    sentinel = object()
    scope: dict[str, Any] = {"type": "websocket", "headers": [], "user": sentinel, "session": None}
    await populate_scope(scope)
    assert scope["user"] is sentinel


async def test_a_session_signed_before_a_secret_key_rotation_stays_logged_in(settings):
    old_key = settings.SECRET_KEY
    user, session_key = await logged_in("fran")
    settings.SECRET_KEY = "a-brand-new-secret-key-for-the-rotation-test"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    scope = await handshake(with_session(session_key))
    assert scope["user"] == user
    # The handshake cannot hand the browser a new cookie, so the session must survive.
    assert await Session.objects.filter(session_key=session_key).aexists()


async def test_a_changed_password_logs_the_session_out_but_leaves_it_for_the_next_request():
    user, session_key = await logged_in("gus")
    user.set_password("changed")
    await user.asave()
    scope = await handshake(with_session(session_key))
    assert not scope["user"].is_authenticated
    assert await Session.objects.filter(session_key=session_key).aexists()

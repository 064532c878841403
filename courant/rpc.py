"""RPC methods: server functions a client calls through the topics endpoint.

::

    @courant.method("rooms.create")
    def create_room(user, params):
        if not user.is_authenticated:
            raise courant.Reject("log in first", code="forbidden")
        room = Room.objects.create(name=params["name"], owner=user)
        return {"id": room.pk}

A method receives the connection's user and the call's ``params`` (any JSON value, None
when the client sent none), may be ``def`` (run in a worker thread, so it may use the ORM)
or ``async def``, and returns a JSON-serializable result. ``courant.Reject`` becomes an
error reply with its code; any other exception is logged and answered ``internal``.
Define methods in an app's ``topics`` module, which Courant imports at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, overload

from django.core.exceptions import ImproperlyConfigured

from .protocol import MAX_METHOD_LENGTH

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

#: Every RPC method of this process, by name.
methods: dict[str, Callable[..., Any]] = {}


@overload
def method(name: F) -> F: ...


@overload
def method(name: str | None = None) -> Callable[[F], F]: ...


def method(name: str | Callable[..., Any] | None = None) -> Any:
    """Register the decorated function as the RPC method ``name`` (by default, the
    function's own name). Names are dotted identifiers, such as ``"rooms.create"``."""

    def register(function: F) -> F:
        chosen = function.__name__ if name is None else name
        if not isinstance(chosen, str) or not _NAME.fullmatch(chosen):
            raise ImproperlyConfigured(
                f"RPC method names are dotted identifiers such as 'rooms.create', not {chosen!r}"
            )
        if len(chosen) > MAX_METHOD_LENGTH:
            raise ImproperlyConfigured(
                f"RPC method name {chosen!r} is longer than {MAX_METHOD_LENGTH} characters"
            )
        known = methods.get(chosen)
        if known is not None and known.__qualname__ != function.__qualname__:
            raise ImproperlyConfigured(
                f"RPC method {chosen!r} is defined twice: {known.__qualname__} and "
                f"{function.__qualname__}"
            )
        methods[chosen] = function
        return function

    if callable(name):  # used as @method, without parentheses
        function, name = name, None
        return register(function)
    return register


__all__ = ["method", "methods"]

"""Consumers: user code that handles one connection's life.

A consumer is to a conversation what a view is to a request. Override the handlers you
need; call the actions to answer::

    class Echo(JsonConsumer):
        async def connect(self):
            await self.ajoin(f"room:{self.kwargs['room']}")
            self.accept()

        async def receive_json(self, content):
            await self.apublish(f"room:{self.kwargs['room']}", content)

**Handlers** (``connect``, ``receive``/``receive_json``, ``topic_message``,
``topic_gap``, ``disconnect``) may be ``async def`` or plain ``def``. A plain one runs in a
worker thread with Django's database connection handling, so it may use the ORM; all sync
handlers of a connection run on the same thread, one at a time. Handlers of one connection never run
concurrently: each event is handled after the previous one.

**Actions** come in two kinds. ``accept``, ``send``, ``send_json`` and ``close`` only
queue frames on the connection's bounded send queue, so they never block and are called
the same way from async and sync handlers. ``join``, ``leave`` and ``publish`` talk to the
engine, so they have Django-style twins: ``await self.ajoin(...)`` in async code,
``self.join(...)`` in sync code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from asgiref.sync import iscoroutinefunction

from . import _json
from ._sync import executor_for_connection, on_loop_thread, run_sync
from .closecodes import CloseCode
from .history import Position, Recovery
from .publishing import apublish

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.base import SessionBase

    from .connection import Connection
    from .message import Message
    from .types import Receive, Scope, Send

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

#: What a handler returns: None from a sync handler, an awaitable from an async one.
HandlerResult = Awaitable[None] | None


def _inline(function: F) -> F:
    """Mark one of Courant's own default handlers: non-blocking, so it runs on the event
    loop even though it is a plain ``def``, never on a worker thread."""
    function._courant_inline = True  # type: ignore[attr-defined]
    return function


#: The methods Courant calls; each may be sync or async.
HANDLERS = ("connect", "receive", "receive_json", "topic_message", "topic_gap", "disconnect")


class Consumer:
    """Handles one connection, whatever transport carries it.

    Attributes set before ``connect()`` runs:

    - ``scope``: the ASGI scope, with ``user`` and ``session`` from Django's auth;
    - ``args`` and ``kwargs``: what the route captured from the path;
    - ``connection``: the :class:`~courant.connection.Connection` (rarely needed).
    """

    scope: Scope
    connection: Connection
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any]

    _sync_handlers: ClassVar[frozenset[str]] = frozenset()
    _handles_messages: ClassVar[bool] = False
    _executor: concurrent.futures.ThreadPoolExecutor | None = None

    def __init_subclass__(cls, **options: Any) -> None:
        super().__init_subclass__(**options)
        cls._sync_handlers = frozenset(
            name
            for name in HANDLERS
            if hasattr(cls, name)
            and not iscoroutinefunction(getattr(cls, name))
            and not getattr(getattr(cls, name), "_courant_inline", False)
        )
        cls._handles_messages = (
            cls.topic_message is not Consumer.topic_message
            or cls.topic_gap is not Consumer.topic_gap
        )

    def __init__(self, **initkwargs: Any) -> None:
        for key, value in initkwargs.items():
            setattr(self, key, value)

    @classmethod
    def as_asgi(cls, **initkwargs: Any) -> Callable[..., Any]:
        """The ASGI application that serves each connection with a new instance of this
        class, like ``View.as_view()``. ``initkwargs`` set class attributes per instance.

        (Typed loosely so that Django's ``path()`` accepts it under django-stubs, which
        expects a view.)"""
        for key in initkwargs:
            if not hasattr(cls, key):
                raise TypeError(
                    f"{cls.__name__}.as_asgi() got {key!r}, which is not an attribute of the class"
                )

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            from .transports import serve

            await serve(cls(**initkwargs), scope, receive, send)

        app.consumer_class = cls  # type: ignore[attr-defined]
        app.consumer_initkwargs = initkwargs  # type: ignore[attr-defined]
        app.__name__ = app.__qualname__ = f"{cls.__name__}.as_asgi()"
        return app

    def attach(self, scope: Scope, connection: Connection) -> None:
        """Bind this consumer to its connection (called by the transport driver)."""
        self.scope = scope
        self.connection = connection
        route = scope.get("url_route") or {}
        self.args = tuple(route.get("args", ()))
        self.kwargs = dict(route.get("kwargs", {}))

    # -- what the scope tells ------------------------------------------------------------

    @property
    def user(self) -> AbstractBaseUser | AnonymousUser:
        """The Django user of the connection (``AnonymousUser`` when not logged in)."""
        user = self.scope.get("user")
        if user is None:
            from django.contrib.auth.models import AnonymousUser

            return AnonymousUser()
        return user  # type: ignore[no-any-return]

    @property
    def session(self) -> SessionBase | None:
        """The Django session, or None without ``django.contrib.sessions``. Changes are
        saved only by ``await self.session.asave()``."""
        return self.scope.get("session")

    @property
    def resume(self) -> Mapping[str, Position]:
        """Where the client was in each topic when its previous connection broke, if its
        transport says (an SSE stream reconnecting with ``Last-Event-ID``); empty
        otherwise. Join those topics again with ``since`` to hand over what it missed."""
        return self.connection.resume

    @functools.cached_property
    def presence_key(self) -> str:
        """Whom this connection counts as in presence: its user's id, or, without a user,
        a key of its own (``anonymous:...``)."""
        user = self.user
        if user.is_authenticated:
            return str(user.pk)
        return f"anonymous:{secrets.token_hex(8)}"

    @property
    def transport(self) -> str:
        """``"websocket"``, ``"sse"`` or ``"longpoll"``: for logs, never for logic."""
        return self.connection.transport

    # -- handlers: override these, with ``async def`` or ``def`` -----------------------

    @_inline
    def connect(self) -> HandlerResult:
        """The client asks to connect. Call ``accept()`` to let it in; returning without
        accepting refuses it. The default accepts."""
        self.accept()
        return None

    @_inline
    def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> HandlerResult:
        """One message from the client: text or bytes. The default ignores it."""
        return None

    @_inline
    def topic_message(self, message: Message) -> HandlerResult:
        """One message of a joined topic. The default forwards it to the client exactly
        as published (without calling this method at all, which is faster)."""
        self.forward(message)
        return None

    @_inline
    def topic_gap(self, topic: str, position: Position) -> HandlerResult:
        """Messages of a joined topic were lost and cannot be recovered: the engine lost
        its link (a Redis restart) and the topic's history with it. The messages that
        follow come after ``position``. The default does nothing; override it to tell
        the client to reload what it shows from ``topic``."""
        return None

    @_inline
    def disconnect(self, code: int) -> HandlerResult:
        """The connection has ended, with ``code``. Topics are left for you."""
        return None

    # -- actions that queue frames: the same from sync and async handlers ----------------

    def accept(
        self, subprotocol: str | None = None, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        """Let the client in (and answer with ``subprotocol`` if it offered one)."""
        self.connection.accept(subprotocol, headers)

    def send(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Queue one frame to the client: text or bytes."""
        if (text_data is None) == (bytes_data is None):
            raise TypeError("send() takes exactly one of text_data and bytes_data")
        if text_data is not None:
            self.connection.send_text(text_data)
        else:
            assert bytes_data is not None
            self.connection.send_bytes(bytes_data)

    def forward(self, message: Message) -> None:
        """Queue a topic message to the client exactly as it was published."""
        self.connection.forward(message)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close after the frames already queued (or refuse, during ``connect()``)."""
        self.connection.close(code, reason)

    # -- actions that talk to the engine: async, with sync twins -------------------------

    async def ajoin(self, topic: str, since: Position | tuple[str, int] | None = None) -> Recovery:
        """Subscribe this connection to ``topic``.

        Without ``since``, messages published from now on are delivered. With ``since``,
        the :class:`~courant.history.Position` (epoch, offset) of the last message the
        client saw, the messages it missed are delivered first, in order and exactly
        once, then the new ones. The returned :class:`~courant.history.Recovery` says
        whether that was complete (``recovered``) and where the topic is (``position``).
        When it was not (the history no longer reaches back, or the epoch changed), the
        client missed data and should reload what it shows.
        """
        return await self.connection.join(topic, None if since is None else Position(*since))

    async def aleave(self, topic: str) -> None:
        """Unsubscribe this connection from ``topic``."""
        await self.connection.leave(topic)

    async def apublish(self, topic: str, data: object) -> Message:
        """Publish ``data`` to every subscriber of ``topic``, on every process (this
        connection included, if it joined). Same as :func:`courant.apublish`."""
        return await apublish(topic, data)

    async def atrack(self, topic: str, meta: dict[str, Any], key: str | None = None) -> None:
        """Show this connection in ``topic``'s presence with ``meta`` (call again to change
        the meta), under ``key``: by default its user's id, or a key of its own when
        anonymous. It leaves the presence when the connection ends. Raises
        ``courant.presencehub.PresenceFull`` past ``PRESENCE_MAX_ENTRIES``."""
        from .presencehub import presence_hub

        key = self.presence_key if key is None else key
        await presence_hub(self.connection.hub).track(topic, self.connection, key, meta)

    async def auntrack(self, topic: str) -> None:
        """Remove this connection from ``topic``'s presence."""
        from .presencehub import presence_hub

        await presence_hub(self.connection.hub).untrack(topic, self.connection)

    def track(self, topic: str, meta: dict[str, Any], key: str | None = None) -> None:
        """Sync twin of :meth:`atrack`, for sync handlers."""
        self._blocking("track", self.atrack(topic, meta, key))

    def untrack(self, topic: str) -> None:
        """Sync twin of :meth:`auntrack`, for sync handlers."""
        self._blocking("untrack", self.auntrack(topic))

    def join(self, topic: str, since: Position | tuple[str, int] | None = None) -> Recovery:
        """Sync twin of :meth:`ajoin`, for sync handlers."""
        return self._blocking("join", self.ajoin(topic, since))

    def leave(self, topic: str) -> None:
        """Sync twin of :meth:`aleave`, for sync handlers."""
        self._blocking("leave", self.aleave(topic))

    def publish(self, topic: str, data: object) -> Message:
        """Sync twin of :meth:`apublish`, for sync handlers."""
        return self._blocking("publish", self.apublish(topic, data))

    def _blocking(self, name: str, coroutine: Coroutine[Any, Any, T]) -> T:
        loop = self.connection.loop
        if on_loop_thread(loop):
            coroutine.close()
            raise RuntimeError(
                f"{type(self).__name__}.{name}() is for sync handlers; "
                f"in async code use `await self.a{name}(...)`"
            )
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    # -- dispatch (used by transport drivers) --------------------------------------------

    async def dispatch(self, handler: str, *args: Any) -> None:
        """Call the handler named ``handler``: awaited if async, on this connection's
        worker thread if sync."""
        method = getattr(self, handler)
        if handler in self._sync_handlers:
            if self._executor is None:
                self._executor = executor_for_connection()
            await run_sync(self._executor, method, *args)
            return
        result = method(*args)
        if result is not None:
            await result


class JsonConsumer(Consumer):
    """A consumer that speaks JSON text frames.

    A frame that is not valid JSON closes the connection with
    :attr:`~courant.closecodes.CloseCode.INVALID_PAYLOAD`; a binary frame with
    :attr:`~courant.closecodes.CloseCode.UNSUPPORTED_DATA`.
    """

    @_inline
    def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> HandlerResult:
        if text_data is None:
            self.close(CloseCode.UNSUPPORTED_DATA, "expected a JSON text frame")
            return None
        try:
            content = _json.loads(text_data)
        except _json.JSONDecodeError:
            self.close(CloseCode.INVALID_PAYLOAD, "invalid JSON")
            return None
        return self.dispatch("receive_json", content)

    @_inline
    def receive_json(self, content: Any) -> HandlerResult:
        """One decoded JSON value from the client. The default ignores it."""
        return None

    def send_json(self, content: Any) -> None:
        """Queue ``content`` to the client as a JSON text frame."""
        self.send(text_data=_json.dumps(content))


__all__ = ["HANDLERS", "Consumer", "JsonConsumer"]

"""Courant's settings: the ``COURANT`` dict in Django settings, validated once.

Example::

    COURANT = {
        "ENGINE": "memory://",          # or "redis://127.0.0.1:6379/0", or a list of them
        "HISTORY": {"chat:*": {"size": 100, "ttl": 300}},   # see courant.history
        "CHANNEL_CAPACITY": 100,         # messages waiting in one channel before send() fails
        "CHANNEL_EXPIRY": 60.0,          # seconds a channel message waits for a receiver
        "WORKERS": {"thumbnails": "photos.workers.Thumbnails"},  # for courant_worker
        "MAX_MESSAGE_SIZE": 1 << 20,     # bytes; larger incoming messages close with 1009
        "SEND_QUEUE_LIMIT": 1024,        # frames waiting for one client before it is closed
        "HEARTBEAT_INTERVAL": 20.0,      # seconds between pings (None disables)
        "HEARTBEAT_TIMEOUT": 20.0,       # seconds to wait for the pong
        "CLOSE_TIMEOUT": 5.0,            # seconds a close may wait for a stuck client
        "ALLOWED_ORIGINS": [],           # extra browser origins; "*" turns the check off
        "SYNC_THREADS": 8,               # threads that run sync handlers
        "ENDPOINT": "/courant/",         # the built-in topics endpoint (None: not served)
        "TRANSPORTS": ["websocket", "sse", "longpoll"],   # the transports served
        "SSE_KEEPALIVE": 15.0,           # seconds between keep-alive comments on SSE
        "LONGPOLL_TIMEOUT": 25.0,        # seconds a poll waits for events
        "LONGPOLL_EXPIRY": 30.0,         # seconds without a poll before a connection ends
        "MAX_FRAME_SIZE": 65536,         # bytes; larger topics-protocol frames get an error
        "MAX_SUBSCRIPTIONS": 100,        # topics one connection may subscribe to
        "PRESENCE_TTL": 30.0,            # seconds an entry outlives a process that died
        "PRESENCE_MAX_META": 1024,       # bytes of JSON in one presence meta
        "PRESENCE_MAX_ENTRIES": 10000,   # presence entries (connections) per topic
    }

Every key is optional. Unknown keys and values of the wrong type raise
``ImproperlyConfigured`` naming the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from .history import History


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated ``COURANT`` setting. Attribute names are the keys, lower-cased."""

    engine: tuple[str, ...] = ("memory://",)
    history: tuple[tuple[str, History], ...] = ()
    channel_capacity: int = 100
    channel_expiry: float = 60.0
    workers: tuple[tuple[str, str], ...] = ()
    max_message_size: int | None = 1 << 20
    send_queue_limit: int = 1024
    heartbeat_interval: float | None = 20.0
    heartbeat_timeout: float = 20.0
    close_timeout: float = 5.0
    allowed_origins: tuple[str, ...] = ()
    sync_threads: int = 8
    endpoint: str | None = "/courant/"
    transports: tuple[str, ...] = ("websocket", "sse", "longpoll")
    sse_keepalive: float = 15.0
    longpoll_timeout: float = 25.0
    longpoll_expiry: float = 30.0
    max_frame_size: int = 65536
    max_subscriptions: int = 100
    presence_ttl: float = 30.0
    presence_max_meta: int = 1024
    presence_max_entries: int = 10000


def _positive_int(key: str, value: Any, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        allowed = "a positive integer" + (" or None" if optional else "")
        raise ImproperlyConfigured(f"COURANT[{key!r}] must be {allowed}, not {value!r}.")
    return value


def _positive_number(key: str, value: Any, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        allowed = "a positive number of seconds" + (" or None" if optional else "")
        raise ImproperlyConfigured(f"COURANT[{key!r}] must be {allowed}, not {value!r}.")
    return float(value)


def _string(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ImproperlyConfigured(f"COURANT[{key!r}] must be a non-empty string, not {value!r}.")
    return value


def _engine(key: str, value: Any) -> tuple[str, ...]:
    """One engine URL, or a list of URLs of one scheme (e.g. Redis servers to shard over)."""
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list | tuple) or not urls:
        raise ImproperlyConfigured(
            f"COURANT[{key!r}] must be an engine URL or a list of them, not {value!r}."
        )
    for url in urls:
        _string(key, url)
    schemes = {url.partition("://")[0] for url in urls}
    if len(schemes) > 1:
        raise ImproperlyConfigured(
            f"COURANT[{key!r}] mixes engines ({', '.join(sorted(schemes))}); "
            "list several servers of one engine."
        )
    return tuple(urls)


def _history(key: str, value: Any) -> tuple[tuple[str, History], ...]:
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"COURANT[{key!r}] must map topic patterns to {{'size': N, 'ttl': seconds}}, "
            f"not {value!r}."
        )
    rules = []
    for pattern, options in value.items():
        where = f"COURANT[{key!r}][{pattern!r}]"
        if not isinstance(pattern, str) or not isinstance(options, Mapping):
            raise ImproperlyConfigured(f"{where} must be {{'size': N, 'ttl': seconds}}.")
        unknown = sorted(set(options) - {"size", "ttl"})
        if unknown:
            raise ImproperlyConfigured(f"{where} has unknown key(s) {', '.join(unknown)}.")
        size = options.get("size", History.size)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ImproperlyConfigured(f"{where}['size'] must be an integer >= 0, not {size!r}.")
        ttl = _positive_number(
            f"{key}][{pattern!r}]['ttl", options.get("ttl", History.ttl), optional=True
        )
        rules.append((pattern, History(size, ttl)))
    return tuple(rules)


def _workers(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not all(
        isinstance(channel, str) and isinstance(path, str) and "." in path
        for channel, path in value.items()
    ):
        raise ImproperlyConfigured(
            f"COURANT[{key!r}] must map channel names to dotted paths of courant.Worker "
            f"classes, not {value!r}."
        )
    return tuple(value.items())


def _origins(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ImproperlyConfigured(f"COURANT[{key!r}] must be a list of origins, not {value!r}.")
    for origin in value:
        if not isinstance(origin, str) or not (origin == "*" or "://" in origin):
            raise ImproperlyConfigured(
                f"COURANT[{key!r}] entries must look like 'https://example.com' (or be '*'), "
                f"not {origin!r}."
            )
    return tuple(origin.rstrip("/").lower() for origin in value)


#: Every transport Courant serves.
TRANSPORTS = ("websocket", "sse", "longpoll")


def _transports(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ImproperlyConfigured(
            f"COURANT[{key!r}] must be a non-empty list of transports, not {value!r}."
        )
    for transport in value:
        if transport not in TRANSPORTS:
            raise ImproperlyConfigured(
                f"COURANT[{key!r}] has {transport!r}; transports are {', '.join(TRANSPORTS)}."
            )
    return tuple(dict.fromkeys(value))


def _endpoint(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or not value.endswith("/"):
        raise ImproperlyConfigured(
            f"COURANT[{key!r}] must be a path that starts and ends with '/' (or None), "
            f"not {value!r}."
        )
    return value


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "ENGINE": _engine,
    "HISTORY": _history,
    "CHANNEL_CAPACITY": _positive_int,
    "CHANNEL_EXPIRY": _positive_number,
    "WORKERS": _workers,
    "MAX_MESSAGE_SIZE": functools.partial(_positive_int, optional=True),
    "SEND_QUEUE_LIMIT": _positive_int,
    "HEARTBEAT_INTERVAL": functools.partial(_positive_number, optional=True),
    "HEARTBEAT_TIMEOUT": _positive_number,
    "CLOSE_TIMEOUT": _positive_number,
    "ALLOWED_ORIGINS": _origins,
    "SYNC_THREADS": _positive_int,
    "ENDPOINT": _endpoint,
    "TRANSPORTS": _transports,
    "SSE_KEEPALIVE": _positive_number,
    "LONGPOLL_TIMEOUT": _positive_number,
    "LONGPOLL_EXPIRY": _positive_number,
    "MAX_FRAME_SIZE": _positive_int,
    "MAX_SUBSCRIPTIONS": _positive_int,
    "PRESENCE_TTL": _positive_number,
    "PRESENCE_MAX_META": _positive_int,
    "PRESENCE_MAX_ENTRIES": _positive_int,
}


def parse(raw: Mapping[str, Any]) -> Settings:
    """Validate a ``COURANT`` dict and return the settings it describes."""
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"COURANT must be a dict, not {type(raw).__name__}.")
    unknown = sorted(set(raw) - set(_PARSERS))
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown COURANT setting(s) {', '.join(map(repr, unknown))}; "
            f"valid keys are {', '.join(sorted(_PARSERS))}."
        )
    values = {key.lower(): _PARSERS[key](key, value) for key, value in raw.items()}
    return Settings(**values)


@functools.cache
def get_settings() -> Settings:
    """The current settings; cached, and cleared when ``COURANT`` changes in tests."""
    return parse(getattr(django_settings, "COURANT", {}))


__all__ = ["Settings", "get_settings", "parse"]

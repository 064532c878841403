"""What a status page or a health check shows about this process: the engine in use and
how much the process is serving right now.

It reads counters the hub keeps anyway, so it is cheap, does no I/O, and may be called
from any thread (a sync view) or from the event loop (an ``async def`` RPC method).
"""

from __future__ import annotations

from typing import TypedDict, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .hub import get_hub

#: What replaces a password in the URLs :func:`stats` shows.
MASK = "***"


class Stats(TypedDict):
    """This process's numbers (see :func:`stats`)."""

    #: The engine's short name: ``"memory"`` or ``"redis"``.
    engine: str
    #: The engine's class, by dotted path.
    engine_class: str
    #: The engine's URLs from ``COURANT["ENGINE"]``, each password replaced with ``***``.
    urls: list[str]
    #: Connections open in this process, on every transport.
    connections: int
    #: Topics this process follows for its connections (presence's companion topics,
    #: ``courant:presence:...``, included: the engine carries them too).
    topics: int


def masked_url(url: str) -> str:
    """``url`` with its password, in the user part or a ``password`` query parameter,
    replaced with :data:`MASK`; fit to show on a page or in a log."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(name.lower() == "password" for name, _ in pairs):
        query = urlencode(
            [(name, MASK if name.lower() == "password" else value) for name, value in pairs],
            safe="*",
        )
    if (netloc, query) == (parts.netloc, parts.query):
        # Nothing to hide: the URL as written (urlunsplit would drop the "//" of an
        # empty host, as in "memory://").
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def stats() -> Stats:
    """This process's engine and counts, for a status page or a health check::

        >>> courant.stats()
        {'engine': 'redis', 'engine_class': 'courant.engines.redis.RedisEngine',
         'urls': ['redis://:***@10.0.0.5:6379/0'], 'connections': 12, 'topics': 31}

    The counts are of this process only: with several processes, each has its own.
    """
    hub = get_hub()
    counts = hub.stats()
    engine = type(hub.engine)
    return {
        "engine": hub.engine.name,
        "engine_class": f"{engine.__module__}.{engine.__qualname__}",
        "urls": [masked_url(url) for url in hub.engine.urls],
        "connections": cast("int", counts["connections"]),
        "topics": cast("int", counts["topics"]),
    }


__all__ = ["MASK", "Stats", "masked_url", "stats"]

"""Running Courant on uvicorn, with Courant's limits applied to the server.

ASGI gives applications no access to WebSocket pings or to frames before they are
assembled, so two limits belong to the server: the heartbeat (a ping every
``HEARTBEAT_INTERVAL`` seconds; no pong within ``HEARTBEAT_TIMEOUT`` closes the socket)
and the largest frame it assembles (``MAX_MESSAGE_SIZE``). ``runserver`` applies them
from settings; in production pass the same values to uvicorn (see docs/deployment.md).
Courant also checks message size itself, so the limit holds on any ASGI server.
"""

from __future__ import annotations

from typing import Any

from .conf import Settings, get_settings


def uvicorn_options(settings: Settings | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that carry Courant's settings."""
    settings = settings or get_settings()
    options: dict[str, Any] = {
        "lifespan": "on",
        "ws_ping_interval": settings.heartbeat_interval,
        "ws_ping_timeout": settings.heartbeat_timeout,
    }
    if settings.max_message_size is not None:
        options["ws_max_size"] = settings.max_message_size
    return options


__all__ = ["uvicorn_options"]

"""Names for the ASGI shapes Courant passes around.

ASGI events are plain dicts; these aliases keep signatures readable without pretending
the server hands us anything stricter than a mapping.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIEvent = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIEvent]]
Send = Callable[[ASGIEvent], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["ASGIApp", "ASGIEvent", "Receive", "Scope", "Send"]

"""The Channels peer's ASGI application, built the way the Channels tutorial builds one:
Django for HTTP; WebSockets behind the Origin check and the session and user."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "channels_bench.settings")
django_application = get_asgi_application()

# Imported after Django is set up, as Channels requires.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from channels_bench.consumers import BenchConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/bench/<str:room>/", BenchConsumer.as_asgi())]))
        ),
    }
)

"""System checks for mistakes a developer can make while setting Courant up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from .conf import get_settings
from .engines import ENGINES


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The COURANT setting parses, and names a known engine."""
    try:
        courant = get_settings()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="courant.E001")]
    scheme = courant.engine[0].partition("://")[0]
    if scheme not in ENGINES:
        return [
            Error(
                f"COURANT['ENGINE'] = {courant.engine[0]!r} names no engine.",
                hint="Known engines: " + ", ".join(f"{name}://" for name in sorted(ENGINES)),
                id="courant.E002",
            )
        ]
    return []


@register(Tags.security)
def check_origin(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the Origin check is turned off outside development."""
    try:
        origins = get_settings().allowed_origins
    except ImproperlyConfigured:
        return []  # reported by check_settings
    if "*" in origins and not settings.DEBUG:
        return [
            Warning(
                "COURANT['ALLOWED_ORIGINS'] contains '*': any website can open WebSockets to "
                "this site with its visitors' cookies (cross-site WebSocket hijacking).",
                hint="List the origins that may connect instead, e.g. ['https://app.example.com'].",
                id="courant.W001",
            )
        ]
    return []


@register()
def check_runserver(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``runserver`` serves WebSockets only if Courant's command wins, and knows the app."""
    messages: list[CheckMessage] = []
    installed = list(settings.INSTALLED_APPS)
    names = [name.split(".apps.")[0] for name in installed]
    if (
        "courant" in names
        and "django.contrib.staticfiles" in names
        and names.index("courant") > names.index("django.contrib.staticfiles")
    ):
        messages.append(
            Warning(
                "'courant' is listed after 'django.contrib.staticfiles' in INSTALLED_APPS, "
                "so `runserver` will not serve WebSockets.",
                hint="Move 'courant' above 'django.contrib.staticfiles'.",
                id="courant.W002",
            )
        )
    if not getattr(settings, "ASGI_APPLICATION", None):
        messages.append(
            Warning(
                "ASGI_APPLICATION is not set, so `runserver` serves no WebSocket routes.",
                hint="Set ASGI_APPLICATION = 'yourproject.asgi.application', where "
                "application = courant.asgi_application(routes=...).",
                id="courant.W003",
            )
        )
    return messages

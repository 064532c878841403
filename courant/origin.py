"""Refusing cross-site WebSocket hijacking: the Origin check.

Browsers send ``Origin`` with every WebSocket handshake, and attach the user's cookies
whatever page opened the socket. Without a check, any site a logged-in user visits could
open a socket to your app as that user. So a handshake whose Origin is not one of your
own sites is refused (HTTP 403) before any of your code runs.

An origin is your own when (in order):

1. it is listed in ``COURANT["ALLOWED_ORIGINS"]`` (``"*"`` there turns the check off);
2. it matches ``CSRF_TRUSTED_ORIGINS``, with Django's ``https://*.example.com`` wildcards;
3. its host matches ``ALLOWED_HOSTS`` (with Django's development defaults when DEBUG is
   on and the list is empty). A ``"*"`` entry there would accept every site, so for it
   Courant asks instead that the origin be the host the request was sent to. For a
   request over TLS (``wss``), the origin must be ``https`` too, as Django's CSRF check
   requires: a page injected into plain ``http`` must not speak for the secure site.

A request without Origin comes from a non-browser client (a service, a CLI): it is no
hijacking vector and goes on to the normal authentication.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from .conf import get_settings
from .types import Scope

logger = logging.getLogger("courant.security")

DEBUG_HOSTS = (".localhost", "127.0.0.1", "[::1]")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _split(url: str) -> SplitResult | None:
    # urlsplit raises on some malformed hosts ("http://[::1"); a header is hostile input.
    try:
        return urlsplit(url)
    except ValueError:
        return None


def origin_allowed(
    origin: str | None,
    *,
    host: str | None,
    allowed_hosts: Sequence[str],
    trusted_origins: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    secure: bool = False,
) -> bool:
    """Whether a handshake with this ``Origin`` header, sent to ``host``, may proceed."""
    if origin is None:
        return True
    allowed_origins = tuple(allowed_origins)
    if "*" in allowed_origins:
        return True
    origin = origin.strip().rstrip("/").lower()
    parts = _split(origin)
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if origin in allowed_origins:
        return True
    for trusted in trusted_origins:
        trusted = trusted.lower()
        if "*" not in trusted:
            if origin == trusted:
                return True
            continue
        pattern = _split(trusted)
        if (
            pattern is not None
            and pattern.scheme == parts.scheme
            and is_same_domain(parts.netloc, pattern.netloc.lstrip("*"))
        ):
            return True
    domain, _port = split_domain_port(parts.netloc)
    if not domain or (secure and parts.scheme != "https"):
        return False
    explicit = [pattern for pattern in allowed_hosts if pattern != "*"]
    if validate_host(domain, explicit):
        return True
    return "*" in allowed_hosts and host is not None and parts.netloc == host.lower()


def check_origin(scope: Scope) -> bool:
    """Whether the connection of ``scope`` may proceed under the project's settings;
    a refusal is logged."""
    origin = _header(scope, b"origin")
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = list(DEBUG_HOSTS)
    if origin_allowed(
        origin,
        host=_header(scope, b"host"),
        allowed_hosts=allowed_hosts,
        trusted_origins=settings.CSRF_TRUSTED_ORIGINS,
        allowed_origins=get_settings().allowed_origins,
        secure=scope.get("scheme") in ("wss", "https"),
    ):
        return True
    logger.warning(
        "Refused %s connection to %s from foreign origin %r (not in ALLOWED_HOSTS, "
        "CSRF_TRUSTED_ORIGINS or COURANT['ALLOWED_ORIGINS'])",
        scope["type"],
        scope.get("path"),
        origin,
    )
    return False


__all__ = ["check_origin", "origin_allowed"]

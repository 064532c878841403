"""``runserver`` that serves WebSockets too: the project's ASGI application on uvicorn.

It keeps what Django's own command does (system checks, the migrations warning,
autoreload, static files with ``django.contrib.staticfiles``), and serves the application
named by ``ASGI_APPLICATION`` with Courant's heartbeat and message-size limits. List
``"courant"`` before ``"django.contrib.staticfiles"`` in INSTALLED_APPS so this command
is the one Django picks (a system check reminds you).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Any, cast

import uvicorn
from django.apps import apps
from django.conf import settings
from django.db import connections
from django.utils import autoreload

from ...application import get_default_application
from ...server import uvicorn_options
from ...types import ASGIApp

if apps.is_installed("django.contrib.staticfiles"):
    from django.contrib.staticfiles.management.commands.runserver import (
        Command as BaseRunserver,
    )
else:
    from django.core.management.commands.runserver import (  # type: ignore[assignment]
        Command as BaseRunserver,
    )


class Command(BaseRunserver):
    # Set by Django's runserver.handle() from the command line.
    addr: str
    port: str
    _raw_ipv6: bool

    help = (
        "Starts a development server for HTTP and WebSockets (Courant on uvicorn), with autoreload."
    )

    def get_asgi_application(self, **options: Any) -> ASGIApp:
        app = get_default_application()
        serve_static = options.get("use_static_handler", False) and (
            settings.DEBUG or options.get("insecure_serving", False)
        )
        if serve_static:
            from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

            app = cast("ASGIApp", ASGIStaticFilesHandler(app))  # type: ignore[arg-type]
        return app

    def inner_run(self, *args: Any, **options: Any) -> None:
        # Like Django's inner_run, with uvicorn in place of the WSGI server.
        autoreload.raise_last_exception()
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            self.check(display_num_errors=True)
        self.check_migrations()
        for connection in connections.all(initialized_only=True):
            connection.close()

        app = self.get_asgi_application(**options)
        host = self.addr if not self._raw_ipv6 else self.addr.strip("[]")
        if host == "0":
            host = "0.0.0.0"
        display = f"[{host}]" if self._raw_ipv6 else host
        quit_command = "CTRL-BREAK" if sys.platform == "win32" else "CONTROL-C"
        self.stdout.write(
            f"{datetime.now().strftime('%B %d, %Y - %X')}\n"
            f"Django version {self.get_version()}, using settings {settings.SETTINGS_MODULE!r}\n"
            f"Starting Courant development server (HTTP and WebSocket) at "
            f"http://{display}:{self.port}/\n"
            f"Quit the server with {quit_command}.\n"
        )
        config = uvicorn.Config(app, host=host, port=int(self.port), **uvicorn_options())
        server = uvicorn.Server(config)
        try:
            server.run()
        except KeyboardInterrupt:
            sys.exit(0)
        if not server.started:
            # uvicorn has logged why (port in use, ...). Like Django's runserver, leave
            # with an OS exit: sys.exit() would only end this thread under autoreload.
            os._exit(1)

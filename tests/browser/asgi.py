"""The test project's application, plus its static files (courant.js, the chat page's
scripts), which uvicorn does not serve by itself: ``runserver`` does in development, a
web server or WhiteNoise in production."""

import os
from typing import cast

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

import courant
from courant.types import ASGIApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

# Django's handler is typed more loosely than an ASGI callable; it is one.
static = cast("ASGIApp", ASGIStaticFilesHandler(get_asgi_application()))
application = courant.asgi_application(routes="tests.routing.routes", http=static)

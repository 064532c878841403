"""The application live tests serve with uvicorn: the example's routes and the tests'."""

import os

import courant

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

application = courant.asgi_application(routes="tests.routing.routes")

"""The ASGI application: Django for HTTP, Courant consumers for WebSockets.

Serve it with ``python manage.py runserver`` in development, or in production with
``uvicorn example.asgi:application`` (see docs/deployment.md).
"""

import os

import courant

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")

# The routes are named by dotted path so they are imported after Django is set up.
application = courant.asgi_application(routes="example.routing.routes")

# mysite/asgi.py
import os

import courant

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = courant.asgi_application(routes="rooms.routing.routes")

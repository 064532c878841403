# mysite/settings.py (the lines to add)
INSTALLED_APPS = [
    "courant",  # first, or at least before django.contrib.staticfiles
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rooms",
]

ASGI_APPLICATION = "mysite.asgi.application"

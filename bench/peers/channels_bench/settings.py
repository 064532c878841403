"""Settings of the Channels peer. The environment chooses the channel layer:

- ``BENCH_CHANNEL_LAYER``: ``core`` (channels_redis RedisChannelLayer) or ``pubsub``
  (channels_redis RedisPubSubChannelLayer);
- ``BENCH_REDIS_URL``: e.g. ``redis://127.0.0.1:6379/0``;
- ``BENCH_REDIS_PREFIX``: the key prefix of this run, so its keys can be deleted after;
- ``BENCH_DB_PATH``: an SQLite file (sessions and users are set up, as in any project,
  but the benchmark's anonymous sockets never query them).
"""

from __future__ import annotations

import os

SECRET_KEY = "channels-bench-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]

ROOT_URLCONF = "channels_bench.urls"
ASGI_APPLICATION = "channels_bench.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB_PATH", ":memory:"),
    }
}

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _LAYERS[os.environ.get("BENCH_CHANNEL_LAYER", "core")],
        "CONFIG": {
            "hosts": [os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": os.environ.get("BENCH_REDIS_PREFIX", "channels-bench"),
        },
    }
}

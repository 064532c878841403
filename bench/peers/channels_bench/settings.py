"""Settings of the Channels peer. The environment chooses the channel layer:

- ``BENCH_CHANNEL_LAYER``: ``memory`` (Channels' InMemoryChannelLayer, one process
  only), ``core`` (channels_redis RedisChannelLayer) or ``pubsub`` (channels_redis
  RedisPubSubChannelLayer), each with its default options but one: the Redis connection
  pool may hold 1,000 connections, not redis-py's default of 100. Each ``group_add``
  takes a connection from that pool, and at 100 handshakes in flight the default pool
  refuses some of them ("Too many connections"), as a deployment would find and fix;
- ``BENCH_REDIS_URL``: e.g. ``redis://127.0.0.1:6379/0``;
- ``BENCH_REDIS_PREFIX``: the key prefix of this run, so its keys can be deleted after;
- ``BENCH_DB_PATH``: an SQLite file (sessions and users are set up, as in any project,
  but the benchmark's anonymous sockets never query them).
"""

from __future__ import annotations

import os
from typing import Any

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

_LAYER = os.environ.get("BENCH_CHANNEL_LAYER", "core")
_REDIS_LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}

CHANNEL_LAYERS: dict[str, dict[str, Any]]
if _LAYER == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": _REDIS_LAYERS[_LAYER],
            "CONFIG": {
                "hosts": [
                    {
                        "address": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
                        "max_connections": 1000,
                    }
                ],
                "prefix": os.environ.get("BENCH_REDIS_PREFIX", "channels-bench"),
            },
        }
    }

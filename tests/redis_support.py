"""Finding the test Redis, and keeping each test's keys apart.

Tests of the Redis engine talk to a real Redis: ``COURANT_TEST_REDIS`` (default
``redis://127.0.0.1:6379/0``). Where none answers they are skipped, saying why, except
when ``COURANT_REQUIRE_REDIS=1`` (CI sets it): then a missing Redis fails them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from .live import free_port

REDIS_URL = os.environ.get("COURANT_TEST_REDIS", "redis://127.0.0.1:6379/0")


@functools.cache
def _unreachable() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        return f"no Redis answers at {REDIS_URL} ({exc})"
    return None


def require_redis() -> None:
    """Skip the calling test without Redis, or fail it if CI requires one."""
    reason = _unreachable()
    if reason is None:
        return
    if os.environ.get("COURANT_REQUIRE_REDIS") == "1":
        pytest.fail(f"COURANT_REQUIRE_REDIS=1 but {reason}")
    pytest.skip(f"{reason}; start redis-server or set COURANT_TEST_REDIS to run these tests")


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def new_prefix() -> str:
    return f"courant-test-{uuid.uuid4().hex[:12]}:"


def delete_keys(url: str, prefix: str) -> None:
    """Remove every key a test created under ``prefix``."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except (redis.RedisError, OSError):
        pass  # a server a test stopped on purpose
    finally:
        client.close()


@dataclass
class RedisProcess:
    """A redis-server of a test's own, on a free port, stopped by process id."""

    port: int
    directory: Path
    #: Keep data across restarts (append-only file, synced on every write).
    persistent: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("COURANT_REQUIRE_REDIS") == "1":
                pytest.fail("COURANT_REQUIRE_REDIS=1 but redis-server is not installed")
            pytest.skip("redis-server is not installed; these tests start their own")
        if self.persistent:
            persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            persistence = ["--appendonly", "no"]
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += [*persistence, "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        while True:
            try:
                client.ping()
                break
            except (redis.RedisError, OSError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def own_redis(directory: Path, *, persistent: bool = False) -> Iterator[RedisProcess]:
    server = RedisProcess(free_port(), directory, persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()

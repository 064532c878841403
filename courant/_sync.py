"""Running sync code beside the event loop, and reaching the loop from sync code.

Sync handlers run on a small pool of single-thread executors. Each connection is pinned
to one of them, so all of its sync handlers run on one thread, one at a time (the ORM's
thread-sensitivity holds), while the pool bounds how many threads a process uses however
many connections it serves. Django's database connection handling wraps every call, as it
wraps every request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync
from django.db import close_old_connections, connections

from .conf import get_settings

T = TypeVar("T")

_pool: list[concurrent.futures.ThreadPoolExecutor] = []
_pool_lock = threading.Lock()
_next = itertools.count()


def executor_for_connection() -> concurrent.futures.ThreadPoolExecutor:
    """Pick the executor a new connection's sync handlers will run on (round robin)."""
    if not _pool:
        with _pool_lock:
            if not _pool:
                _pool.extend(
                    concurrent.futures.ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix=f"courant-sync-{index}"
                    )
                    for index in range(get_settings().sync_threads)
                )
    return _pool[next(_next) % len(_pool)]


def close_thread_connections() -> None:
    """Close the database connections the worker threads hold (at shutdown; and between
    tests, whose databases come and go)."""
    for future in [executor.submit(connections.close_all) for executor in _pool]:
        future.result()


def _with_db_handling(function: Callable[..., T], *args: Any) -> T:
    # What Django does around each request: drop connections that are broken or past
    # CONN_MAX_AGE, before and after the work.
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


async def run_sync(
    executor: concurrent.futures.ThreadPoolExecutor, function: Callable[..., T], *args: Any
) -> T:
    """Run a sync ``function`` on ``executor`` with Django's database handling.

    asgiref's SyncToAsync carries context variables across and lets ``async_to_sync``
    inside ``function`` find this event loop again.
    """
    runner: SyncToAsync[..., T] = SyncToAsync(
        _with_db_handling, thread_sensitive=False, executor=executor
    )
    return await runner(function, *args)


def call_on_loop(loop: asyncio.AbstractEventLoop, function: Callable[..., T], *args: Any) -> T:
    """Call ``function(*args)`` on ``loop``'s thread and return its result.

    From the loop's own thread this is a plain call. From any other thread it waits until
    the loop has run the call, so exceptions reach the caller and calls keep their order.
    """
    if on_loop_thread(loop):
        return function(*args)
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as exc:
            future.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return future.result()


def refuse_on_a_loop(name: str) -> None:
    """Raise if called where an event loop runs: the sync twin ``courant.<name>()`` would
    block it; async code has ``courant.a<name>()``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"courant.{name}() is for sync code; in async code use `await courant.a{name}(...)`"
    )


def on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """True when called from the thread running ``loop``."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False

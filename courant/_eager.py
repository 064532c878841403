"""Running an awaitable eagerly: its first step at once, in the caller.

A connection writes a frame with nothing queued ahead of it without a task step:
scheduling one costs more than the write itself, and almost every write completes
without waiting (the kernel takes the bytes). So the ASGI ``send`` starts right away,
as a task would, and is handed to the connection's own writer task only if it has to
wait (the client is slow and the transport pushed back). Python 3.12's eager tasks do
the same for a new task; here no task is created at all. Fan-out steps one loop over
all the subscribers this way (``courant.connection.hand_out``), not one send each.

The first step runs in the caller's task (or in no task, from an engine's I/O callback),
so it must not depend on ``asyncio.current_task()``. ASGI servers' ``send`` callables do
not: uvicorn's three WebSocket implementations write to the transport and wait only on a
flow-control event or future, which :func:`resume` then waits for in the writer task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Generator
from types import CoroutineType
from typing import Any, NamedTuple


class Suspended(NamedTuple):
    """An awaitable stopped at its first wait: what it yielded to its (absent) task."""

    iterator: Generator[Any, None, Any] | Coroutine[Any, None, Any]
    #: A future to wait for, or ``None`` for a bare yield (``asyncio.sleep(0)``).
    awaiting: asyncio.Future[Any] | None


def step(awaitable: Awaitable[Any]) -> Suspended | None:
    """Run ``awaitable`` until it finishes (return ``None``) or waits (return where it
    stopped, for :func:`resume`). Its exceptions propagate."""
    # A coroutine is its own iterator: the common case, with no __await__ wrapper.
    iterator: Generator[Any, None, Any] = (
        awaitable if type(awaitable) is CoroutineType else awaitable.__await__()  # type: ignore[assignment]
    )
    try:
        awaiting = iterator.send(None)
    except StopIteration:
        return None
    return Suspended(iterator, awaiting)


async def resume(suspended: Suspended) -> None:
    """Finish what :func:`step` left waiting. If the calling task is cancelled meanwhile,
    the awaitable is closed."""
    iterator, awaiting = suspended
    try:
        while True:
            if awaiting is None:
                await asyncio.sleep(0)
            else:
                # As a task would: the future was handed over by ``await``, and the
                # awaitable reads its outcome (result or exception) when resumed.
                awaiting._asyncio_future_blocking = False
                await asyncio.wait((awaiting,))
            awaiting = iterator.send(None)
    except StopIteration:
        return
    except BaseException:
        iterator.close()
        raise

"""What one publish costs the publishing process, engine by engine: a diagnostic for the
per-message part of the fan-out figures, with no sockets to clients.

    .venv/bin/python bench/publish_cost.py                    # memory and Redis engines
    .venv/bin/python bench/publish_cost.py --count 20000 --redis-url redis://127.0.0.1:6379/0

Publishes ``--count`` messages of ``--size`` bytes to one topic nobody subscribes to, first
one after another, then ``--batch`` at a time (as concurrent requests of one process
would), and prints the process's CPU time per publish. The Redis engine's keys go under a
prefix of their own, deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time

from courant.conf import Settings
from courant.engines import Engine, create_engine
from courant.message import Kind


async def measure(engine: Engine, count: int, batch: int, payload: str) -> tuple[float, float]:
    """CPU µs per publish: one after another, then ``batch`` at a time."""
    await engine.publish("cost", Kind.TEXT, payload)  # connect, load the script
    started = time.process_time()
    for _ in range(count):
        await engine.publish("cost", Kind.TEXT, payload)
    one_by_one = (time.process_time() - started) / count * 1e6
    started = time.process_time()
    for _ in range(count // batch):
        await asyncio.gather(*(engine.publish("cost", Kind.TEXT, payload) for _ in range(batch)))
    overlapping = (time.process_time() - started) / (count // batch * batch) * 1e6
    return one_by_one, overlapping


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if not 1 <= args.batch <= args.count <= 1_000_000:
        parser.error("need 1 <= --batch <= --count <= 1,000,000")
    payload = "x" * args.size
    prefix = f"courant-bench-{secrets.token_hex(4)}:"
    engines = {
        "memory": "memory://",
        "redis": f"{args.redis_url}{'&' if '?' in args.redis_url else '?'}prefix={prefix}",
    }
    batched = f"{args.batch} at a time"
    print(f"{'engine':>8}  {'one by one':>12}  {batched:>14}   (CPU µs per publish)")
    for name, url in engines.items():
        engine = create_engine([url], Settings())
        try:
            async with asyncio.timeout(300):
                one_by_one, overlapping = await measure(engine, args.count, args.batch, payload)
        finally:
            if name == "redis":
                await clean(args.redis_url, prefix)
            await engine.close()
        print(f"{name:>8}  {one_by_one:>12.1f}  {overlapping:>14.1f}")
    return 0


async def clean(url: str, prefix: str) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


if __name__ == "__main__":
    import uvloop

    sys.exit(uvloop.run(main()))

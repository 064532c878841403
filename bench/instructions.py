"""Instructions per delivery, counted by callgrind: a figure that does not move with the
load on a shared machine, for comparing the fan-out path of two commits or two servers.

    .venv/bin/python bench/instructions.py                  # raw-asgi and courant-memory
    .venv/bin/python bench/instructions.py --servers courant-memory --messages 100

Each server runs under ``valgrind --tool=callgrind`` with counting off. Clients join one
room with compression off (as the load generator's are), a few messages warm it up, then
counting is switched on (``callgrind_control -i on``) for ``--messages`` messages, sent
one at a time, each waited for on every socket. That is done twice, with ``--small`` and
``--large`` subscribers, so the per-delivery cost is the slope between the two runs and
the per-message cost what is left. User-space instructions only: the kernel's socket work,
most of a delivery's CPU time and the same for every server, is not in them.

Needs valgrind (Debian's package). Slow: about a minute per server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import websockets
from harness import MAIN_PYTHON, ROOT
from servers import EXAMPLE, PEERS

WARM_UP = 5


def server_command(server: str, port: int, out: Path) -> tuple[list[str], Path, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COURANT_ENGINE")}
    if server == "raw-asgi":
        app, cwd = "rawasgi:app", PEERS
        env["PYTHONPATH"] = str(PEERS)
    elif server == "courant-memory":
        app, cwd = "example.asgi:application", EXAMPLE
        env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT), str(EXAMPLE)]),
            DJANGO_SETTINGS_MODULE="example.settings",
            DJANGO_DEBUG="0",
            EXAMPLE_DB_PATH=str(out.with_suffix(".sqlite3")),
        )
    else:
        raise SystemExit(f"unknown server {server!r}: raw-asgi or courant-memory")
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        str(MAIN_PYTHON),
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--ws-ping-interval",
        "0",
    ]
    return command, cwd, env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def counting(pid: int, switch: str) -> None:
    """Switch callgrind's counting in process ``pid`` on or off."""
    subprocess.run(["callgrind_control", "-i", switch, str(pid)], check=True, capture_output=True)


async def drive(port: int, pid: int, subscribers: int, messages: int) -> None:
    for _ in range(1200):  # the server starts about 50 times slower under valgrind
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    url = f"ws://127.0.0.1:{port}/ws/bench/r0/"
    sockets = [
        await websockets.connect(url, open_timeout=60, ping_interval=None, compression=None)
        for _ in range(subscribers)
    ]

    async def publish(text: str) -> None:
        await sockets[0].send(text)
        for client in sockets:
            received = await asyncio.wait_for(client.recv(), 60)
            assert received == text, f"{received!r} arrived for {text!r}"

    for index in range(WARM_UP):
        await publish(f"warm {index:03d}".ljust(100, "w"))
    await asyncio.to_thread(counting, pid, "on")
    for index in range(messages):
        await publish(f"{index:04d}".ljust(100, "x"))
    await asyncio.to_thread(counting, pid, "off")
    for client in sockets:
        await client.close()


def count(server: str, subscribers: int, messages: int, work: Path) -> int:
    """Instructions the server ran for ``messages`` messages to ``subscribers``."""
    out = work / f"{server}-{subscribers}.cg"
    port = free_port()
    command, cwd, env = server_command(server, port, out)
    process = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(drive(port, process.pid, subscribers, messages))
    finally:
        process.terminate()
        process.wait(timeout=60)
    totals = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
    if totals is None:
        raise SystemExit(f"no totals in {out}")
    return int(totals.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="raw-asgi,courant-memory")
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--small", type=int, default=20, help="subscribers in the first run")
    parser.add_argument("--large", type=int, default=200, help="subscribers in the second run")
    options = parser.parse_args()
    print(f"{'server':>16} {'instr/delivery':>15} {'instr/message':>14}")
    with tempfile.TemporaryDirectory(prefix="courant-instructions-") as work:
        for server in options.servers.split(","):
            small = count(server, options.small, options.messages, Path(work))
            large = count(server, options.large, options.messages, Path(work))
            per_delivery = (large - small) / ((options.large - options.small) * options.messages)
            per_message = small / options.messages - per_delivery * options.small
            print(f"{server:>16} {per_delivery:>15,.0f} {per_message:>14,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

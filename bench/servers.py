"""The servers under test. Each serves ``ws://127.0.0.1:PORT/ws/bench/<room>/``: a socket
joins room <room>, and every text frame it sends reaches every socket of the room, its
own included, verbatim. The Socket.IO peer serves the same contract in its own protocol
(see loadgen.SocketIOSession). All run on uvicorn with the flags of docs/deployment.md."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import (
    BENCH,
    MAIN_PYTHON,
    PEERS_PYTHON,
    ROOT,
    BenchError,
    Process,
    Unavailable,
    free_port,
    wait_for_port,
)

#: What docs/deployment.md passed when this harness was written; used only if the page
#: can no longer be read.
FALLBACK_FLAGS = ["--ws-max-size", "1048576", "--ws-ping-interval", "20", "--ws-ping-timeout", "20"]


def deployment_flags() -> list[str]:
    """The uvicorn flags of the production command in docs/deployment.md, less the
    address and port (the benchmark binds 127.0.0.1 on free ports)."""
    try:
        text = (ROOT / "docs" / "deployment.md").read_text()
    except OSError:
        return list(FALLBACK_FLAGS)
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        command = block.replace("\\\n", " ").split()
        if len(command) > 2 and command[0] == "uvicorn":
            flags, rest = [], command[2:]
            while rest:
                token = rest.pop(0)
                value = rest.pop(0) if rest and not rest[0].startswith("--") else None
                if token in ("--host", "--port"):
                    continue
                flags += [token] if value is None else [token, value]
            return flags
    return list(FALLBACK_FLAGS)


@dataclass(frozen=True)
class Context:
    """What every server of one run shares."""

    redis_url: str  # redis://host:port/db
    prefix: str  # unique to this run; every Redis key and channel it makes starts with it
    work_dir: Path  # logs and scratch files of this run
    flags: tuple[str, ...]  # uvicorn flags, from docs/deployment.md


def base_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "COURANT_ENGINE", "VIRTUAL_ENV")
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class ServerSpec:
    name: str
    processes: int  # uvicorn processes; socket i connects to process i % processes
    python: Path
    app: str
    cwd: Path
    summary: str
    env: Callable[[Context], dict[str, str]]
    preflight: Callable[[Context], None] | None = None
    protocol: str = "plain"  # or "socketio": how the load generator talks to it

    def url(self, port: int, room: int) -> str:
        """Where a socket connects to join room number ``room``."""
        if self.protocol == "socketio":
            return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&room=r{room}"
        return f"ws://127.0.0.1:{port}/ws/bench/r{room}/"

    def topics_url(self, port: int) -> str:
        """Courant's topics endpoint (the presence scenario; Courant servers only)."""
        return f"ws://127.0.0.1:{port}/courant/"

    def start(self, context: Context, label: str) -> list[tuple[Process, int]]:
        """Start every process of this server on a free port; return them with their
        ports once all listen. The caller stops them (also when this raises)."""
        if not self.python.exists():
            raise BenchError(f"{self.name}: {self.python} does not exist")
        if self.preflight is not None:
            self.preflight(context)
        started: list[tuple[Process, int]] = []
        try:
            for index in range(self.processes):
                port = free_port()
                command = [
                    str(self.python), "-m", "uvicorn", self.app,
                    "--host", "127.0.0.1", "--port", str(port), *context.flags,
                ]  # fmt: skip
                process = Process(
                    f"{self.name}[{index}]",
                    command,
                    cwd=self.cwd,
                    env=self.env(context),
                    log_path=context.work_dir / f"{label}-{self.name}-{index}.log",
                )
                started.append((process, port))
            for process, port in started:
                wait_for_port(process, port, timeout=60)
        except BaseException:
            for process, _ in started:
                process.stop()
            raise
        return started


# -- Courant -----------------------------------------------------------------------------

EXAMPLE = ROOT / "example"


def courant_env(context: Context, engine: str | None) -> dict[str, str]:
    # The checkout's root first: a worktree measures its own courant/, not the one
    # installed in the virtualenv (an editable install of another checkout, say).
    env = base_env(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(EXAMPLE)]),
        DJANGO_SETTINGS_MODULE="example.settings",
        DJANGO_DEBUG="0",
        EXAMPLE_DB_PATH=str(context.work_dir / "courant.sqlite3"),
    )
    if engine is not None:
        env["COURANT_ENGINE"] = engine
    return env


def courant_redis_url(context: Context) -> str:
    return f"{context.redis_url}?prefix={context.prefix}courant:"


def courant_redis_preflight(context: Context) -> None:
    """Fail at once, and say why, when this checkout has no Redis engine yet: Django's
    system checks (courant.E002) know which engines exist."""
    done = subprocess.run(
        [str(MAIN_PYTHON), "-m", "django", "check"],
        cwd=EXAMPLE,
        env=courant_env(context, courant_redis_url(context)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        output = (done.stderr or done.stdout).strip()
        reason = next((line for line in output.splitlines() if "courant.E" in line), output)
        raise Unavailable(
            "this checkout has no Redis engine for COURANT_ENGINE=redis://... (manage.py "
            f"check says: {reason.strip().removeprefix('?: ')})"
        )


# -- Channels ----------------------------------------------------------------------------

PEERS = BENCH / "peers"


def channels_env(layer: str) -> Callable[[Context], dict[str, str]]:
    def env(context: Context) -> dict[str, str]:
        return base_env(
            PYTHONPATH=str(PEERS),
            DJANGO_SETTINGS_MODULE="channels_bench.settings",
            BENCH_CHANNEL_LAYER=layer,
            BENCH_REDIS_URL=context.redis_url,
            BENCH_REDIS_PREFIX=f"{context.prefix}channels-{layer}:",
            BENCH_DB_PATH=str(context.work_dir / "channels.sqlite3"),
        )

    return env


def channels(name: str, processes: int, layer: str, summary: str) -> ServerSpec:
    return ServerSpec(
        name,
        processes,
        PEERS_PYTHON,
        "channels_bench.asgi:application",
        PEERS,
        f"Django Channels 4, {summary}",
        channels_env(layer),
    )


def courant_redis(name: str, processes: int) -> ServerSpec:
    return ServerSpec(
        name,
        processes,
        MAIN_PYTHON,
        "example.asgi:application",
        EXAMPLE,
        "Courant example project, Redis engine",
        lambda context: courant_env(context, courant_redis_url(context)),
        courant_redis_preflight,
    )


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in [
        ServerSpec(
            "raw-asgi",
            1,
            MAIN_PYTHON,
            "rawasgi:app",
            PEERS,
            "bare ASGI app, per-room sets of send callables (the ceiling)",
            lambda context: base_env(PYTHONPATH=str(PEERS)),
        ),
        ServerSpec(
            "courant-memory",
            1,
            MAIN_PYTHON,
            "example.asgi:application",
            EXAMPLE,
            "Courant example project, memory engine",
            lambda context: courant_env(context, None),
        ),
        courant_redis("courant-redis", 1),
        courant_redis("courant-redis-2p", 2),
        channels("channels-memory", 1, "memory", "InMemoryChannelLayer"),
        channels("channels-redis", 1, "core", "channels_redis RedisChannelLayer"),
        channels("channels-redis-2p", 2, "core", "channels_redis RedisChannelLayer"),
        channels("channels-pubsub", 1, "pubsub", "channels_redis RedisPubSubChannelLayer"),
        ServerSpec(
            "socketio",
            1,
            PEERS_PYTHON,
            "socketio_bench:app",
            PEERS,
            "python-socketio AsyncServer (ASGI), rooms, default in-memory manager",
            lambda context: base_env(PYTHONPATH=str(PEERS)),
            protocol="socketio",
        ),
    ]
}

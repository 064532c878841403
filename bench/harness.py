"""Processes, CPU accounting and Redis housekeeping for the benchmark.

Standard library only: the harness runs on any Python 3.11 and starts each server with
the interpreter of the virtualenv that server belongs to.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
#: The project's Python: the checkout's .venv, or, in a checkout without one (a git
#: worktree, say), the Python running the harness. Courant's servers import the
#: checkout's own courant/ either way (servers.courant_env).
MAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
if not MAIN_PYTHON.exists():
    MAIN_PYTHON = Path(sys.executable)
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
PEERS_REQUIREMENTS = BENCH / "requirements-peers.txt"
OPTIONAL_MARKER = "# -- optional"

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A failure the harness explains in one message (no traceback needed)."""


class Unavailable(BenchError):
    """A server that cannot run in this checkout (checked before it starts)."""


# -- the peers' virtualenv ---------------------------------------------------------------


def _requirements() -> tuple[list[str], list[str]]:
    """The required and the optional pins of requirements-peers.txt."""
    required: list[str] = []
    optional: list[str] = []
    target = required
    for line in PEERS_REQUIREMENTS.read_text().splitlines():
        if line.startswith(OPTIONAL_MARKER):
            target = optional
        spec = line.split("#", 1)[0].strip()
        if spec:
            target.append(spec)
    return required, optional


def ensure_peers_venv(*, log: Path) -> None:
    """Create bench/.venv-peers and install the pinned peers, unless already done for
    this exact requirements file. An optional pin that fails to install is left out."""
    digest = hashlib.sha256(PEERS_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = PEERS_VENV / ".installed"
    if stamp.exists() and stamp.read_text().strip() == digest and PEERS_PYTHON.exists():
        return
    required, optional = _requirements()
    print(f"Installing the peers into {PEERS_VENV.relative_to(ROOT)} (log: {log}) ...")
    with open(log, "ab") as out:
        if not PEERS_PYTHON.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, stdout=out, stderr=out
            )
        pip = [str(PEERS_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        if subprocess.run([*pip, *required], stdout=out, stderr=out).returncode:
            raise BenchError(f"pip could not install the pinned peers; see {log}")
        if optional and subprocess.run([*pip, *optional], stdout=out, stderr=out).returncode:
            print(
                f"  note: {' '.join(optional)} did not install; the load generator will use "
                "websockets instead"
            )
    stamp.write_text(digest + "\n")


def package_versions(python: Path, names: Sequence[str]) -> dict[str, str | None]:
    """Installed versions of ``names`` in the environment of ``python``."""
    code = (
        "import json, sys\n"
        "from importlib.metadata import version, PackageNotFoundError\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try: out[name] = version(name)\n"
        "    except PackageNotFoundError: out[name] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", code, *names], capture_output=True, text=True, timeout=60
    )
    if done.returncode:
        raise BenchError(f"{python} could not report package versions:\n{done.stderr}")
    versions: dict[str, str | None] = json.loads(done.stdout)
    return versions


def raise_open_files_limit() -> int:
    """Let this process and its children open as many sockets as the hard limit allows."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 65536 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A child process in its own process group, logging to a file, stopped by pid."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str],
        log_path: Path,
        pipes: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else log,
                stderr=log,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _exited(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to exit, without reaping it: a
        zombie keeps its pid, and so its process group's id, from being reused."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    return True
            except ChildProcessError:
                return True  # already reaped
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, grace: float = 0.0, timeout: float = 10) -> None:
        """Give the process ``grace`` seconds to exit by itself, then SIGTERM its process
        group, then SIGKILL it after ``timeout`` seconds. Whatever else is left in the
        group (workers, reloaders) is killed before the leader is reaped."""
        if self.popen.returncode is None:
            if not self._exited(grace):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGTERM)
                if not self._exited(timeout):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.pid, signal.SIGKILL)
                    self._exited(timeout)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def wait_for_port(process: Process, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise BenchError(
                f"{process.name} exited with {process.popen.returncode} before listening "
                f"on {port}:\n{process.log_tail()}"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise BenchError(
        f"{process.name} did not listen on {port} within {timeout:.0f}s:\n{process.log_tail()}"
    )


# -- CPU accounting from /proc -----------------------------------------------------------


@dataclass(frozen=True)
class Cpu:
    """CPU time of a process tree, in seconds: ``stat`` from /proc/<pid>/stat (user + sys,
    clock-tick resolution), ``sched`` from the scheduler's per-thread run time
    (/proc/<pid>/task/<tid>/schedstat, nanosecond resolution)."""

    stat: float = 0.0
    sched: float = 0.0

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.stat + other.stat, self.sched + other.sched)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.stat - other.stat, self.sched - other.sched)


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces and parentheses: split after it.
    return text[text.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _sched_seconds(pid: int) -> float:
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def tree_cpu(pid: int) -> Cpu:
    """User + system CPU of ``pid``, all its threads, its live descendants, and the
    children it has already reaped. A process that is gone counts as zero."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return Cpu()
    # Fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 here.
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    cpu = Cpu((utime + stime + cutime + cstime) / CLOCK_TICKS, _sched_seconds(pid))
    for child in _children(pid):
        cpu += tree_cpu(child)
    return cpu


def tree_rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of ``pid`` and its live descendants, in KiB. Pages that
    processes of the tree share are counted once per process."""
    rss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return rss + sum(tree_rss_kib(child) for child in _children(pid))


def machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


# -- a tiny Redis client (RESP2 over a socket) -------------------------------------------


class Redis:
    """Just enough Redis for the harness: PING, INFO, SCAN and UNLINK."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise BenchError(f"--redis-url must be redis://host:port/db, not {url!r}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.db = int(parts.path.strip("/") or 0)
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise BenchError(f"Redis is not reachable at {self.host}:{self.port}: {exc}") from None
        self.file = self.sock.makefile("rb")
        if self.db:
            self.command("SELECT", str(self.db))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()

    def command(self, *args: str) -> Any:
        payload = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            payload.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(payload))
        return self._reply()

    def _reply(self) -> Any:
        line = self.file.readline()
        if not line:
            raise BenchError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise BenchError(f"Redis error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.file.read(size + 2)[:-2]
            return data.decode(errors="replace")
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise BenchError(f"unexpected Redis reply {line!r}")

    def info(self, section: str) -> dict[str, str]:
        text: str = self.command("INFO", section)
        pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return dict(pairs)

    def cpu_seconds(self) -> float:
        """The Redis server's own user + system CPU (not its forked children)."""
        info = self.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def keys_with_prefix(self, prefix: str) -> Iterator[str]:
        pattern = "".join(f"\\{char}" if char in "*?[]\\" else char for char in prefix) + "*"
        cursor = "0"
        for _ in range(100_000):  # bounded: SCAN ends long before this on any real DB
            cursor, keys = self.command("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            yield from keys
            if cursor == "0":
                return

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key of the selected DB that starts with ``prefix``."""
        keys = list(self.keys_with_prefix(prefix))
        deleted = 0
        for start in range(0, len(keys), 500):
            deleted += int(self.command("UNLINK", *keys[start : start + 500]))
        return deleted

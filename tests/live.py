"""Real servers for live tests: uvicorn (or runserver, or gunicorn) in a subprocess on a
free port of 127.0.0.1, stopped by process id; and clients that talk to them for real."""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(
    db_path: Path, courant: dict[str, Any] | None = None, **extra: str
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "example")]),
        DJANGO_SETTINGS_MODULE="tests.settings",
        EXAMPLE_DB_PATH=str(db_path),
        COURANT_TEST_SETTINGS=json.dumps(courant or {}),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Server:
    """A server process serving the test project."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    host: str = "127.0.0.1"
    cookies: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    @property
    def http(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"server did not listen on {port} within {timeout}s:\n{log_path.read_text()}"
    )


def stop(process: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """Stop a server by its process id (its process group, for a reloader's children)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=10)


@contextlib.contextmanager
def serve(
    command: Sequence[str],
    *,
    port: int,
    env: dict[str, str],
    log_dir: Path,
    cwd: Path = ROOT,
    group: bool = False,
) -> Iterator[Server]:
    log_path = log_dir / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=group,
        )
    try:
        wait_for_port(port, process, log_path)
        yield Server(port, process, log_path)
    finally:
        stop(process, group=group)


#: The flags docs/deployment.md gives for production (Courant's default limits).
DEPLOYMENT_FLAGS = [
    "--ws-max-size",
    "1048576",
    "--ws-ping-interval",
    "20",
    "--ws-ping-timeout",
    "20",
]


def uvicorn_command(port: int, *options: str, app: str = "tests.asgi:application") -> list[str]:
    """The documented production command, on a test port; later ``options`` win."""
    return [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        *DEPLOYMENT_FLAGS, *options,
    ]  # fmt: skip


# -- HTTP as a browser does it: cookies and CSRF -----------------------------------------


class Browser:
    """Cookie-keeping HTTP client that logs in through the real login form."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.server.http + path, timeout=10) as response:
            return str(response.read().decode())

    def post(
        self,
        path: str,
        data: dict[str, str],
        *,
        form_page: str | None = None,
        accept: str = "text/html",
    ) -> tuple[int, str]:
        """POST ``data`` with the CSRF token read from ``form_page`` (default: ``path``)."""
        page = self.get(form_page or path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, f"no CSRF token on {form_page or path}"
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token.group(1)}).encode()
        request = urllib.request.Request(
            self.server.http + path,
            data=body,
            headers={"Referer": self.server.http + path, "Accept": accept},
            method="POST",
        )
        with self.opener.open(request, timeout=10) as response:
            return int(response.status), str(response.read().decode())

    def login(self, username: str, password: str = "courant-demo") -> Browser:
        self.post("/login/", {"username": username, "password": password})
        assert "sessionid" in self.cookie_header(), f"login as {username} failed"
        return self

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


# -- a WebSocket client that misbehaves on purpose ----------------------------------------


def raw_websocket(server: Server, path: str, *, receive_buffer: int | None = None) -> socket.socket:
    """Open a WebSocket by hand and return the socket right after the handshake.

    The ``websockets`` library always reads and always answers pings; this socket does
    neither until the test reads it, which is what a stuck or dead client looks like.
    """
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        response += chunk
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def read_frames(sock: socket.socket, timeout: float) -> Iterator[tuple[int, bytes]]:
    """Yield (opcode, payload) of unmasked server frames until the server closes the socket
    or ``timeout`` passes without data (then TimeoutError)."""
    sock.settimeout(timeout)
    buffer = b""

    def need(count: int) -> bytes:
        nonlocal buffer
        while len(buffer) < count:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError
            buffer += chunk
        data, buffer = buffer[:count], buffer[count:]
        return data

    while True:
        try:
            head = need(2)
        except EOFError:
            return
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", need(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", need(8))[0]
        try:
            payload = need(length)
        except EOFError:
            return
        yield opcode, payload

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from courant._sync import close_thread_connections
from courant.hub import reset_hub

from .live import ROOT, Server, free_port, serve, server_env, uvicorn_command


@pytest.fixture(autouse=True)
def fresh_hub() -> Iterator[None]:
    """Each test starts with a new hub, so no test sees another's topics."""
    reset_hub()
    yield
    reset_hub()
    close_thread_connections()


@pytest.fixture(scope="session")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database (with the demo users) for server processes."""
    path = tmp_path_factory.mktemp("db") / "live.sqlite3"
    subprocess.run(
        [sys.executable, "example/manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=server_env(path),
        check=True,
    )
    return path


@pytest.fixture
def uvicorn_server(live_db: Path, tmp_path: Path) -> Iterator[Server]:
    """The test project on uvicorn, run as docs/deployment.md says, on a free port."""
    port = free_port()
    with serve(
        uvicorn_command(port), port=port, env=server_env(live_db), log_dir=tmp_path
    ) as server:
        yield server

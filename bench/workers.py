"""Driving the load-generator processes (bench/loadgen.py) from the harness."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import BENCH, PEERS_PYTHON, BenchError, Process
from servers import base_env


class LoadWorker:
    """One load-generator process, run by the peers' Python.

    A reader thread files every event the process prints under its name, and under
    ``name:round`` when it carries a round, so that an event of an earlier round is never
    taken for the current one.
    """

    def __init__(
        self, index: int, config: dict[str, Any], *, log_path: Path, lifetime: float
    ) -> None:
        self.index = index
        self.process = Process(
            f"loadgen[{index}]",
            [str(PEERS_PYTHON), str(BENCH / "loadgen.py"), "--lifetime", str(int(lifetime))],
            cwd=BENCH,
            env=base_env(),
            log_path=log_path,
            pipes=True,
        )
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.seen: dict[str, tuple[float, dict[str, Any]]] = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self._write(config)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        stdout = self.process.popen.stdout
        assert stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in stdout:
                with contextlib.suppress(json.JSONDecodeError):
                    self.events.put((time.monotonic(), json.loads(line)))
        self.events.put((time.monotonic(), {"event": "exit"}))

    def _write(self, message: dict[str, Any]) -> None:
        stdin = self.process.popen.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            stdin.write(json.dumps(message).encode() + b"\n")
            stdin.flush()

    def send(self, command: str, **fields: Any) -> None:
        self._write({"cmd": command, **fields})

    def wait(self, event: str, deadline: float) -> tuple[float, dict[str, Any]] | None:
        """Take the arrival time and fields of ``event`` (``name`` or ``name:round``);
        None if the deadline passes first."""
        while event not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                arrived, fields = self.events.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            name = fields.get("event", "")
            if name == "exit":
                raise BenchError(
                    f"{self.process.name} exited (code {self.process.popen.poll()}) while "
                    f"waiting for {event!r}:\n{self.process.log_tail()}"
                )
            key = f"{name}:{fields['round']}" if "round" in fields else name
            self.seen[key] = (arrived, fields)
        return self.seen.pop(event)

    def stop(self) -> None:
        self.send("quit")
        self.process.stop(grace=8)


def wait_all(
    workers: Sequence[LoadWorker], event: str, timeout: float
) -> list[tuple[float, dict[str, Any]]] | None:
    """``event`` from every worker (arrival time and fields), or None on timeout."""
    deadline = time.monotonic() + timeout
    got = []
    for worker in workers:
        one = worker.wait(event, deadline)
        if one is None:
            return None
        got.append(one)
    return got


def require_all(
    workers: Sequence[LoadWorker], event: str, timeout: float, failure: str
) -> list[tuple[float, dict[str, Any]]]:
    """``event`` from every worker; BenchError(failure) on timeout."""
    got = wait_all(workers, event, timeout)
    if got is None:
        raise BenchError(failure)
    return got

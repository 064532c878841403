"""Cross-process fan-out benchmark: Courant, Django Channels and a bare ASGI app, side by
side in one run on this machine.

    .venv/bin/python bench/run.py --scenario crossproc

For each subscriber count and each server: start the server (its processes on free
ports of 127.0.0.1), connect the subscribers split evenly across its processes, warm up,
then publish a fixed number of frames at a fixed rate from one socket and measure every
delivery. The primary figure is the server CPU per delivered message, also shown as a
ratio to the bare ASGI app measured in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from harness import (
    BENCH,
    CLOCK_TICKS,
    MAIN_PYTHON,
    PEERS_PYTHON,
    ROOT,
    BenchError,
    Cpu,
    Process,
    Redis,
    Unavailable,
    ensure_peers_venv,
    machine_cpu,
    package_versions,
    raise_open_files_limit,
    tree_cpu,
)
from servers import SERVERS, Context, base_env, deployment_flags

RESULTS = BENCH / "results"
CEILING = "raw-asgi"
DELIVERIES_PER_S = 2000


@dataclass(frozen=True)
class Scenario:
    servers: tuple[str, ...]
    subscribers: tuple[int, ...]
    rates: tuple[float, ...]  # messages per second, one per subscriber count
    messages: tuple[int, ...]  # measured messages, one per subscriber count
    room: str


SCENARIOS = {
    # The same offered load in every cell, 2,000 deliveries per second (rate x
    # subscribers), for 10-20 s: Django Channels, the dearest server, needs about a third
    # of this 2-core machine for it, so no server saturates it.
    "crossproc": Scenario(
        servers=(
            "raw-asgi",
            "courant-memory",
            "courant-redis",
            "channels-redis",
            "channels-pubsub",
        ),
        subscribers=(100, 1000),
        rates=(20, 2),
        messages=(200, 40),
        room="fanout",
    ),
}


# -- load generator processes ------------------------------------------------------------


class LoadWorker:
    """One load-generator process (bench/loadgen.py, run by the peers' Python)."""

    def __init__(
        self, index: int, config: dict[str, Any], *, work_dir: Path, label: str, lifetime: float
    ) -> None:
        self.index = index
        self.sockets = len(config["urls"])
        self.process = Process(
            f"loadgen[{index}]",
            [
                str(PEERS_PYTHON),
                str(BENCH / "loadgen.py"),
                json.dumps(config),
                "--lifetime",
                str(int(lifetime)),
            ],
            cwd=BENCH,
            env=base_env(),
            log_path=work_dir / f"{label}-loadgen-{index}.log",
            pipes=True,
        )
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.seen: dict[str, tuple[float, dict[str, Any]]] = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stdout = self.process.popen.stdout
        assert stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in stdout:
                with contextlib.suppress(json.JSONDecodeError):
                    self.events.put((time.monotonic(), json.loads(line)))
        self.events.put((time.monotonic(), {"event": "exit"}))

    def send(self, command: str, **fields: Any) -> None:
        stdin = self.process.popen.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            stdin.write(json.dumps({"cmd": command, **fields}).encode() + b"\n")
            stdin.flush()

    def wait(self, event: str, deadline: float) -> tuple[float, dict[str, Any]] | None:
        """The arrival time and fields of ``event``; None if the deadline passes first."""
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
            self.seen[name] = (arrived, fields)
        return self.seen[event]

    def stop(self) -> None:
        self.send("quit")
        self.process.stop(grace=8)


def wait_all(workers: Sequence[LoadWorker], event: str, timeout: float) -> list[float] | None:
    """Arrival times of ``event`` from every worker, or None on timeout."""
    deadline = time.monotonic() + timeout
    times = []
    for worker in workers:
        got = worker.wait(event, deadline)
        if got is None:
            return None
        times.append(got[0])
    return times


# -- one measured cell -------------------------------------------------------------------


def percentile_ms(ordered: Sequence[int], fraction: float) -> float | None:
    """Nearest-rank percentile of microsecond values, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1] / 1000


def snapshot(pids: Sequence[int]) -> list[Cpu]:
    return [tree_cpu(pid) for pid in pids]


def stop_servers(servers: Sequence[tuple[Process, int]]) -> None:
    for process, _ in servers:
        process.stop()


def stop_workers(workers: Sequence[LoadWorker]) -> None:
    for worker in workers:
        worker.stop()


@dataclass(frozen=True)
class Cell:
    server: str
    subscribers: int
    rate: float
    messages: int
    label: str


def run_cell(
    cell: Cell, args: argparse.Namespace, context: Context, redis: Redis
) -> dict[str, Any]:
    spec = SERVERS[cell.server]
    result: dict[str, Any] = {
        "server": spec.name,
        "summary": spec.summary,
        "processes": spec.processes,
        "subscribers": cell.subscribers,
        "rate": cell.rate,
        "messages": cell.messages,
        "frame_bytes": args.size,
    }
    with contextlib.ExitStack() as stack:
        servers: list[tuple[Process, int]] = []
        stack.callback(stop_servers, servers)
        servers.extend(spec.start(context, cell.label))
        ports = [port for _, port in servers]
        urls = [
            f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/bench/{args.room}/"
            for i in range(cell.subscribers)
        ]
        # Socket i goes to server process i % S and to load generator i % W: socket 0,
        # the publisher, is on server process 0, and the subscribers are split evenly.
        count = min(args.loadgen_procs, cell.subscribers)
        lifetime = 120 + cell.subscribers * 0.1 + cell.messages / cell.rate * 3
        workers: list[LoadWorker] = []
        stack.callback(stop_workers, workers)
        for index in range(count):
            config = {
                "urls": urls[index::count],
                "publisher": index == 0,
                "messages": cell.messages,
                "rate": cell.rate,
                "size": args.size,
                "client": args.client,
                "connect_concurrency": 50,
                "connect_timeout": 10,
            }
            workers.append(
                LoadWorker(
                    index, config, work_dir=context.work_dir, label=cell.label, lifetime=lifetime
                )
            )

        # Connect.
        if wait_all(workers, "ready", 30 + cell.subscribers * 0.05) is None:
            raise BenchError("the subscribers did not connect in time")
        ready = [worker.seen["ready"][1] for worker in workers]
        failed = sum(item["failed"] for item in ready)
        if failed:
            error = next(item["error"] for item in ready if item["error"])
            tails = "\n".join(f"--- {p.name}\n{p.log_tail(8)}" for p, _ in servers)
            raise BenchError(
                f"{failed} of {cell.subscribers} sockets failed to connect, e.g. {error}\n{tails}"
            )
        result["client"] = ready[0]["client"]
        result["connect_s"] = max(item["seconds"] for item in ready)

        # Warm up: until every socket, on every server process, got a frame from the
        # publisher. This also proves the server links its processes.
        workers[0].send("warmup")
        if wait_all(workers, "warm", 20 + cell.subscribers * 0.02) is None:
            for worker in workers:
                worker.send("report")
            cold = [0] * len(servers)
            for worker in workers:
                got = worker.wait("report", time.monotonic() + 10)
                for local in got[1]["cold"] if got else []:
                    cold[(worker.index + local * count) % len(servers)] += 1
            missing = "; ".join(
                f"server process {number}: {cold[number]} of "
                f"{len(range(number, cell.subscribers, len(servers)))} sockets"
                for number in range(len(servers))
                if cold[number]
            )
            raise BenchError(
                "warm-up frames from the publisher (on server process 0) did not reach every "
                f"subscriber in time ({missing} got none): does the server link its processes?"
            )
        workers[0].send("stop_warmup")
        stopped = workers[0].wait("warmup_stopped", time.monotonic() + 20)
        if stopped is None:
            raise BenchError("the publisher did not stop its warm-up")
        # Every warm-up frame delivered before the window opens: a server still working
        # off a backlog would otherwise bill it to the measured messages.
        result["warmup_frames"] = stopped[1]["sent"]
        for worker in workers:
            worker.send("drain_warmup", count=stopped[1]["sent"])
        if wait_all(workers, "warmup_drained", 75) is None:
            raise BenchError("the warm-up frames were still being delivered after 75 s")
        result["warmup_complete"] = all(w.seen["warmup_drained"][1]["complete"] for w in workers)
        # Settle, and measure what the servers burn while idle.
        server_pids = [process.pid for process, _ in servers]
        worker_pids = [worker.process.pid for worker in workers]
        idle_before, idle_started = sum(snapshot(server_pids), Cpu()), time.monotonic()
        time.sleep(args.settle)
        idle = sum(snapshot(server_pids), Cpu()) - idle_before
        result["server_idle_core"] = idle.sched / (time.monotonic() - idle_started)

        # Measure.
        server_before, worker_before = snapshot(server_pids), snapshot(worker_pids)
        redis_before, machine_before = redis.cpu_seconds(), machine_cpu()
        started = time.monotonic()
        workers[0].send("go")
        publish_time = cell.messages / cell.rate
        sent = wait_all(workers[:1], "sent", publish_time * 1.5 + 15)
        if sent is None:
            raise BenchError("the publisher did not finish sending in time")
        done = wait_all(workers, "done", args.drain)
        server_after, worker_after = snapshot(server_pids), snapshot(worker_pids)
        redis_after, machine_after = redis.cpu_seconds(), machine_cpu()
        ended = max(done) if done else time.monotonic()
        window = ended - started

        for worker in workers:
            worker.send("report")
        reports: list[dict[str, Any]] = []
        for worker in workers:
            got = worker.wait("report", time.monotonic() + 30)
            if got is None:
                raise BenchError(f"{worker.process.name} sent no report")
            reports.append(got[1])

    latencies = sorted(value for report in reports for value in report["latencies_us"])
    delivered = sum(report["delivered"] for report in reports)
    expected = cell.subscribers * cell.messages
    server_cpu = [after - before for after, before in zip(server_after, server_before, strict=True)]
    worker_cpu = [after - before for after, before in zip(worker_after, worker_before, strict=True)]
    total_server = sum(server_cpu, Cpu())
    total_worker = sum(worker_cpu, Cpu())
    per_message = max(delivered, 1)
    busy = machine_after[0] - machine_before[0]
    ticks = max(machine_after[1] - machine_before[1], 1)
    redis_cpu = redis_after - redis_before
    # CPU that neither the servers, the load generators nor Redis spent: other work on
    # the machine during the window, which may have disturbed the figures.
    other = busy / CLOCK_TICKS - total_server.stat - total_worker.stat - redis_cpu
    publisher = workers[0].seen["sent"][1]
    result.update(
        status="ok",
        sent=publisher["count"],
        publish_s=publisher["seconds"],
        publisher_max_lag_ms=publisher["max_lag_ms"],
        expected=expected,
        delivered=delivered,
        lost=expected - delivered,
        duplicates=sum(report["duplicates"] for report in reports),
        reordered=sum(report["reordered"] for report in reports),
        disconnected=sum(report["disconnected"] for report in reports),
        window_s=round(window, 3),
        latency_ms={
            "p50": percentile_ms(latencies, 0.50),
            "p90": percentile_ms(latencies, 0.90),
            "p99": percentile_ms(latencies, 0.99),
            "max": percentile_ms(latencies, 1.0),
        },
        server_cpu_s=[round(cpu.stat, 3) for cpu in server_cpu],
        server_us_per_msg=total_server.stat * 1e6 / per_message,
        server_us_per_msg_sched=total_server.sched * 1e6 / per_message,
        server_core_max=max(cpu.sched for cpu in server_cpu) / window,
        redis_us_per_msg=redis_cpu * 1e6 / per_message,
        loadgen_us_per_msg=total_worker.stat * 1e6 / per_message,
        loadgen_us_per_msg_sched=total_worker.sched * 1e6 / per_message,
        loadgen_core_max=max(cpu.sched for cpu in worker_cpu) / window,
        machine_busy=busy / ticks,
        other_core=max(other, 0.0) / window,
    )
    return result


def measure(cell: Cell, args: argparse.Namespace, context: Context, redis: Redis) -> dict[str, Any]:
    """Run one cell; a failure becomes a result with its status and reason."""
    try:
        result = run_cell(cell, args, context, redis)
    except Unavailable as exc:
        result = {"status": "failed" if args.explicit_servers else "skipped", "error": str(exc)}
    except BenchError as exc:
        result = {"status": "failed", "error": str(exc)}
    if result["status"] == "ok":
        print(
            f"    {result['delivered']} deliveries, {result['lost']} lost, server "
            f"{result['server_us_per_msg']:.2f} µs/msg, p99 {result['latency_ms']['p99']:.2f} ms",
            flush=True,
        )
        return result
    print(f"    {result['status']}: {result['error']}", flush=True)
    spec = SERVERS[cell.server]
    result.update(
        server=cell.server,
        summary=spec.summary,
        processes=spec.processes,
        subscribers=cell.subscribers,
        rate=cell.rate,
        messages=cell.messages,
    )
    return result


#: Fields that describe the cell, not a measurement.
SETTINGS_FIELDS = {
    "processes",
    "subscribers",
    "rate",
    "messages",
    "frame_bytes",
    "expected",
    "sent",
}
#: Counts of things that went wrong: the worst run's count is reported.
WORST_FIELDS = {"lost", "duplicates", "reordered", "disconnected"}


def lower_median(values: Sequence[Any]) -> Any:
    """The median, or of two middle values the lower: always one run's own value."""
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def summarize(cell_runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result per cell: its first failure, or the median of every measured figure
    over the runs (the worst run for losses), with each run's result kept too."""
    failures = [run for run in cell_runs if run["status"] != "ok"]
    if failures:
        return failures[0]
    summary = dict(cell_runs[0])
    for key, value in summary.items():
        if key in WORST_FIELDS:
            summary[key] = max(run[key] for run in cell_runs)
        elif key not in SETTINGS_FIELDS and type(value) in (int, float):
            summary[key] = lower_median([run[key] for run in cell_runs])
    summary["latency_ms"] = {
        key: lower_median([run["latency_ms"][key] for run in cell_runs])
        for key in summary["latency_ms"]
    }
    summary["warmup_complete"] = all(run["warmup_complete"] for run in cell_runs)
    summary["runs"] = len(cell_runs)
    summary["server_us_per_msg_runs"] = [run["server_us_per_msg"] for run in cell_runs]
    summary["each_run"] = list(cell_runs)
    return summary


# -- output ------------------------------------------------------------------------------


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to 3 decimals, for a readable JSON file."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    return format(value, spec)


COLUMNS: list[tuple[str, int, Callable[[dict[str, Any]], str]]] = [
    ("server", 15, lambda r: r["server"]),
    ("proc", 4, lambda r: str(r["processes"])),
    ("subs", 5, lambda r: str(r["subscribers"])),
    ("msg/s", 5, lambda r: fmt(r["rate"], "g")),
    ("deliveries", 10, lambda r: str(r["delivered"])),
    ("lost", 5, lambda r: str(r["lost"])),
    ("p50 ms", 7, lambda r: fmt(r["latency_ms"]["p50"], ".2f")),
    ("p99 ms", 7, lambda r: fmt(r["latency_ms"]["p99"], ".2f")),
    ("max ms", 7, lambda r: fmt(r["latency_ms"]["max"], ".1f")),
    ("server µs/msg", 13, lambda r: fmt(r["server_us_per_msg"], ".2f")),
    ("x raw", 6, lambda r: fmt(r.get("ratio_to_raw"), ".2f")),
    ("spread", 6, lambda r: spread(r.get("server_us_per_msg_runs", []))),
    ("redis µs/msg", 12, lambda r: fmt(r["redis_us_per_msg"], ".2f")),
    ("loadgen µs/msg", 14, lambda r: fmt(r["loadgen_us_per_msg"], ".2f")),
    ("srv core", 8, lambda r: fmt(r["server_core_max"] * 100, ".0f") + "%"),
    ("lg core", 7, lambda r: fmt(r["loadgen_core_max"] * 100, ".0f") + "%"),
    ("busy", 5, lambda r: fmt(r["machine_busy"] * 100, ".0f") + "%"),
    ("other", 5, lambda r: fmt(r["other_core"] * 100, ".0f") + "%"),
]


def spread(values: Sequence[float]) -> str:
    """How far apart the repeated runs' figures are, relative to their median."""
    if len(values) < 2:
        return "-"
    ordered = sorted(values)
    median = ordered[(len(ordered) - 1) // 2]
    return f"{(ordered[-1] - ordered[0]) / median:.0%}" if median else "-"


def table(results: Sequence[dict[str, Any]]) -> str:
    header = "  ".join(name.rjust(width) for name, width, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    for result in results:
        if result["status"] != "ok":
            lines.append(
                f"{result['server']:>15}  {result['processes']:>4}  {result['subscribers']:>5}  "
                f"{result['status'].upper()}: {result['error'].splitlines()[0][:150]}"
            )
            continue
        lines.append("  ".join(cell(result).rjust(width) for _, width, cell in COLUMNS))
    return "\n".join(lines)


def checks(results: Sequence[dict[str, Any]]) -> list[str]:
    """Warnings that make a figure untrustworthy: a loaded machine, a load generator
    dearer than the server it measures, a publisher that fell behind."""
    notes = []
    for r in results:
        if r["status"] != "ok":
            continue
        name = f"{r['server']} ({r['subscribers']} subs)"
        if r["loadgen_us_per_msg"] >= r["server_us_per_msg"]:
            notes.append(
                f"{name}: the load generator spent {r['loadgen_us_per_msg']:.1f} µs/msg, no less "
                f"than the server's {r['server_us_per_msg']:.1f} (see bench/README.md)"
            )
        if r["loadgen_core_max"] > 0.7:
            notes.append(
                f"{name}: a load generator process used {r['loadgen_core_max']:.0%} of a core"
            )
        if r["machine_busy"] > 0.85:
            notes.append(f"{name}: the machine was {r['machine_busy']:.0%} busy (saturated)")
        if r["other_core"] > 0.15:
            notes.append(f"{name}: other processes used {r['other_core']:.0%} of a core meanwhile")
        if r["publisher_max_lag_ms"] > 50:
            notes.append(
                f"{name}: the publisher ran up to {r['publisher_max_lag_ms']:.0f} ms "
                "behind its schedule"
            )
        if r["lost"] or r["duplicates"] or r["disconnected"]:
            notes.append(
                f"{name}: {r['lost']} lost, {r['duplicates']} duplicated, "
                f"{r['disconnected']} sockets dropped"
            )
    return notes


def environment(args: argparse.Namespace, redis: Redis, flags: Sequence[str]) -> dict[str, Any]:
    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    names = ["Django", "uvicorn", "uvloop", "httptools", "websockets"]
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "courant_commit": git("rev-parse", "HEAD"),
        "courant_dirty": bool(git("status", "--porcelain", "courant", "example")),
        "redis_version": redis.info("server").get("redis_version"),
        "uvicorn_flags": list(flags),
        "main_venv": package_versions(MAIN_PYTHON, [*names, "courant", "orjson"]),
        "peers_venv": package_versions(
            PEERS_PYTHON, [*names, "channels", "channels-redis", "redis", "msgpack", "picows"]
        ),
        "loadgen_processes": args.loadgen_procs,
        "frame_bytes": args.size,
    }


# -- command line ------------------------------------------------------------------------


def numbers(text: str, kind: type[int] | type[float]) -> tuple[Any, ...]:
    return tuple(kind(item) for item in text.split(",") if item.strip())


def per_count(values: tuple[Any, ...], counts: tuple[int, ...], what: str) -> tuple[Any, ...]:
    if len(values) == 1:
        return values * len(counts)
    if len(values) != len(counts):
        raise SystemExit(f"--{what} needs one value, or one per subscriber count")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="crossproc")
    parser.add_argument("--servers", help="comma-separated, from: " + ", ".join(SERVERS))
    parser.add_argument("--subscribers", help="comma-separated counts, e.g. 100,1000")
    parser.add_argument("--rate", help="messages/s: one value, or one per subscriber count")
    parser.add_argument("--messages", help="measured messages: one, or one per count")
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument("--size", type=int, default=100, help="frame size in bytes")
    parser.add_argument("--loadgen-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--client", choices=["auto", "picows", "websockets"], default="auto")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--drain",
        type=float,
        default=10,
        help="seconds to wait for deliveries once the publisher is done",
    )
    parser.add_argument("--settle", type=float, default=1.0, help="pause after the warm-up")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds; each cell reports the run with the median server CPU per message",
    )
    parser.add_argument("--no-install", action="store_true", help="do not touch .venv-peers")
    args = parser.parse_args(argv)
    scenario = SCENARIOS[args.scenario]
    args.server_names = (
        tuple(name.strip() for name in args.servers.split(",") if name.strip())
        if args.servers
        else scenario.servers
    )
    unknown = [name for name in args.server_names if name not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    args.explicit_servers = bool(args.servers)
    args.counts = numbers(args.subscribers, int) if args.subscribers else scenario.subscribers
    # Other subscriber counts keep the scenario's load: 2,000 deliveries/s, >= 10 s.
    if args.subscribers and not args.rate:
        args.rate = ",".join(f"{DELIVERIES_PER_S / count:g}" for count in args.counts)
    if args.subscribers and not args.messages:
        args.messages = ",".join(
            str(max(40, round(10 * DELIVERIES_PER_S / count))) for count in args.counts
        )
    rates = numbers(args.rate, float) if args.rate else scenario.rates
    messages = numbers(args.messages, int) if args.messages else scenario.messages
    args.rates = per_count(rates, args.counts, "rate")
    args.message_counts = per_count(messages, args.counts, "messages")
    args.room = scenario.room
    if min(args.counts) < 1 or min(args.rates) <= 0 or min(args.message_counts) < 1:
        parser.error("subscribers, rates and messages must be positive")
    if args.repeat < 1 or args.loadgen_procs < 1:
        parser.error("--repeat and --loadgen-procs must be at least 1")
    return args


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every process started is stopped by pid."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    # Also when started in the background, where the shell may have ignored SIGINT.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"{args.scenario}-{stamp}"
    work_dir = RESULTS / "logs" / name
    work_dir.mkdir(parents=True, exist_ok=True)
    json_path: Path = args.json or RESULTS / f"{name}.json"

    try:
        if not MAIN_PYTHON.exists():
            raise BenchError(f"{MAIN_PYTHON} is missing: run `make .venv/.installed` first")
        if not args.no_install:
            ensure_peers_venv(log=work_dir / "pip.log")
        limit = raise_open_files_limit()
        if limit < max(args.counts) * 2 + 256:
            raise BenchError(
                f"the open-files limit ({limit}) is too low for {max(args.counts)} subscribers"
            )
        redis = Redis(args.redis_url)
        redis.command("PING")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    prefix = f"courant-bench-{secrets.token_hex(4)}:"
    flags = deployment_flags()
    context = Context(args.redis_url, prefix, work_dir, tuple(flags))
    order = [CEILING, *(s for s in args.server_names if s != CEILING)]
    servers = [s for s in order if s in args.server_names]
    cells = [
        Cell(server, count, rate, messages, f"{count}-{index}")
        for count, rate, messages in zip(args.counts, args.rates, args.message_counts, strict=True)
        for index, server in enumerate(servers)
    ]
    print(
        f"Run {name}: {len(cells)} cells; Redis key prefix {prefix!r}; logs in "
        f"{work_dir.relative_to(ROOT)}"
    )
    runs: list[list[dict[str, Any]]] = [[] for _ in cells]
    interrupted = False
    with terminate_as_interrupt():
        try:
            # Rounds, not repeats in a row: noise from the rest of the machine then falls
            # on every server alike.
            for round_number in range(1, args.repeat + 1):
                for number, cell in enumerate(cells):
                    if runs[number] and runs[number][-1]["status"] != "ok":
                        continue  # failed once: not tried again
                    round_label = f" round {round_number}/{args.repeat}" if args.repeat > 1 else ""
                    print(
                        f"[{number + 1}/{len(cells)}{round_label}] {cell.server}: "
                        f"{cell.subscribers} subscribers, {cell.messages} messages at "
                        f"{cell.rate:g}/s ...",
                        flush=True,
                    )
                    runs[number].append(measure(cell, args, context, redis))
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: every process started was stopped", file=sys.stderr)
        finally:
            with contextlib.suppress(BenchError, OSError):
                deleted = redis.delete_prefix(prefix)
                print(f"Deleted {deleted} Redis key(s) with prefix {prefix!r}")

    results = [summarize(cell_runs) for cell_runs in runs if cell_runs]
    failed_hard = any(result["status"] == "failed" for result in results)
    ceilings = {
        r["subscribers"]: r["server_us_per_msg"]
        for r in results
        if r["server"] == CEILING and r["status"] == "ok"
    }
    for r in results:
        if r["status"] == "ok" and ceilings.get(r["subscribers"]):
            r["ratio_to_raw"] = r["server_us_per_msg"] / ceilings[r["subscribers"]]

    print()
    print(table(results))
    notes = checks(results)
    for note in notes:
        print(f"  ! {note}")
    print(
        "server µs/msg: CPU (user+sys) of all server processes per delivered message; "
        "x raw: that over the bare ASGI app's, same subscriber count."
    )

    document = {
        "name": name,
        "scenario": args.scenario,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "redis_prefix": prefix,
        "environment": environment(args, redis, flags),
        "notes": notes,
        "results": results,
    }
    redis.close()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(
        json.dumps(rounded(document), indent=2, allow_nan=False, default=str) + "\n"
    )
    print(f"Results: {json_path}")
    return 130 if interrupted else 1 if failed_hard else 0


if __name__ == "__main__":
    sys.exit(main())

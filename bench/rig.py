"""One server under test and the load generators that drive it, for one cell of a
scenario: start them, connect sockets, warm up, measure rounds of messages, and stop
every process, by pid, whatever happens."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from harness import (
    CLOCK_TICKS,
    BenchError,
    Cpu,
    Process,
    Redis,
    machine_cpu,
    tree_cpu,
    tree_rss_kib,
)
from servers import Context, ServerSpec
from workers import LoadWorker, require_all, wait_all

#: room -> the sockets (numbers in the order they were connected) that take turns
#: sending to it. Each of them is a member of the room.
Plan = dict[int, list[int]]


@dataclass(frozen=True)
class Socket:
    room: int
    server: int  # the server process it connects to
    worker: int  # the load-generator process that holds it


@dataclass(frozen=True)
class Settings:
    """What every cell of a run shares."""

    context: Context
    redis: Redis
    loadgen_procs: int
    client: str
    size: int  # frame size in bytes
    drain: float  # seconds to wait for deliveries once the publishers are done
    settle: float  # pause before a measured window


def percentile_ms(ordered: Sequence[int], fraction: float) -> float | None:
    """Nearest-rank percentile of microsecond values, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1] / 1000


def latency_summary(latencies_us: Sequence[int]) -> dict[str, float | None]:
    ordered = sorted(latencies_us)
    return {
        "p50": percentile_ms(ordered, 0.50),
        "p90": percentile_ms(ordered, 0.90),
        "p99": percentile_ms(ordered, 0.99),
        "max": percentile_ms(ordered, 1.0),
    }


@dataclass(frozen=True)
class Reading:
    """CPU counters at one moment: per server process, per load generator, Redis's own,
    and the machine's (busy, total) clock ticks."""

    server: list[Cpu]
    loadgen: list[Cpu]
    redis: float
    machine: tuple[int, int]
    at: float  # time.monotonic()

    def __sub__(self, before: Reading) -> Reading:
        return Reading(
            [a - b for a, b in zip(self.server, before.server, strict=True)],
            [a - b for a, b in zip(self.loadgen, before.loadgen, strict=True)],
            self.redis - before.redis,
            (self.machine[0] - before.machine[0], max(self.machine[1] - before.machine[1], 1)),
            self.at - before.at,
        )


class Meter:
    """CPU of the server's processes, the load generators, Redis and the whole machine
    over one window, from /proc and Redis INFO: ``stop()`` closes the window, then
    ``figures()`` divides by the work done in it."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.before = self.read()
        self.used = self.before - self.before

    def read(self) -> Reading:
        return Reading(
            [tree_cpu(pid) for pid in self.rig.server_pids],
            [tree_cpu(worker.pid) for worker in self.rig.workers],
            self.rig.settings.redis.cpu_seconds(),
            machine_cpu(),
            time.monotonic(),
        )

    def stop(self, ended: float | None = None) -> None:
        """Close the window now; ``ended`` (time.monotonic), when given, is when the
        work ended, for the shares of a core."""
        self.used = self.read() - self.before
        if ended is not None:
            self.used = replace(self.used, at=ended - self.before.at)

    def figures(self, units: int, unit: str) -> dict[str, Any]:
        """The window's figures per ``unit`` (``msg`` or ``handshake``)."""
        used = self.used
        window = max(used.at, 1e-6)
        server, loadgen = sum(used.server, Cpu()), sum(used.loadgen, Cpu())
        busy, ticks = used.machine
        # CPU that neither the server, the load generators nor Redis spent: other work
        # on the machine, which may have disturbed the figures.
        other = busy / CLOCK_TICKS - server.stat - loadgen.stat - used.redis
        per = 1e6 / max(units, 1)
        return {
            "window_s": window,
            f"server_us_per_{unit}": server.sched * per,
            f"server_us_per_{unit}_stat": server.stat * per,
            "server_cpu_s": [cpu.sched for cpu in used.server],
            "server_core_max": max(cpu.sched for cpu in used.server) / window,
            f"redis_us_per_{unit}": used.redis * per,
            f"loadgen_us_per_{unit}": loadgen.sched * per,
            "loadgen_core_max": max(cpu.sched for cpu in used.loadgen) / window,
            "machine_busy": busy / ticks,
            "other_core": max(other, 0.0) / window,
        }


class Rig:
    """The processes of one server and ``loadgen_procs`` load generators.

    Use it as a context manager: leaving it stops every process it started.
    """

    def __init__(
        self,
        spec: ServerSpec,
        settings: Settings,
        label: str,
        lifetime: float,
        protocol: str | None = None,
    ) -> None:
        self.spec = spec
        #: What the load generators speak: the server's own protocol by default, or
        #: ``"topics"`` (Courant's topics endpoint, for the presence scenario).
        self.protocol = protocol or spec.protocol
        self.settings = settings
        self.label = label
        self.lifetime = lifetime
        self.servers: list[tuple[Process, int]] = []
        self.workers: list[LoadWorker] = []
        self.sockets: list[Socket] = []
        self.local: list[int] = []  # socket number -> its number in its load generator
        self.held = [0] * settings.loadgen_procs  # sockets per load generator
        self.client = ""
        self.round = 0

    def __enter__(self) -> Rig:
        with contextlib.ExitStack() as stack:
            stack.callback(self.stop)
            self.servers.extend(self.spec.start(self.settings.context, self.label))
            config = {
                "protocol": self.protocol,
                "client": self.settings.client,
                "size": self.settings.size,
                "concurrency": 50,
                "connect_timeout": 10,
            }
            work_dir = self.settings.context.work_dir
            for index in range(self.settings.loadgen_procs):
                log_path = work_dir / f"{self.label}-loadgen-{index}.log"
                self.workers.append(
                    LoadWorker(index, config, log_path=log_path, lifetime=self.lifetime)
                )
            started = require_all(self.workers, "started", 30, "the load generators did not start")
            self.client = started[0][1]["client"]
            stack.pop_all()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for process, _ in self.servers:
            process.stop()

    @property
    def server_pids(self) -> list[int]:
        return [process.pid for process, _ in self.servers]

    def log_tails(self, lines: int = 8) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(lines)}" for p, _ in self.servers)

    # -- connections ---------------------------------------------------------------------

    def connect(
        self, sockets: Sequence[Socket], *, timeout: float, tolerate_failures: bool = False
    ) -> dict[str, Any]:
        """Open ``sockets`` (every load generator at once, 50 handshakes in flight
        each) and measure the handshakes: their rate and their CPU cost."""
        batches: list[list[tuple[str, int]]] = [[] for _ in self.workers]
        ports = [port for _, port in self.servers]
        for socket in sockets:
            self.local.append(self.held[socket.worker])
            self.held[socket.worker] += 1
            self.sockets.append(socket)
            batches[socket.worker].append(
                (self.spec.url(ports[socket.server], socket.room), socket.room)
            )
        active = [worker for worker, batch in zip(self.workers, batches, strict=True) if batch]
        meter = Meter(self)
        for worker, batch in zip(self.workers, batches, strict=True):
            if batch:
                worker.send("connect", sockets=batch)
        ready = require_all(active, "ready", timeout, "the sockets did not connect in time")
        meter.stop(max(arrived for arrived, _ in ready))
        figures = meter.figures(len(sockets), "handshake")
        failed = sum(fields["failed"] for _, fields in ready)
        if failed and not tolerate_failures:
            error = next(fields["error"] for _, fields in ready if fields["error"])
            raise BenchError(
                f"{failed} of {len(sockets)} sockets failed to connect, e.g. {error}\n"
                f"{self.log_tails()}"
            )
        return {
            "batch": len(sockets),
            "failed": failed,
            "connect_error": next((f["error"] for _, f in ready if f["error"]), None),
            "handshakes_per_s": (len(sockets) - failed) / figures["window_s"],
            **figures,
        }

    def rss_kib(self) -> int:
        return sum(tree_rss_kib(pid) for pid in self.server_pids)

    def idle_core(self, seconds: float) -> float:
        """The servers' CPU while nothing happens, as a share of one core."""
        before, started = sum((tree_cpu(pid) for pid in self.server_pids), Cpu()), time.monotonic()
        time.sleep(seconds)
        used = sum((tree_cpu(pid) for pid in self.server_pids), Cpu()) - before
        return used.sched / (time.monotonic() - started)

    # -- messages ------------------------------------------------------------------------

    def split(self, plan: Plan) -> list[list[tuple[int, list[int]]]]:
        """The plan of each load generator, in its own socket numbers."""
        plans: list[list[tuple[int, list[int]]]] = [[] for _ in self.workers]
        for room, senders in plan.items():
            holders = {self.sockets[socket].worker for socket in senders}
            if len(holders) != 1:
                raise ValueError(f"the senders of room {room} are on several load generators")
            plans[holders.pop()].append((room, [self.local[socket] for socket in senders]))
        return plans

    def cold_error(self) -> BenchError:
        """Which server processes' sockets got no warm-up frame, as an error."""
        cold = [0] * len(self.servers)
        members = [0] * len(self.servers)
        for socket in self.sockets:
            members[socket.server] += 1
        by_local = {(s.worker, self.local[n]): s for n, s in enumerate(self.sockets)}
        for worker in self.workers:
            worker.send("report")
        for worker in self.workers:
            got = worker.wait(f"report:{self.round}", time.monotonic() + 10)
            for local in got[1]["cold"] if got else []:
                cold[by_local[worker.index, local].server] += 1
        missing = "; ".join(
            f"server process {number}: {cold[number]} of {members[number]} sockets"
            for number in range(len(self.servers))
            if cold[number]
        )
        return BenchError(
            f"warm-up frames did not reach every socket in time ({missing} got none): "
            "does the server link its processes?"
        )

    def warm_up(self, plan: Plan, rate: float) -> dict[str, Any]:
        """Send warm-up frames to every room of the plan until every socket has one,
        then wait until every warm-up frame is delivered, so that no backlog runs into
        the measured window."""
        plans = self.split(plan)
        for worker, own in zip(self.workers, plans, strict=True):
            # At the offered rate, but at most 10 frames a second to each room.
            share = rate * len(own) / len(plan)
            worker.send("warmup", plan=own, rate=min(share, 10.0 * len(own)) or 1.0)
        if wait_all(self.workers, "warm", 20 + len(self.sockets) * 0.02) is None:
            raise self.cold_error()
        for worker in self.workers:
            worker.send("stop_warmup")
        stopped = require_all(self.workers, "warmup_stopped", 20, "the warm-up did not stop")
        sent: dict[str, int] = {}
        for _, fields in stopped:
            sent.update(fields["sent"])
        for worker in self.workers:
            worker.send("drain_warmup", sent=sent)
        drained = require_all(
            self.workers,
            "warmup_drained",
            75,
            "the warm-up frames were still being delivered after 75 s",
        )
        return {
            "warmup_frames": sum(sent.values()),
            "warmup_complete": all(fields["complete"] for _, fields in drained),
        }

    def run_round(self, plan: Plan, per_room: int, rate: float) -> dict[str, Any]:
        """One measured round: ``per_room`` frames to every room of the plan at ``rate``
        frames a second in all; every delivery timed, the CPU of every party metered."""
        self.round += 1
        number = self.round
        plans = self.split(plan)
        for worker in self.workers:
            worker.send("expect", round=number, per_room=per_room)
        require_all(self.workers, f"expecting:{number}", 20, "a load generator did not answer")
        meter = Meter(self)
        publishers = []
        for worker, own in zip(self.workers, plans, strict=True):
            if own:
                share = rate * len(own) / len(plan)
                worker.send("publish", round=number, plan=own, per_room=per_room, rate=share)
                publishers.append(worker)
        publish_time = per_room * len(plan) / rate
        sent = require_all(
            publishers,
            f"sent:{number}",
            publish_time * 1.5 + 15,
            "the publishers did not finish sending in time",
        )
        done = wait_all(self.workers, f"done:{number}", self.settings.drain)
        meter.stop(max(arrived for arrived, _ in done) if done else None)
        for worker in self.workers:
            worker.send("report")
        reports = [
            fields
            for _, fields in require_all(
                self.workers, f"report:{number}", 30, "a load generator sent no report"
            )
        ]
        delivered = sum(report["delivered"] for report in reports)
        expected = sum(report["expected"] for report in reports)
        latencies = [value for report in reports for value in report["latencies_us"]]
        return {
            "sent": sum(fields["count"] for _, fields in sent),
            "publish_s": max(fields["seconds"] for _, fields in sent),
            "publisher_max_lag_ms": max(fields["max_lag_ms"] for _, fields in sent),
            "expected": expected,
            "delivered": delivered,
            "lost": expected - delivered,
            "duplicates": sum(report["duplicates"] for report in reports),
            "reordered": sum(report["reordered"] for report in reports),
            "disconnected": sum(report["disconnected"] for report in reports),
            "latency_ms": latency_summary(latencies),
            **meter.figures(delivered, "msg"),
        }

"""The scenarios: what each one measures, with which counts, and how one cell runs.

A cell is one server in one scenario (for fan-out: at one subscriber count). It starts
the server afresh, so that no cell inherits another's state, and yields one row or
more. Counts and durations are bounded: every scenario has a full size (``make bench``)
and a quick one (``--quick``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rig import Meter, Plan, Rig, Settings, Socket
from servers import ServerSpec

ROSTER = (
    "raw-asgi",
    "courant-memory",
    "courant-redis",
    "courant-redis-2p",
    "channels-memory",
    "channels-redis",
    "channels-redis-2p",
    "channels-pubsub",
    "socketio",
)
TWO_PROCESS = ("raw-asgi", "courant-memory", "courant-redis-2p", "channels-redis-2p")
PUBLISHER: Plan = {0: [0]}  # socket 0 sends to room 0


def one_room(count: int, spec: ServerSpec, workers: int) -> list[Socket]:
    """``count`` sockets in room 0; socket i on server process i % processes and load
    generator i % workers, so socket 0, the publisher, is on process 0 and generator 0."""
    return [Socket(0, i % spec.processes, i % workers) for i in range(count)]


def own_rooms(first: int, end: int, spec: ServerSpec, workers: int) -> list[Socket]:
    """Sockets ``first`` to ``end`` - 1, each in a room of its own."""
    return [Socket(i, i % spec.processes, i % workers) for i in range(first, end)]


def lifetime(*seconds: float) -> float:
    """A load generator's hard time limit: generous, but it ends by itself."""
    return 120 + 3 * sum(seconds)


class OneCell:
    """A scenario with one cell per server (fan-out has one per subscriber count)."""

    def points(self) -> list[int]:
        return [0]


# -- fan-out -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fanout:
    """Subscribers in one room, one of them publishing at a fixed rate: the same
    deliveries per second for every server."""

    subscribers: tuple[int, ...]
    rates: tuple[float, ...]  # messages per second, one per subscriber count
    messages: tuple[int, ...]  # measured messages, one per subscriber count

    def sockets(self) -> int:
        return max(self.subscribers)

    def points(self) -> list[int]:
        return list(range(len(self.subscribers)))

    def run(
        self, spec: ServerSpec, settings: Settings, label: str, point: int
    ) -> list[dict[str, Any]]:
        count, rate, messages = self.subscribers[point], self.rates[point], self.messages[point]
        life = lifetime(count * 0.05, messages / rate)
        with Rig(spec, settings, label, life) as rig:
            connected = rig.connect(
                one_room(count, spec, settings.loadgen_procs), timeout=30 + count * 0.05
            )
            warm = rig.warm_up(PUBLISHER, rate)
            idle = rig.idle_core(settings.settle)
            row = rig.run_round(PUBLISHER, messages, rate)
        return [
            {
                "subscribers": count,
                "rate": rate,
                "messages": messages,
                "client": rig.client,
                "connect_s": connected["window_s"],
                **warm,
                "server_idle_core": idle,
                **row,
            }
        ]


# -- saturation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Saturation(OneCell):
    """The highest offered rate a server sustains with 100 subscribers: p99 under
    100 ms, nothing lost, and the publisher on schedule. The rate doubles from
    ``start`` until a step fails (or ``limit`` passes), then ``bisections`` steps
    narrow it down. A failed step restarts the server for the next one."""

    subscribers: int
    start: float  # messages per second
    limit: float
    step_seconds: float
    step_messages: int  # at most, per step
    bisections: int
    max_steps: int
    p99_ms: float = 100.0
    lag_ms: float = 100.0

    def sockets(self) -> int:
        return self.subscribers

    def shortfall(self, row: dict[str, Any]) -> str | None:
        """Why a step does not count as sustained; None when it does."""
        if row["lost"] or row["disconnected"] or row["duplicates"]:
            return f"{row['lost']} lost, {row['disconnected']} dropped"
        p99 = row["latency_ms"]["p99"]
        if p99 is None or p99 >= self.p99_ms:
            return f"p99 {p99:.0f} ms" if p99 is not None else "nothing delivered"
        if row["publisher_max_lag_ms"] > self.lag_ms:
            return f"publisher {row['publisher_max_lag_ms']:.0f} ms late"
        return None

    def verdict(self, row: dict[str, Any]) -> str | None:
        """The shortfall of a step, and whether the whole machine was saturated then."""
        reason = self.shortfall(row)
        if reason is not None and row["machine_busy"] > 0.85:
            reason += f" (machine {row['machine_busy']:.0%} busy)"
        return reason

    def next_rate(self, passed: float | None, failed: float | None, narrowed: int) -> float | None:
        if failed is None:
            return None if passed is None or passed >= self.limit else min(passed * 2, self.limit)
        if passed is None:
            lower = failed / 2
            return lower if lower >= self.start / 8 else None
        if narrowed >= self.bisections:
            return None
        return round((passed + failed) / 2, 1)

    def ready_rig(self, spec: ServerSpec, settings: Settings, label: str, rate: float) -> Rig:
        """A rig with its subscribers connected and warmed up; the caller stops it."""
        rig = Rig(spec, settings, label, lifetime(60 * self.max_steps)).__enter__()
        try:
            rig.connect(one_room(self.subscribers, spec, settings.loadgen_procs), timeout=60)
            rig.warm_up(PUBLISHER, rate)
            time.sleep(settings.settle)
        except BaseException:
            rig.stop()
            raise
        return rig

    def run(
        self, spec: ServerSpec, settings: Settings, label: str, point: int
    ) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        passed = failed = None
        narrowed = 0  # steps run between a passing and a failing rate
        rate: float | None = self.start
        rig: Rig | None = None
        try:
            while rate is not None and len(steps) < self.max_steps:
                if rig is None:
                    rig = self.ready_rig(spec, settings, f"{label}-{len(steps)}", rate)
                narrowed += passed is not None and failed is not None
                messages = max(10, min(self.step_messages, round(rate * self.step_seconds)))
                row = rig.run_round(PUBLISHER, messages, rate)
                reason = self.verdict(row)
                steps.append(step_summary(rate, self.subscribers, row, reason))
                if reason is None:
                    passed, best = rate, row
                    time.sleep(0.5)
                else:
                    failed = rate
                    rig.stop()
                    rig = None
                rate = self.next_rate(passed, failed, narrowed)
        finally:
            if rig is not None:
                rig.stop()
        limited = next((s["shortfall"] for s in steps if s["rate"] == failed), None)
        return [
            {
                "subscribers": self.subscribers,
                "max_rate": passed or 0,
                "max_deliveries_per_s": (passed or 0) * self.subscribers,
                "limited_by": limited or f"the {self.limit:g}/s limit of the search",
                "steps": steps,
                **(best or {"latency_ms": {}, "lost": 0, "server_us_per_msg": None}),
            }
        ]


def step_summary(
    rate: float, subscribers: int, row: dict[str, Any], reason: str | None
) -> dict[str, Any]:
    return {
        "rate": rate,
        "deliveries_per_s": rate * subscribers,
        "shortfall": reason,
        "p99_ms": row["latency_ms"]["p99"],
        "lost": row["lost"],
        "publisher_max_lag_ms": row["publisher_max_lag_ms"],
        "server_us_per_msg": row["server_us_per_msg"],
        "loadgen_core_max": row["loadgen_core_max"],
        "machine_busy": row["machine_busy"],
    }


# -- one broadcast -----------------------------------------------------------------------


@dataclass(frozen=True)
class Broadcast(OneCell):
    """Idle subscribers in one room; one of them sends one frame, and the figure is the
    time until the last subscriber has it. Repeated, with a pause between."""

    subscribers: int
    broadcasts: int
    pause: float  # seconds between broadcasts

    def sockets(self) -> int:
        return self.subscribers

    def run(
        self, spec: ServerSpec, settings: Settings, label: str, point: int
    ) -> list[dict[str, Any]]:
        life = lifetime(self.subscribers * 0.05, self.broadcasts * (self.pause + 2))
        with Rig(spec, settings, label, life) as rig:
            rig.connect(one_room(self.subscribers, spec, settings.loadgen_procs), timeout=60)
            warm = rig.warm_up(PUBLISHER, 10)
            idle = rig.idle_core(settings.settle)
            span = Meter(rig)
            rounds = []
            for _ in range(self.broadcasts):
                rounds.append(rig.run_round(PUBLISHER, 1, 1000.0))
                time.sleep(self.pause)
            span.stop()
        row = combine(rounds, span.figures(sum(r["delivered"] for r in rounds), "msg"))
        return [{"subscribers": self.subscribers, **warm, "server_idle_core": idle, **row}]


def combine(rounds: Sequence[dict[str, Any]], span: dict[str, Any]) -> dict[str, Any]:
    """One row for several one-frame rounds. CPU per delivery adds up the rounds' own
    windows (send to last delivery), so that the pauses between them do not count; the
    shares of a core and of the machine are over the whole ``span``, pauses included,
    as a window of a few milliseconds is too short for them."""
    delivered: int = sum(r["delivered"] for r in rounds)

    def per_delivery(field: str) -> float:
        total: float = sum(r[field] * r["delivered"] for r in rounds)
        return total / max(delivered, 1)

    to_last = [r["latency_ms"]["max"] for r in rounds if r["latency_ms"]["max"] is not None]
    return {
        "broadcasts": len(rounds),
        "expected": sum(r["expected"] for r in rounds),
        "delivered": delivered,
        "lost": sum(r["lost"] for r in rounds),
        "duplicates": sum(r["duplicates"] for r in rounds),
        "disconnected": max(r["disconnected"] for r in rounds),
        "time_to_last_ms": {
            "median": statistics.median(to_last) if to_last else None,
            "max": max(to_last, default=None),
            "each": to_last,
        },
        "latency_ms": {"p50": statistics.median(r["latency_ms"]["p50"] or 0 for r in rounds)},
        "window_s": sum(r["window_s"] for r in rounds),
        "publisher_max_lag_ms": max(r["publisher_max_lag_ms"] for r in rounds),
        "server_us_per_msg": per_delivery("server_us_per_msg"),
        "server_us_per_msg_span_stat": span["server_us_per_msg_stat"],
        "server_us_per_msg_span": span["server_us_per_msg"],
        "redis_us_per_msg": per_delivery("redis_us_per_msg"),
        "loadgen_us_per_msg": per_delivery("loadgen_us_per_msg"),
        **{
            key: span[key]
            for key in ("server_core_max", "loadgen_core_max", "machine_busy", "other_core")
        },
        "span_s": span["window_s"],
    }


# -- idle connections --------------------------------------------------------------------


@dataclass(frozen=True)
class Idle(OneCell):
    """Open connections that do nothing, each in a room of its own: the server's memory
    per connection, and the handshakes per second and their CPU."""

    connections: tuple[int, ...]  # cumulative: connect up to each count in turn
    primer: int  # connected before the baseline, so that lazy imports are not counted
    settle: float  # seconds before each memory reading

    def sockets(self) -> int:
        return max(self.connections)

    def run(
        self, spec: ServerSpec, settings: Settings, label: str, point: int
    ) -> list[dict[str, Any]]:
        workers = settings.loadgen_procs
        rows = []
        with Rig(spec, settings, label, lifetime(max(self.connections) * 0.05, 60)) as rig:
            rig.connect(own_rooms(0, self.primer, spec, workers), timeout=60)
            time.sleep(self.settle)
            base = rig.rss_kib()
            held, failed = self.primer, 0
            for target in self.connections:
                batch = own_rooms(held, target, spec, workers)
                handshakes = rig.connect(
                    batch, timeout=60 + len(batch) * 0.05, tolerate_failures=True
                )
                held, failed = target, failed + handshakes["failed"]
                time.sleep(self.settle)
                rss = rig.rss_kib()
                opened = max(held - self.primer - failed, 1)
                rows.append(
                    {
                        **handshakes,
                        "target": target,
                        "connections": held - failed,
                        "kib_per_conn": (rss - base) / opened,
                        "rss_kib": rss,
                        "base_rss_kib": base,
                        "client": rig.client,
                    }
                )
        return rows


# -- many rooms --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rooms(OneCell):
    """Many small rooms, every member taking turns to send: chat as it usually is."""

    rooms: int
    members: int
    rate: float  # messages per second, all rooms together
    per_room: int  # measured messages per room

    def sockets(self) -> int:
        return self.rooms * self.members

    def run(
        self, spec: ServerSpec, settings: Settings, label: str, point: int
    ) -> list[dict[str, Any]]:
        workers = settings.loadgen_procs
        # A room's members share a load generator (it publishes for the room) and are
        # spread over the server's processes.
        sockets = [
            Socket(room, member % spec.processes, room % workers)
            for room in range(self.rooms)
            for member in range(self.members)
        ]
        plan = {
            room: list(range(room * self.members, (room + 1) * self.members))
            for room in range(self.rooms)
        }
        life = lifetime(len(sockets) * 0.05, self.rooms * self.per_room / self.rate)
        with Rig(spec, settings, label, life) as rig:
            rig.connect(sockets, timeout=60 + len(sockets) * 0.05)
            warm = rig.warm_up(plan, self.rate)
            idle = rig.idle_core(settings.settle)
            row = rig.run_round(plan, self.per_room, self.rate)
        return [
            {
                "rooms": self.rooms,
                "members": self.members,
                "rate": self.rate,
                "client": rig.client,
                **warm,
                "server_idle_core": idle,
                **row,
            }
        ]


# -- the registry ------------------------------------------------------------------------

Kind = Fanout | Saturation | Broadcast | Idle | Rooms


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    servers: tuple[str, ...]
    full: Kind
    quick: Kind

    def settings(self, quick: bool) -> Kind:
        return self.quick if quick else self.full


def describe(kind: Kind) -> dict[str, Any]:
    return {"kind": type(kind).__name__.lower(), **asdict(kind)}


# The fan-out load is the same in every cell, 2,000 deliveries per second (rate x
# subscribers): Django Channels, the dearest server, needs about a third of this 2-core
# machine for it, so no server saturates it.
FANOUT_FULL = Fanout(subscribers=(100, 1000), rates=(20, 2), messages=(160, 20))
FANOUT_QUICK = Fanout(subscribers=(100,), rates=(20,), messages=(60,))

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in [
        Scenario("fanout", "Fan-out in one room", ROSTER, FANOUT_FULL, FANOUT_QUICK),
        Scenario(
            "saturation",
            "Saturation: the highest sustained rate",
            ROSTER,
            Saturation(100, 20, 1280, 2.0, 2000, bisections=2, max_steps=10),
            Saturation(100, 20, 160, 1.0, 500, bisections=1, max_steps=5),
        ),
        Scenario(
            "broadcast",
            "One broadcast to idle subscribers",
            ROSTER,
            Broadcast(1000, broadcasts=20, pause=0.25),
            Broadcast(200, broadcasts=5, pause=0.2),
        ),
        Scenario(
            "idle",
            "Idle connections",
            ROSTER,
            Idle((2000, 5000), primer=20, settle=2.0),
            Idle((300, 600), primer=20, settle=1.0),
        ),
        Scenario(
            "rooms",
            "Many rooms",
            ROSTER,
            Rooms(200, 10, rate=100, per_room=6),
            Rooms(20, 10, rate=100, per_room=5),
        ),
        Scenario(
            "crossproc",
            "Fan-out across two processes",
            TWO_PROCESS,
            FANOUT_FULL,
            FANOUT_QUICK,
        ),
    ]
}
#: What ``--scenario all`` runs: crossproc is a subset of fanout (its -2p servers).
ALL = ("fanout", "saturation", "broadcast", "idle", "rooms")

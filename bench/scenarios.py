"""The scenarios: what each one measures, with which counts, and how one cell runs.

A cell is one server in one scenario (for fan-out: at one subscriber count). It starts
the server afresh, so that no cell inherits another's state, and yields one row or
more. Counts and durations are bounded: every scenario has a full size (``make bench``)
and a quick one (``--quick``).
"""

from __future__ import annotations

import json
import math
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness import BenchError, Unavailable
from rig import Meter, Plan, Rig, Settings, Socket, latency_summary
from servers import ServerSpec
from workers import require_all, wait_all

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
#: Presence is Courant's: no peer (Channels, python-socketio, the bare app) has it, so
#: the presence scenario runs on Courant's servers alone, and has no ratio to a peer.
COURANT = ("courant-memory", "courant-redis", "courant-redis-2p")
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


# -- presence churn ----------------------------------------------------------------------

#: The example project's topic class for this scenario (example/chat/topics.py,
#: ``BenchPresence``): anyone may subscribe, presence on, metas kept as sent.
PRESENCE_PATTERN = "presence-bench:{}"
PRESENCE_META = {"state": "reading"}


def subscribe_frame(topic: str, presence: dict[str, Any] | None) -> str:
    op: dict[str, Any] = {"op": "subscribe", "id": 1, "topic": topic}
    if presence is not None:
        op["presence"] = presence
    return json.dumps(op, separators=(",", ":"))


def median_of(counts: dict[str, int]) -> int | None:
    """The median of values given as {value: how many times} (JSON keys are str)."""
    values = sorted((int(value), times) for value, times in counts.items())
    total = sum(times for _, times in values)
    seen = 0
    for value, times in values:
        seen += times
        if 2 * seen >= total:
            return value
    return None


@dataclass(frozen=True)
class PresenceChurn(OneCell):
    """Presence churn on one topic: ``watchers`` clients subscribe to it with presence
    and stay; then churn clients connect, subscribe with presence and disconnect again,
    ``rate`` joins (and as many leaves) a second, ``joins`` of them. Every watcher must
    receive every join and every leave. The figures: the server's CPU per presence event
    (a join or a leave), the diff frames and bytes each watcher receives per event, and
    the whole presence a new subscriber receives with ``watchers`` members present."""

    watchers: int
    rate: float  # joins per second (and as many leaves)
    joins: int  # churn clients in the window: each joins once and leaves once
    hold: float  # seconds a churn client stays

    def sockets(self) -> int:
        return self.watchers + math.ceil(self.rate * (self.hold + 1)) + 1

    def run(
        self, spec: ServerSpec, settings: Settings, label: str, point: int
    ) -> list[dict[str, Any]]:
        if not spec.name.startswith("courant"):
            raise Unavailable(f"{spec.name} has no presence: this scenario is Courant's alone")
        # A short name, as an app's would be (doc:42): it is in every diff frame.
        topic = PRESENCE_PATTERN.format(secrets.token_hex(4))
        churn_s = self.joins / self.rate + self.hold
        life = lifetime(self.watchers * 0.05, churn_s, settings.drain, 60)
        with Rig(spec, settings, label, life, protocol="topics") as rig:
            urls = [spec.topics_url(port) for _, port in rig.servers]
            workers = rig.workers
            setup = self.join_watchers(rig, urls, topic)
            probe = self.probe(rig, urls[0], topic)
            idle = rig.idle_core(settings.settle)
            row = self.churn(rig, urls, topic)
        return [
            {
                "watchers": self.watchers,
                "rate": self.rate,
                "joins_planned": self.joins,
                "hold_s": self.hold,
                "topic": topic,
                "client": rig.client,
                "loadgen_processes": len(workers),
                **setup,
                **probe,
                "server_idle_core": idle,
                **row,
            }
        ]

    def join_watchers(self, rig: Rig, urls: list[str], topic: str) -> dict[str, Any]:
        """Connect the watchers, each subscribing with presence, and wait until each of
        them counts every one of them present."""
        workers = rig.workers
        batches: list[list[str]] = [[] for _ in workers]
        for number in range(self.watchers):
            batches[number % len(workers)].append(urls[number % len(urls)])
        frame = subscribe_frame(topic, PRESENCE_META)
        meter = Meter(rig)
        for worker, batch in zip(workers, batches, strict=True):
            worker.send("watch", urls=batch, subscribe=frame)
        watching = require_all(
            workers,
            "watching",
            60 + self.watchers * 0.05,
            "the watchers did not connect and subscribe in time",
        )
        failed = sum(fields["failed"] for _, fields in watching)
        if failed:
            error = next(fields["error"] for _, fields in watching if fields["error"])
            raise BenchError(
                f"{failed} of {self.watchers} watchers failed to subscribe, e.g. {error}\n"
                f"{rig.log_tails()}"
            )
        for worker in workers:
            worker.send("settle", members=self.watchers, timeout=60)
        settled = require_all(workers, "settled", 75, "the watchers' presence did not settle")
        meter.stop(max(arrived for arrived, _ in settled))
        if not all(fields["complete"] for _, fields in settled):
            low = min(fields["min"] for _, fields in settled)
            high = max(fields["max"] for _, fields in settled)
            raise BenchError(
                f"after 60 s the watchers counted {low} to {high} members, not {self.watchers}"
            )
        figures = meter.figures(self.watchers, "join")
        return {
            "setup_s": figures["window_s"],
            "setup_server_us_per_join": figures["server_us_per_join"],
        }

    def probe(self, rig: Rig, url: str, topic: str) -> dict[str, Any]:
        """What a new subscriber receives with the watchers present: one more client
        subscribes without presence (so it counts no one more) and keeps the frame."""
        worker = rig.workers[0]
        worker.send("probe", url=url, subscribe=subscribe_frame(topic, None))
        _, probed = require_all([worker], "probed", 30, "the probe got no presence")[0]
        if probed["members"] != self.watchers:
            raise BenchError(
                f"a new subscriber saw {probed['members']} members, not {self.watchers} "
                f"({probed['error']})"
            )
        return {"state_frame_bytes": probed["bytes"], "state_members": probed["members"]}

    def churn(self, rig: Rig, urls: list[str], topic: str) -> dict[str, Any]:
        """The measured window: from the first churn client's start to the last diff any
        watcher receives."""
        workers = rig.workers
        rig.round += 1
        number = rig.round
        plans: list[list[tuple[float, str]]] = [[] for _ in workers]
        for churner in range(self.joins):
            # Churn client i starts i / rate seconds in, on server process i % processes.
            plans[churner % len(workers)].append((churner / self.rate, urls[churner % len(urls)]))
        for worker in workers:
            worker.send("measure", round=number)
        require_all(workers, f"measuring:{number}", 20, "a load generator did not answer")
        frame = subscribe_frame(topic, PRESENCE_META)
        meter = Meter(rig)
        start_ns = time.monotonic_ns() + 20_000_000
        for worker, plan in zip(workers, plans, strict=True):
            worker.send(
                "churn", round=number, start_ns=start_ns, plan=plan, hold=self.hold,
                subscribe=frame,
            )  # fmt: skip
        churn_s = self.joins / self.rate + self.hold
        churned = [
            fields
            for _, fields in require_all(
                workers,
                f"churned:{number}",
                churn_s * 1.5 + 30,
                "the churn clients did not finish in time",
            )
        ]
        joined = sum(fields["joined"] for fields in churned)
        left = sum(fields["left"] for fields in churned)
        events = joined + left
        drain = rig.settings.drain
        for worker in workers:
            worker.send("await_diffs", round=number, expect=events, timeout=drain)
        done = wait_all(workers, f"diffs_done:{number}", drain + 15)
        last = [fields["last_ns"] for _, fields in done or [] if fields["last_ns"]]
        meter.stop(max(last) / 1e9 if last else None)
        for worker in workers:
            worker.send("report")
        reports = [
            fields
            for _, fields in require_all(
                workers, f"report:{number}", 60, "a load generator sent no report"
            )
        ]
        return {
            "joined": joined,
            "left": left,
            "events": events,
            "churn_failed": sum(fields["failed"] for fields in churned),
            "churn_error": next((f["error"] for f in churned if f["error"]), None),
            "churn_s": max(fields["seconds"] for fields in churned),
            "publisher_max_lag_ms": max(fields["max_lag_ms"] for fields in churned),
            **self.received(reports, joined, left),
            **churn_figures(churned),
            **meter.figures(events, "event"),
        }

    def received(self, reports: Sequence[dict[str, Any]], joined: int, left: int) -> dict[str, Any]:
        """What the watchers received, against what the churn clients did."""
        watchers = sum(report["watchers"] for report in reports)
        frames = sum(report["frames"] for report in reports)
        join_counts = [count for report in reports for count in report["joins"]]
        leave_counts = [count for report in reports for count in report["leaves"]]
        lost = sum(max(joined - count, 0) for count in join_counts) + sum(
            max(left - count, 0) for count in leave_counts
        )
        # Each change's spread: from the first watcher that had it to the last.
        reach: dict[str, list[int]] = {}
        for report in reports:
            for change, (first, last) in report["reach"].items():
                span = reach.setdefault(change, [first, last])
                span[0], span[1] = min(span[0], first), max(span[1], last)
        join_bytes: dict[str, int] = {}
        leave_bytes: dict[str, int] = {}
        for report in reports:
            for size, times in report["join_bytes"].items():
                join_bytes[size] = join_bytes.get(size, 0) + times
            for size, times in report["leave_bytes"].items():
                leave_bytes[size] = leave_bytes.get(size, 0) + times
        events = max(joined + left, 1)
        return {
            "watchers_measured": watchers,
            "diff_frames": frames,
            "diff_bytes": sum(report["diff_bytes"] for report in reports),
            "frames_per_event_per_watcher": frames / max(watchers, 1) / events,
            "expected": watchers * (joined + left),
            "delivered": sum(join_counts) + sum(leave_counts),
            "lost": lost,
            "keys_joined": sum(change.startswith("+") for change in reach),
            "keys_left": sum(change.startswith("-") for change in reach),
            "duplicates": sum(report["duplicates"] for report in reports),
            "bundled_frames": sum(report["bundled"] for report in reports),
            "other_frames": sum(report["other"] for report in reports),
            "disconnected": sum(report["disconnected"] for report in reports),
            "join_frame_bytes": median_of(join_bytes),
            "leave_frame_bytes": median_of(leave_bytes),
            "join_frame_sizes": join_bytes,
            "leave_frame_sizes": leave_bytes,
            "fanout_ms": latency_summary([(b - a) // 1000 for a, b in reach.values()]),
        }


def churn_figures(churned: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the churn clients saw: how long a subscribe with presence took, and the size
    of the whole presence each of them received."""
    waits = [value for fields in churned for value in fields["subscribed_us"]]
    states = sorted(size for fields in churned for size in fields["state_bytes"])
    return {
        "subscribe_ms": latency_summary(waits),
        "churn_state_bytes": {
            "median": statistics.median(states) if states else None,
            "max": max(states, default=None),
            "received": len(states),
        },
    }


# -- the registry ------------------------------------------------------------------------

Kind = Fanout | Saturation | Broadcast | Idle | Rooms | PresenceChurn


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    servers: tuple[str, ...]
    full: Kind
    quick: Kind
    #: Only these servers can run it at all (presence is Courant's): ``--servers`` then
    #: picks among them, and names no other.
    exclusive: bool = False

    def settings(self, quick: bool) -> Kind:
        return self.quick if quick else self.full


def describe(kind: Kind) -> dict[str, Any]:
    return {"kind": type(kind).__name__.lower(), **asdict(kind)}


# The fan-out load is the same in every cell, 2,000 deliveries per second (rate x
# subscribers): Django Channels, the dearest server, needs about a third of this 2-core
# machine for it, so no server saturates it.
FANOUT_FULL = Fanout(subscribers=(100, 1000), rates=(20, 2), messages=(320, 20))
FANOUT_QUICK = Fanout(subscribers=(100,), rates=(20,), messages=(60,))
# Every join and every leave is a diff to each watcher: 5 joins/s and 5 leaves/s with
# 1,000 watchers are 10,000 deliveries/s, which keeps the server and the load generators
# each about a third of a core busy here. Faster churn saturates this 2-core machine, and
# then the figures measure contention, not cost (as for the fan-out).
PRESENCE_FULL = PresenceChurn(1000, rate=5, joins=60, hold=1.0)
PRESENCE_QUICK = PresenceChurn(300, rate=10, joins=30, hold=1.0)

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
        Scenario(
            "presence",
            "Presence churn on one topic (Courant only: no peer has presence)",
            COURANT,
            PRESENCE_FULL,
            PRESENCE_QUICK,
            exclusive=True,
        ),
    ]
}
#: What ``--scenario all`` runs: crossproc is a subset of fanout (its -2p servers).
ALL = ("fanout", "saturation", "broadcast", "idle", "rooms", "presence")

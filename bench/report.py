"""What a run prints and writes: ratios to the bare ASGI app, tables for the terminal
and for docs/performance.md, warnings, and the bar the issue sets for Courant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

CEILING = "raw-asgi"
Row = dict[str, Any]

# -- ratios to the ceiling ---------------------------------------------------------------

#: Per scenario, the row field that pairs a row with the ceiling's, and the figures
#: divided by the ceiling's: ratio name -> field path.
RATIOS: dict[str, tuple[str, dict[str, str]]] = {
    "fanout": ("subscribers", {"cpu": "server_us_per_msg"}),
    "crossproc": ("subscribers", {"cpu": "server_us_per_msg"}),
    "saturation": (
        "subscribers",
        {"rate": "max_deliveries_per_s", "cpu": "server_us_per_msg"},
    ),
    "broadcast": (
        "subscribers",
        {"time_to_last": "time_to_last_ms.median", "cpu": "server_us_per_msg"},
    ),
    "idle": (
        "target",
        {
            "memory": "kib_per_conn",
            "rate": "handshakes_per_s",
            "cpu": "server_us_per_handshake",
        },
    ),
    "rooms": ("rooms", {"cpu": "server_us_per_msg"}),
}


def field(row: Row, path: str) -> Any:
    """``row["a"]["b"]`` for path ``a.b``; None where anything is missing."""
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def add_ratios(scenario: str, rows: Sequence[Row]) -> None:
    """Set ``x_raw`` on every row: its figures over the ceiling's, same run, same count.
    A scenario that the ceiling does not run (presence) has no ratios."""
    if scenario not in RATIOS:
        return
    key, ratios = RATIOS[scenario]
    ceiling = [r for r in rows if r["server"] == CEILING and r["status"] == "ok"]
    for row in rows:
        if row["status"] != "ok":
            continue
        same = [r for r in ceiling if r.get(key) == row.get(key)]
        if not same:
            continue
        row["x_raw"] = {}
        for name, path in ratios.items():
            mine, theirs = field(row, path), field(same[0], path)
            if mine is not None and theirs:
                row["x_raw"][name] = mine / theirs


# -- repeated runs -----------------------------------------------------------------------

#: Figures that take the worst run, not the median.
WORST_FIELDS = {"lost", "duplicates", "reordered", "disconnected", "failed"}
#: Settings, not measurements: kept from the first run.
SETTING_FIELDS = {
    "processes",
    "subscribers",
    "rate",
    "messages",
    "connections",
    "target",
    "batch",
    "rooms",
    "members",
    "broadcasts",
    "watchers",
    "joins_planned",
    "hold_s",
}


def lower_median(values: Sequence[Any]) -> Any:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def merge(values: Sequence[Any], name: str = "") -> Any:
    """One value for several runs' values of one field."""
    first = values[0]
    if isinstance(first, dict):
        return {key: merge([v.get(key) for v in values], key) for key in first}
    if type(first) in (int, float) and name not in SETTING_FIELDS:
        numbers = [v for v in values if type(v) in (int, float)]
        return max(numbers) if name in WORST_FIELDS else lower_median(numbers)
    return first


def summarize(runs: Sequence[Sequence[Row]]) -> list[Row]:
    """The rows of one cell over its runs: each figure the median run's (the worst run's
    for losses), with every run's rows kept too. A failed run is the result."""
    failures = [rows for rows in runs if any(r["status"] != "ok" for r in rows)]
    if failures:
        return list(failures[0])
    if len(runs) == 1:
        return list(runs[0])
    summary = []
    for position, first in enumerate(runs[0]):
        same = [rows[position] for rows in runs]
        row = {key: merge([r.get(key) for r in same], key) for key in first}
        row["runs"] = len(same)
        row["primary_runs"] = [primary(r) for r in same]
        row["each_run"] = same
        summary.append(row)
    return summary


#: The primary figure of each kind of row: CPU per message, handshake or presence event.
UNITS = ("msg", "handshake", "event")


def unit_of(row: Row) -> str:
    return next((unit for unit in UNITS if f"server_us_per_{unit}" in row), "msg")


def primary(row: Row) -> float | None:
    value = row.get(f"server_us_per_{unit_of(row)}")
    return float(value) if value is not None else None


def spread(row: Row) -> str:
    """How far apart repeated runs' primary figures are, relative to their median."""
    values = sorted(v for v in row.get("primary_runs", []) if v is not None)
    if len(values) < 2:
        return "-"
    median = lower_median(values)
    return f"{(values[-1] - values[0]) / median:.0%}" if median else "-"


# -- tables ------------------------------------------------------------------------------


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def pct(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    cell: Callable[[Row], str]
    doc: bool = True  # also in the table of docs/performance.md


def ratio(name: str) -> Callable[[Row], str]:
    return lambda r: fmt(r.get("x_raw", {}).get(name), ".2f")


def figure(path: str, spec: str) -> Callable[[Row], str]:
    return lambda r: fmt(field(r, path), spec)


SERVER = [
    Column("server", 17, lambda r: r["server"]),
    Column("proc", 4, lambda r: str(r["processes"])),
]
LATENCY = [
    Column("p50 ms", 7, figure("latency_ms.p50", ".2f")),
    Column("p99 ms", 7, figure("latency_ms.p99", ".2f")),
    Column("max ms", 7, figure("latency_ms.max", ".1f")),
]
HEALTH = [
    Column("loadgen µs/msg", 14, figure("loadgen_us_per_msg", ".2f")),
    Column("srv core", 8, lambda r: pct(r.get("server_core_max")), doc=False),
    Column("lg core", 7, lambda r: pct(r.get("loadgen_core_max"))),
    Column("busy", 5, lambda r: pct(r.get("machine_busy")), doc=False),
    Column("other", 5, lambda r: pct(r.get("other_core")), doc=False),
]
MESSAGES = [
    Column("deliveries", 10, figure("delivered", ",d")),
    Column("lost", 5, figure("lost", "d")),
    *LATENCY,
    Column("server µs/msg", 13, figure("server_us_per_msg", ".2f")),
    Column("x raw", 6, ratio("cpu")),
    Column("spread", 6, spread, doc=False),
    Column("redis µs/msg", 12, figure("redis_us_per_msg", ".2f")),
    *HEALTH,
]
FANOUT = [
    *SERVER,
    Column("subs", 5, figure("subscribers", "d")),
    Column("msg/s", 5, figure("rate", "g")),
    *MESSAGES,
]
COLUMNS: dict[str, list[Column]] = {
    "fanout": FANOUT,
    "crossproc": FANOUT,
    "saturation": [
        *SERVER,
        Column("subs", 5, figure("subscribers", "d")),
        Column("max msg/s", 9, figure("max_rate", "g")),
        Column("deliveries/s", 12, figure("max_deliveries_per_s", ",.0f")),
        Column("x raw", 6, ratio("rate")),
        Column("p99 ms", 7, figure("latency_ms.p99", ".2f")),
        Column("server µs/msg", 13, figure("server_us_per_msg", ".2f")),
        Column("x raw", 6, ratio("cpu")),
        Column("steps", 5, lambda r: str(len(r.get("steps", [])))),
        Column("lg core", 7, lambda r: pct(r.get("loadgen_core_max"))),
        Column("busy", 5, lambda r: pct(r.get("machine_busy"))),
        Column("next step failed on", 22, lambda r: str(r.get("limited_by", ""))[:48]),
    ],
    "broadcast": [
        *SERVER,
        Column("subs", 5, figure("subscribers", "d")),
        Column("sends", 5, figure("broadcasts", "d")),
        Column("lost", 5, figure("lost", "d")),
        Column("to last ms", 10, figure("time_to_last_ms.median", ".2f")),
        Column("x raw", 6, ratio("time_to_last")),
        Column("worst ms", 8, figure("time_to_last_ms.max", ".2f")),
        Column("server µs/msg", 13, figure("server_us_per_msg", ".2f")),
        Column("x raw", 6, ratio("cpu")),
        *HEALTH,
    ],
    "idle": [
        *SERVER,
        Column("conns", 6, figure("connections", "d")),
        Column("failed", 6, figure("failed", "d")),
        Column("KiB/conn", 8, figure("kib_per_conn", ".1f")),
        Column("x raw", 6, ratio("memory")),
        Column("handshakes/s", 12, figure("handshakes_per_s", ",.0f")),
        Column("x raw", 6, ratio("rate")),
        Column("µs/handshake", 12, figure("server_us_per_handshake", ".1f")),
        Column("x raw", 6, ratio("cpu")),
        Column("loadgen µs/hs", 13, figure("loadgen_us_per_handshake", ".1f")),
        *HEALTH[1:],
    ],
    "rooms": [
        *SERVER,
        Column("rooms", 5, lambda r: f"{r['rooms']}x{r['members']}"),
        Column("msg/s", 5, figure("rate", "g")),
        *MESSAGES,
    ],
    # No "x raw": no peer has presence.
    "presence": [
        *SERVER,
        Column("watchers", 8, figure("watchers", ",d")),
        Column("joins/s", 7, figure("rate", "g")),
        Column("events", 6, figure("events", "d")),
        Column("lost", 5, figure("lost", "d")),
        Column("server µs/event", 15, figure("server_us_per_event", ",.0f")),
        Column("events/s/core", 13, lambda r: per_core(r)),
        Column("µs/diff", 7, lambda r: per_diff(r)),
        Column("redis µs/event", 14, figure("redis_us_per_event", ",.0f")),
        Column("frames/event", 12, figure("frames_per_event_per_watcher", ".3f")),
        Column("join B", 6, figure("join_frame_bytes", "d")),
        Column("leave B", 7, figure("leave_frame_bytes", "d")),
        Column("state B", 7, figure("state_frame_bytes", ",d")),
        Column("fan-out p50 ms", 14, figure("fanout_ms.p50", ".2f")),
        Column("loadgen µs/event", 16, figure("loadgen_us_per_event", ",.0f")),
        *HEALTH[1:],
    ],
}


def per_core(row: Row) -> str:
    """The churn one core of server CPU could carry: joins and leaves a second."""
    cpu = row.get("server_us_per_event")
    return fmt(1e6 / cpu if cpu else None, ",.0f")


def per_diff(row: Row) -> str:
    """Server CPU per diff frame delivered: comparable with a fan-out's µs/msg."""
    cpu, events, per_event = row.get("server_us_per_event"), row.get("events"), None
    if cpu is not None and row.get("diff_frames"):
        per_event = cpu * (events or 0) / row["diff_frames"]
    return fmt(per_event, ".2f")


def table(scenario: str, rows: Sequence[Row]) -> str:
    columns = COLUMNS[scenario]
    header = "  ".join(column.header.rjust(column.width) for column in columns)
    lines = [header, "-" * len(header)]
    for row in rows:
        if row["status"] != "ok":
            lines.append(
                f"{row['server']:>17}  {row['processes']:>4}  {row['status'].upper()}: "
                f"{row['error'].splitlines()[0][:150]}"
            )
            continue
        lines.append("  ".join(column.cell(row).rjust(column.width) for column in columns))
    return "\n".join(lines)


def markdown_table(scenario: str, rows: Sequence[Row]) -> str:
    columns = [column for column in COLUMNS[scenario] if column.doc]
    lines = [
        "| " + " | ".join(column.header for column in columns) + " |",
        "|" + "|".join("---" if i < 1 else "--:" for i, _ in enumerate(columns)) + "|",
    ]
    for row in rows:
        if row["status"] != "ok":
            reason = row["error"].splitlines()[0][:120].replace("|", "/")
            cells = [row["server"], str(row["processes"]), f"{row['status']}: {reason}"]
            cells += [""] * (len(columns) - len(cells))
        else:
            cells = [column.cell(row) for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- warnings ----------------------------------------------------------------------------


def checks(scenario: str, rows: Sequence[Row]) -> list[str]:
    """Warnings that make a figure untrustworthy: a loaded machine, a load generator
    dearer than the server it measures, a publisher that fell behind, losses."""
    notes = []
    for r in rows:
        if r["status"] != "ok" or scenario == "saturation":
            continue  # saturation steps fail on purpose; their reasons are in the table
        name = f"{scenario}: {r['server']} ({describe_row(r)})"
        unit = unit_of(r)
        loadgen, server = r.get(f"loadgen_us_per_{unit}"), r.get(f"server_us_per_{unit}")
        stat = r.get(f"server_us_per_{unit}_stat")
        # Against the ceiling, which adds next to nothing to the kernel's work per frame,
        # the load generator's cost is on a par: that is the floor (bench/README.md).
        if (
            r["server"] != CEILING
            and loadgen is not None
            and server is not None
            and loadgen >= server
        ):
            notes.append(
                f"{name}: the load generator spent {loadgen:.1f} µs/{unit}, no less than the "
                f"server's {server:.1f} (see bench/README.md)"
            )
        # Only where the stat figure is more than a few clock ticks.
        busy_s = r.get("window_s", 0) * r.get("server_core_max", 0)
        if server and stat and busy_s > 0.5 and abs(stat - server) / server > 0.1:
            notes.append(
                f"{name}: CPU from schedstat ({server:.1f} µs) and from stat "
                f"({stat:.1f} µs) differ by more than 10%"
            )
        if r.get("loadgen_core_max", 0) > 0.7:
            notes.append(
                f"{name}: a load generator process used {r['loadgen_core_max']:.0%} of a core"
            )
        # Handshakes go as fast as they can: a busy machine is the point there.
        if r.get("machine_busy", 0) > 0.85 and scenario != "idle":
            notes.append(f"{name}: the machine was {r['machine_busy']:.0%} busy (saturated)")
        if r.get("other_core", 0) > 0.15:
            notes.append(f"{name}: other processes used {r['other_core']:.0%} of a core meanwhile")
        if r.get("publisher_max_lag_ms", 0) > 50:
            notes.append(
                f"{name}: the publisher ran up to {r['publisher_max_lag_ms']:.0f} ms behind "
                "its schedule"
            )
        if r.get("frames_per_event_per_watcher", 1) != 1 or r.get("bundled_frames"):
            notes.append(
                f"{name}: {r['frames_per_event_per_watcher']:.3f} diff frames per event per "
                f"watcher, {r.get('bundled_frames')} frames with more than one change"
            )
        if r.get("churn_failed"):
            notes.append(
                f"{name}: {r['churn_failed']} churn clients did not join, e.g. {r['churn_error']}"
            )
        if r.get("lost") or r.get("duplicates") or r.get("disconnected") or r.get("failed"):
            notes.append(
                f"{name}: {r.get('lost', 0)} lost, {r.get('duplicates', 0)} duplicated, "
                f"{r.get('disconnected', 0)} sockets dropped, {r.get('failed', 0)} handshakes "
                "failed"
            )
    return notes


def describe_row(row: Row) -> str:
    if "watchers" in row:
        return f"{row['watchers']} watchers"
    if "rooms" in row:
        return f"{row['rooms']} rooms"
    if "connections" in row:
        return f"{row['connections']} connections"
    return f"{row.get('subscribers')} subs"


# -- the bar -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    text: str
    scenario: str
    server: str
    ratio: str  # the x_raw entry it reads, or "" for losses
    limit: float


CLAIMS = [
    Claim("memory engine: CPU per delivery ≤ 1.25x raw", "fanout", "courant-memory", "cpu", 1.25),
    Claim(
        "memory engine: one broadcast, time to last ≤ 1.25x raw",
        "broadcast",
        "courant-memory",
        "time_to_last",
        1.25,
    ),
    Claim(
        "memory engine: memory per idle connection ≤ 1.25x raw",
        "idle",
        "courant-memory",
        "memory",
        1.25,
    ),
    Claim("Redis engine: CPU per delivery ≤ 1.5x raw", "fanout", "courant-redis", "cpu", 1.5),
    Claim("Redis engine: CPU per delivery ≤ 1.5x raw", "fanout", "courant-redis-2p", "cpu", 1.5),
]
#: Courant on Redis against channels_redis' RedisChannelLayer with as many processes.
AGAINST_CHANNELS = [("courant-redis", "channels-redis"), ("courant-redis-2p", "channels-redis-2p")]
CHANNELS_FACTOR = 8.0


def bar(results: dict[str, list[Row]]) -> list[dict[str, Any]]:
    """The issue's bar for Courant, checked against this run's figures. A claim whose
    rows were not measured in this run is left out."""
    items: list[dict[str, Any]] = []

    def rows(scenario: str, server: str) -> list[Row]:
        return [
            r for r in results.get(scenario, []) if r["server"] == server and r["status"] == "ok"
        ]

    def add(text: str, row: Row, value: float | None, limit: float, at_most: bool) -> None:
        # None: not measured (no raw-asgi row to divide by, say).
        ok = None if value is None else value <= limit if at_most else value >= limit
        items.append(
            {
                "claim": text,
                "server": row["server"],
                "where": describe_row(row),
                "value": value,
                "limit": limit,
                "ok": ok,
            }
        )

    for claim in CLAIMS:
        for row in rows(claim.scenario, claim.server):
            add(claim.text, row, row.get("x_raw", {}).get(claim.ratio), claim.limit, True)
    for courant, channels in AGAINST_CHANNELS:
        theirs = {r["subscribers"]: r for r in rows("fanout", channels)}
        for row in rows("fanout", courant):
            other = theirs.get(row["subscribers"])
            value = other["server_us_per_msg"] / row["server_us_per_msg"] if other else None
            text = f"Redis engine: CPU per delivery ≥ 8x lower than {channels}"
            if other:
                add(text, row, value, CHANNELS_FACTOR, False)
    for scenario in ("fanout", "rooms", "broadcast", "saturation", "presence"):
        for server in ("courant-memory", "courant-redis", "courant-redis-2p"):
            for row in rows(scenario, server):
                lost = row.get("lost")
                what = "presence change" if scenario == "presence" else "message"
                add(f"no {what} lost ({scenario})", row, lost, 0, True)
    return items


def bar_table(items: Sequence[dict[str, Any]], *, markdown: bool = False) -> str:
    lines = []
    if markdown:
        lines += ["| claim | server | where | measured | limit | |", "|---|---|---|--:|--:|---|"]
    for item in items:
        value = "-" if item["value"] is None else f"{item['value']:.2f}".rstrip("0").rstrip(".")
        verdict = {True: "ok", False: "MISSED", None: "n/a"}[item["ok"]]
        cells = [item["claim"], item["server"], item["where"], value, f"{item['limit']:g}", verdict]
        if markdown:
            lines.append("| " + " | ".join(cells) + " |")
        else:
            claim, server, where, limit = cells[0], cells[1], cells[2], cells[4]
            lines.append(
                f"  {verdict:>6}  {claim:<58} {server:<17} {where:<18} {value:>6} (limit {limit})"
            )
    return "\n".join(lines)

"""Courant, Django Channels, python-socketio and a bare ASGI app, side by side in one run
on this machine.

    .venv/bin/python bench/run.py --scenario all      # what `make bench` runs
    .venv/bin/python bench/run.py --scenario all --quick --servers raw-asgi,courant-memory

Every cell starts one server afresh on free ports of 127.0.0.1, connects its sockets,
warms up and measures. The primary figure is the server's CPU per delivered message
(per handshake for idle connections), also shown as a ratio to the bare ASGI app
measured in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from harness import (
    BENCH,
    MAIN_PYTHON,
    PEERS_PYTHON,
    ROOT,
    BenchError,
    Redis,
    Unavailable,
    ensure_peers_venv,
    package_versions,
    raise_open_files_limit,
)
from report import (
    CEILING,
    Row,
    add_ratios,
    bar,
    bar_table,
    checks,
    describe_row,
    markdown_table,
    summarize,
    table,
    unit_of,
)
from rig import Settings
from scenarios import ALL, SCENARIOS, Fanout, Kind, describe
from servers import SERVERS, Context, deployment_flags

RESULTS = BENCH / "results"
DELIVERIES_PER_S = 2000  # the fan-out load when only --subscribers is given
DOC_BEGIN = "<!-- bench:results:begin -->"
DOC_END = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Cell:
    scenario: str
    server: str
    point: int
    label: str


def measure(cell: Cell, kind: Kind, settings: Settings, explicit: bool) -> list[Row]:
    """Run one cell; a failure becomes one row with its status and reason."""
    spec = SERVERS[cell.server]
    head: Row = {"server": spec.name, "summary": spec.summary, "processes": spec.processes}
    if isinstance(kind, Fanout):
        head["subscribers"] = kind.subscribers[cell.point]
    started = time.monotonic()
    try:
        rows = kind.run(spec, settings, cell.label, cell.point)
    except Unavailable as exc:
        rows = [{"status": "failed" if explicit else "skipped", "error": str(exc)}]
    except BenchError as exc:
        rows = [{"status": "failed", "error": str(exc)}]
    elapsed = time.monotonic() - started
    rows = [{**head, "status": "ok", **row, "elapsed_s": elapsed} for row in rows]
    for row in rows:
        if row["status"] == "ok":
            unit = unit_of(row)
            figure = row.get(f"server_us_per_{unit}")
            shown = "-" if figure is None else f"{figure:.1f}"
            print(f"    {describe_row(row)}: {shown} µs/{unit} ({elapsed:.0f} s)", flush=True)
        else:
            print(f"    {row['status']}: {row['error'].splitlines()[0][:200]}", flush=True)
    return rows


# -- environment and output --------------------------------------------------------------


def environment(args: argparse.Namespace, redis: Redis, flags: Sequence[str]) -> dict[str, Any]:
    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    names = ["Django", "uvicorn", "uvloop", "httptools", "websockets"]
    peers = [
        *names,
        "channels",
        "channels-redis",
        "redis",
        "msgpack",
        "python-socketio",
        "python-engineio",
        "picows",
        "matplotlib",
    ]
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
        "peers_venv": package_versions(PEERS_PYTHON, peers),
        "loadgen_processes": args.loadgen_procs,
        "frame_bytes": args.size,
    }


def rounded(value: Any) -> Any:
    """``value`` with every float rounded to 3 decimals, for a readable JSON file."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def print_results(document: dict[str, Any]) -> None:
    for name, scenario in document["scenarios"].items():
        print(f"\n== {name}: {scenario['title']}")
        print(table(name, scenario["results"]))
    for note in document["notes"]:
        print(f"  ! {note}")
    print(
        "\nserver µs/msg: CPU (user+sys) of all the server's processes per delivered message; "
        "x raw: that over the bare ASGI app's in the same run."
    )
    if "presence" in document["scenarios"]:
        print(
            "server µs/event (presence): the same CPU per presence join or leave; frames/event: "
            "diff frames each watcher got per event; join B, leave B: one such frame; state B: "
            "the whole presence a new subscriber gets. No ratio: no peer has presence."
        )
    if document["bar"]:
        print("\n== the bar (bench/README.md)")
        print(bar_table(document["bar"]))


def markdown(document: dict[str, Any]) -> str:
    """The results section of docs/performance.md."""
    env = document["environment"]
    lines = [
        f"Run `{document['name']}`, finished {document['finished_utc']}, with "
        f"`{document['command']}`: Python {env['python']}, {env['cpus']} CPUs, Redis "
        f"{env['redis_version']}, Courant {env['courant_commit'][:10]}"
        f"{' (with uncommitted changes)' if env['courant_dirty'] else ''}."
    ]
    if document.get("quick"):
        lines.append("\n**A quick run** (`--quick`): small counts, short windows.")
    for name, scenario in document["scenarios"].items():
        settings = ", ".join(
            f"{key} {'/'.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in scenario["settings"].items()
            if key != "kind"
        )
        lines += [f"\n### {scenario['title']} (`{name}`)\n", f"Settings: {settings}.\n"]
        lines.append(markdown_table(name, scenario["results"]))
    if document["bar"]:
        lines += ["\n### The bar\n", bar_table(document["bar"], markdown=True)]
    if document["notes"]:
        lines.append("\n### Warnings from this run\n")
        lines += [f"- {note}" for note in document["notes"][:40]]
    return "\n".join(lines) + "\n"


def own_markers(scenario: str) -> tuple[str, str]:
    """The markers of a section that holds one scenario's tables alone."""
    return f"<!-- bench:results:{scenario}:begin -->", f"<!-- bench:results:{scenario}:end -->"


def fill(text: str, begin: str, end: str, body: str) -> str:
    before, rest = text.split(begin, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{begin}\n\n{body}\n{end}{after}"


def update_doc(path: Path, document: dict[str, Any]) -> None:
    """Replace what stands between the markers of ``path`` with this run's tables. A
    scenario with a section of its own in the page (``<!-- bench:results:NAME:begin -->``
    ... ``end``) goes there; the others, with the bar, between the two main markers,
    which a run of only such scenarios leaves as they were."""
    text = path.read_text()
    scenarios = document["scenarios"]
    own = [name for name in scenarios if all(m in text for m in own_markers(name))]
    for name in own:
        part = {
            **document,
            "scenarios": {name: scenarios[name]},
            "bar": [],
            "notes": [note for note in document["notes"] if note.startswith(f"{name}: ")],
        }
        text = fill(text, *own_markers(name), markdown(part))
    rest = [name for name in scenarios if name not in own]
    own_prefixes = tuple(f"{name}: " for name in own)
    if rest or not own:
        if DOC_BEGIN not in text or DOC_END not in text:
            raise BenchError(f"{path} has no {DOC_BEGIN} ... {DOC_END} section to fill")
        part = {
            **document,
            "scenarios": {name: scenarios[name] for name in rest},
            "notes": [n for n in document["notes"] if not n.startswith(own_prefixes)],
        }
        text = fill(text, DOC_BEGIN, DOC_END, markdown(part))
    path.write_text(text)
    print(f"Updated {path}")


def plot(json_path: Path, png_path: Path) -> None:
    done = subprocess.run(
        [str(PEERS_PYTHON), str(BENCH / "plot.py"), str(json_path), str(png_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise BenchError(f"bench/plot.py failed:\n{done.stderr.strip()[-2000:]}")
    print(f"Plot: {png_path}")


def publish(document: dict[str, Any], args: argparse.Namespace) -> None:
    """The plot and the doc, from a run or from --render."""
    if args.plot:
        plot(args.json, args.plot)
    if args.doc:
        update_doc(args.doc, document)


# -- command line ------------------------------------------------------------------------


def numbers(text: str, kind: type[int] | type[float]) -> tuple[Any, ...]:
    return tuple(kind(item) for item in text.split(",") if item.strip())


def per_count(values: tuple[Any, ...], counts: tuple[int, ...], what: str) -> tuple[Any, ...]:
    if len(values) == 1:
        return values * len(counts)
    if len(values) != len(counts):
        raise SystemExit(f"--{what} needs one value, or one per subscriber count")
    return values


def fanout_settings(base: Fanout, args: argparse.Namespace) -> Fanout:
    """--subscribers, --rate and --messages on top of the fan-out's defaults. With only
    --subscribers: 2,000 deliveries per second, for at least 10 s."""
    if not (args.subscribers or args.rate or args.messages):
        return base
    counts = numbers(args.subscribers, int) if args.subscribers else base.subscribers
    if args.rate:
        rates = numbers(args.rate, float)
    elif args.subscribers:
        rates = tuple(DELIVERIES_PER_S / count for count in counts)
    else:
        rates = base.rates
    if args.messages:
        messages = numbers(args.messages, int)
    elif args.subscribers:
        messages = tuple(max(20, round(10 * DELIVERIES_PER_S / count)) for count in counts)
    else:
        messages = base.messages
    fanout = Fanout(
        counts, per_count(rates, counts, "rate"), per_count(messages, counts, "messages")
    )
    if min(counts) < 1 or min(fanout.rates) <= 0 or min(fanout.messages) < 1:
        raise SystemExit("subscribers, rates and messages must be positive")
    return fanout


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        default="fanout",
        help=f"comma-separated, from: {', '.join(SCENARIOS)}; or all ({', '.join(ALL)})",
    )
    parser.add_argument("--servers", help="comma-separated, from: " + ", ".join(SERVERS))
    parser.add_argument("--quick", action="store_true", help="small counts, short windows")
    parser.add_argument("--subscribers", help="fan-out: comma-separated counts, e.g. 100,1000")
    parser.add_argument("--rate", help="fan-out: messages/s, one value or one per count")
    parser.add_argument("--messages", help="fan-out: measured messages, one or one per count")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; figures are medians")
    parser.add_argument(
        "--bar-repeat",
        type=int,
        help="rounds of the fanout and broadcast cells, whose figures the bar checks "
        "(default: --repeat)",
    )
    parser.add_argument("--json", type=Path, help="where to write the results")
    parser.add_argument("--plot", type=Path, help="also draw the results to this PNG")
    parser.add_argument("--doc", type=Path, help="also put the tables in this Markdown file")
    parser.add_argument("--render", type=Path, help="run nothing: show this results file")
    parser.add_argument("--size", type=int, default=100, help="frame size in bytes")
    parser.add_argument("--loadgen-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--client", choices=["auto", "picows", "websockets"], default="auto")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--drain", type=float, default=10, help="seconds to wait for deliveries after sending"
    )
    parser.add_argument("--settle", type=float, default=1.0, help="pause after the warm-up")
    parser.add_argument("--no-install", action="store_true", help="do not touch .venv-peers")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenario.split(",") if name.strip()]
    args.scenarios = list(ALL) if names == ["all"] else names
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    args.server_names = [s.strip() for s in (args.servers or "").split(",") if s.strip()]
    unknown = [name for name in args.server_names if name not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    if args.bar_repeat is None:
        args.bar_repeat = args.repeat
    if min(args.repeat, args.bar_repeat, args.loadgen_procs) < 1:
        parser.error("--repeat, --bar-repeat and --loadgen-procs must be at least 1")
    args.kinds = {}
    for name in args.scenarios:
        kind = SCENARIOS[name].settings(args.quick)
        args.kinds[name] = fanout_settings(kind, args) if isinstance(kind, Fanout) else kind
    return args


def plan_cells(args: argparse.Namespace) -> list[Cell]:
    """Every scenario's cells: the ceiling first at each point, then the others."""
    cells = []
    for name in args.scenarios:
        scenario = SCENARIOS[name]
        chosen = args.server_names or scenario.servers
        if scenario.exclusive:
            chosen = [server for server in chosen if server in scenario.servers]
        servers = [CEILING, *(s for s in chosen if s != CEILING)] if CEILING in chosen else chosen
        for point in args.kinds[name].points():
            for index, server in enumerate(servers):
                cells.append(Cell(name, server, point, f"{name}-{point}-{index}-{server}"))
    return cells


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


#: The scenarios whose time and CPU figures the bar checks: noisy enough on a shared
#: machine that one run does not settle them.
BAR_TIMED = ("fanout", "broadcast")


def run_cells(
    cells: Sequence[Cell], args: argparse.Namespace, settings: Settings
) -> tuple[list[list[list[Row]]], bool]:
    """Every cell, ``--repeat`` times (the bar's cells ``--bar-repeat`` times), in rounds:
    noise from the rest of the machine then falls on every server alike. A cell that
    failed once is not tried again."""
    runs: list[list[list[Row]]] = [[] for _ in cells]
    rounds = [args.bar_repeat if cell.scenario in BAR_TIMED else args.repeat for cell in cells]
    try:
        for round_number in range(1, max(rounds, default=1) + 1):
            for number, cell in enumerate(cells):
                if round_number > rounds[number]:
                    continue
                if runs[number] and any(r["status"] != "ok" for r in runs[number][-1]):
                    continue
                total = rounds[number]
                of = f" round {round_number}/{total}" if total > 1 else ""
                print(
                    f"[{number + 1}/{len(cells)}{of}] {cell.scenario}: {cell.server} ...",
                    flush=True,
                )
                kind = args.kinds[cell.scenario]
                runs[number].append(measure(cell, kind, settings, bool(args.server_names)))
    except KeyboardInterrupt:
        print("\ninterrupted: every process started was stopped", file=sys.stderr)
        return runs, True
    return runs, False


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        document = json.loads(args.render.read_text())
        args.json = args.render
        print_results(document)
        try:
            publish(document, args)
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"{'-'.join(args.scenarios) if len(args.scenarios) < 3 else 'all'}-{stamp}"
    work_dir = RESULTS / "logs" / name
    work_dir.mkdir(parents=True, exist_ok=True)
    args.json = args.json or RESULTS / f"{name}.json"
    try:
        if not MAIN_PYTHON.exists():
            raise BenchError(f"{MAIN_PYTHON} is missing: run `make .venv/.installed` first")
        if not args.no_install:
            ensure_peers_venv(log=work_dir / "pip.log")
        limit = raise_open_files_limit()
        needed = 2 * max(kind.sockets() for kind in args.kinds.values()) + 256
        if limit < needed:
            raise BenchError(f"the open-files limit ({limit}) is below the {needed} this run needs")
        redis = Redis(args.redis_url)
        redis.command("PING")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    prefix = f"courant-bench-{secrets.token_hex(4)}:"
    flags = deployment_flags()
    context = Context(args.redis_url, prefix, work_dir, tuple(flags))
    settings = Settings(
        context, redis, args.loadgen_procs, args.client, args.size, args.drain, args.settle
    )
    cells = plan_cells(args)
    print(
        f"Run {name}: {len(cells)} cells; Redis key prefix {prefix!r}; logs in "
        f"{work_dir.relative_to(ROOT)}"
    )
    with terminate_as_interrupt():
        try:
            runs, interrupted = run_cells(cells, args, settings)
        finally:
            with contextlib.suppress(BenchError, OSError):
                deleted = redis.delete_prefix(prefix)
                print(f"Deleted {deleted} Redis key(s) with prefix {prefix!r}")

    results: dict[str, list[Row]] = {scenario: [] for scenario in args.scenarios}
    for cell, cell_runs in zip(cells, runs, strict=True):
        if cell_runs:
            results[cell.scenario].extend(summarize(cell_runs))
    notes = []
    for scenario, rows in results.items():
        add_ratios(scenario, rows)
        notes += checks(scenario, rows)
    document = {
        "name": name,
        "command": shlex.join(["bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "quick": args.quick,
        "repeat": args.repeat,
        "bar_repeat": args.bar_repeat,
        "redis_prefix": prefix,
        "environment": environment(args, redis, flags),
        "scenarios": {
            scenario: {
                "title": SCENARIOS[scenario].title,
                "settings": describe(args.kinds[scenario]),
                "results": rows,
            }
            for scenario, rows in results.items()
        },
        "bar": bar(results),
        "notes": notes,
    }
    redis.close()
    document = rounded(document)
    print_results(document)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2, allow_nan=False, default=str) + "\n")
    print(f"Results: {args.json}")
    try:
        publish(document, args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = any(r["status"] == "failed" for rows in results.values() for r in rows)
    return 130 if interrupted else 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

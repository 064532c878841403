"""Draw a results file of bench/run.py as one PNG: a panel per figure, a bar per server.

    bench/.venv-peers/bin/python bench/plot.py bench/results/latest.json bench/results/latest.png

run.py calls it with ``--plot``. It runs with the peers' Python, where matplotlib is
installed (bench/requirements-peers.txt), and draws only what the file has.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from report import Row, field

COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]


@dataclass(frozen=True)
class Panel:
    scenario: str
    path: str  # the figure drawn
    ratio: str  # its x_raw entry, written beside each bar
    group: str  # the row field whose values make the series (e.g. subscriber counts)
    unit: str  # of a series, in the legend
    title: str
    label: str
    log: bool = False


PANELS = [
    Panel(
        "fanout",
        "server_us_per_msg",
        "cpu",
        "subscribers",
        "subscribers",
        "Fan-out: server CPU per delivery (lower is better)",
        "µs of CPU per delivered message",
    ),
    Panel(
        "fanout",
        "latency_ms.p99",
        "",
        "subscribers",
        "subscribers",
        "Fan-out: p99 latency, send to receive",
        "ms (log scale)",
        log=True,
    ),
    Panel(
        "saturation",
        "max_deliveries_per_s",
        "rate",
        "subscribers",
        "subscribers",
        "Saturation: highest sustained rate (higher is better)",
        "deliveries per second, p99 < 100 ms, none lost",
    ),
    Panel(
        "broadcast",
        "time_to_last_ms.median",
        "time_to_last",
        "subscribers",
        "subscribers",
        "One broadcast: time until the last subscriber has it",
        "ms, median over the broadcasts",
    ),
    Panel(
        "idle",
        "kib_per_conn",
        "memory",
        "target",
        "connections",
        "Idle connections: server memory per connection",
        "KiB of resident memory per connection",
    ),
    Panel(
        "rooms",
        "server_us_per_msg",
        "cpu",
        "rooms",
        "rooms",
        "Many rooms: server CPU per delivery",
        "µs of CPU per delivered message",
    ),
]


def draw(ax: Any, panel: Panel, rows: Sequence[Row]) -> None:
    ok = [row for row in rows if row["status"] == "ok" and field(row, panel.path) is not None]
    servers = list(dict.fromkeys(row["server"] for row in ok))
    groups = list(dict.fromkeys(row[panel.group] for row in ok))
    height = 0.8 / max(len(groups), 1)
    largest = max(field(row, panel.path) for row in ok)
    for number, group in enumerate(groups):
        mine = {row["server"]: row for row in ok if row[panel.group] == group}
        ys = [servers.index(s) + (number - (len(groups) - 1) / 2) * height for s in mine]
        values = [field(row, panel.path) for row in mine.values()]
        ax.barh(
            ys,
            values,
            height=height * 0.9,
            color=COLORS[number % len(COLORS)],
            label=f"{group:,} {panel.unit}",
        )
        for y, value, row in zip(ys, values, mine.values(), strict=True):
            times = row.get("x_raw", {}).get(panel.ratio) if panel.ratio else None
            shown = f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"
            text = f" {shown}" + (f"  ({times:.2f}x raw)" if times is not None else "")
            ax.text(value, y, text, va="center", fontsize=7)
    ax.set_yticks(range(len(servers)), servers, fontsize=8)
    for label in ax.get_yticklabels():
        if label.get_text().startswith("courant"):
            label.set_fontweight("bold")
    ax.invert_yaxis()  # the ceiling on top
    ax.set_title(panel.title, fontsize=10, loc="left")
    ax.set_xlabel(panel.label, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    if panel.log:
        ax.set_xscale("log")
        ax.set_xlim(right=largest * 5)
    else:
        ax.set_xlim(0, largest * 1.45)  # room for the labels
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def bars_in(panel: Panel, rows: Sequence[Row]) -> int:
    ok = [row for row in rows if row["status"] == "ok" and field(row, panel.path) is not None]
    return len({(row["server"], row[panel.group]) for row in ok})


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    document = json.loads(Path(argv[0]).read_text())
    scenarios = document["scenarios"]
    panels = [
        p
        for p in PANELS
        if any(
            r["status"] == "ok" and field(r, p.path) is not None
            for r in scenarios.get(p.scenario, {}).get("results", [])
        )
    ]
    if not panels:
        print("nothing to draw: the file has no figure that a panel shows", file=sys.stderr)
        return 1
    columns = 2 if len(panels) > 1 else 1
    lines = (len(panels) + columns - 1) // columns
    bars = max(bars_in(p, scenarios[p.scenario]["results"]) for p in panels)
    # A Figure of its own, not pyplot's: no backend, no display, just the file.
    figure = Figure(figsize=(8 * columns, lines * max(3.2, 1.3 + 0.28 * bars)))
    axes = figure.subplots(lines, columns, squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        draw(ax, panel, scenarios[panel.scenario]["results"])
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    env = document["environment"]
    figure.suptitle(
        f"Courant benchmark {document['name']}: {env['cpus']} CPUs, Python {env['python']}, "
        f"Courant {env['courant_commit'][:10]}" + (" (quick run)" if document.get("quick") else ""),
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(argv[1], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

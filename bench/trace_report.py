"""Where the time of a traced send goes (``bench/send_latency.py --trace DIR``).

Reads the ``DIR/*.json`` files ``bench/tracehooks/sitecustomize.py`` wrote, one per process
that drained, and prints per process: the CPU share, event-loop lag, group commits, and
the per-message cycle of its connections (pipelined DATA, k = 2):

    group write (MAIL, RCPT, DATA) -> its replies     "envelope": a round trip
    replies -> the message written                     "before data": the previous commit
    message written -> its 250                         "data": a round trip
    250 -> the next group write                        "idle": the courier's turn

    python bench/trace_report.py DIR
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

_COMMANDS = {"MAIL", "RSET", "QUIT", "EHLO", "HELO", "BDAT"}


def _q(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"mean {statistics.fmean(values) * 1e3:6.2f} p50 {_q(values, 0.5) * 1e3:6.2f} "
        f"p90 {_q(values, 0.9) * 1e3:6.2f} p99 {_q(values, 0.99) * 1e3:6.2f} ms"
    )


def cycles(events: list[list[Any]]) -> dict[str, list[float]]:
    """The parts of each message's cycle over every connection of one process."""
    per: dict[int, list[list[Any]]] = defaultdict(list)
    for kind, conn, at, extra in events:
        if kind in ("w", "r"):
            per[conn].append([kind, at, extra])
    parts: dict[str, list[float]] = defaultdict(list)
    for seq in per.values():
        seq.sort(key=lambda e: e[1])
        a = b = c = d = None
        for kind, at, extra in seq:
            if kind == "w" and extra[1] == "MAIL":
                if d is not None and a is not None and b is not None and c is not None:
                    parts["envelope"].append(b - a)
                    parts["before data"].append(c - b)
                    parts["data"].append(d - c)
                    parts["idle"].append(at - d)
                    parts["cycle"].append(at - a)
                a, b, c, d = at, None, None, None
            elif kind == "w" and extra[1] not in _COMMANDS and extra[0] > 1000:
                c = at if a is not None and b is not None else None
            elif kind == "r":
                if a is not None and b is None and c is None:
                    b = at
                elif c is not None and d is None:
                    d = at
    return parts


def report(folder: Path) -> list[dict[str, Any]]:
    """One summary per traced process (also printed)."""
    out = []
    for path in sorted(folder.glob("*.json")):
        info = json.loads(path.read_text(encoding="utf-8"))
        events = info["events"]
        wall = info["end"] - info["start"]
        lag = [e[3] for e in events if e[0] == "l"]
        commits = [e[3] for e in events if e[0] == "c"]
        waits = [e[3] for e in events if e[0] == "p"]
        parts = cycles(events)
        messages = len(parts["cycle"])
        summary = {
            "pid": info["pid"],
            "wall": wall,
            "cpu_share": info["cpu"] / wall if wall else 0.0,
            "connections": info["connections"],
            "lag_ms": {q: _q(lag, q) * 1e3 for q in (0.5, 0.9, 0.99, 1.0)},
            "lag_total": sum(lag),
            "commits": len(commits),
            "commit_time": sum(c[0] for c in commits),
            "answers_per_commit": statistics.fmean(c[1] for c in commits) if commits else 0,
            "cycle_ms": {k: statistics.fmean(v) * 1e3 for k, v in parts.items() if v},
        }
        out.append(summary)
        print(
            f"process {info['pid']}: {wall:.2f} s, CPU {summary['cpu_share']:.0%} of a core, "
            f"{info['connections']} connections at the end, {messages} full cycles seen"
        )
        print(
            f"  scheduler: ran {info['ran']:.2f} s, waited for a core {info['runqueue']:.2f} s "
            f"({info['runqueue'] / wall:.0%} of the wall)"
        )
        print(f"  loop lag (1 ms sleep woke late by): {_ms(lag)}; max {max(lag or [0]) * 1e3:.1f}")
        print(
            f"  commits: {len(commits)}, {summary['answers_per_commit']:.1f} answers each, "
            f"{_ms([c[0] for c in commits])}, {summary['commit_time'] / wall:.0%} of the wall"
        )
        pending = [w[0] for w in waits if w[1]]
        print(
            f"  end of data waited for the previous commit: {len(pending)} of {len(waits)} "
            f"times, {_ms(pending)}"
        )
        for name in ("envelope", "before data", "data", "idle", "cycle"):
            print(f"  {name:>12}: {_ms(parts[name])}")
    return out


if __name__ == "__main__":
    report(Path(sys.argv[1]))

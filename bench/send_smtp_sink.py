"""Benchmark ``syndicate send`` into Postfix's ``smtp-sink``, against ``smtp-source``.

Targets (issue 6): >= 1,000 msg/s and >= 0.45 of smtp-source's rate; peak RSS <= 150 MB,
flat (within 20 %) from 10,000 to 1,000,000 subscribers.
Needs Debian's ``postfix`` package (``smtp-sink``, ``smtp-source`` in /usr/sbin).

    python bench/send_smtp_sink.py [--subscribers 20000] [--connections 4] [--processes N]
                                   [--runs 3]
    python bench/send_smtp_sink.py --rss 10000,100000,1000000
    python bench/send_smtp_sink.py --clicks on   # [lists.weekly] count_clicks = true
    python bench/send_smtp_sink.py --clicks per-subscriber   # and [analytics] per_subscriber

Each run: a fresh site and SQLite store with N subscribers and a ~30 KB digest; the real
CLI sends it (timed end to end: start-up, reading, ledger, rendering, delivery), then
``smtp-source -s 8 -m N -l 30000`` sends as many 30 KB messages to the same sink. The
delivery phase alone (ledger written → last answer recorded) is timed from the store. Memory
is sampled from /proc every 20 ms over the whole process tree (the CLI, the forkserver
and helper processes): the largest RSS of a single process, and the largest sum of their
PSS (proportional set size: pages the processes share are counted once).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from syndicate.config import load_settings
from syndicate.store import open_store
from syndicate.store.tables import deliveries, sends
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_site(
    root: Path,
    port: int,
    subscribers: int,
    connections: int | None,
    processes: int | None = None,
    *,
    database_url: str | None = None,
    clicks: str = "off",
) -> None:
    """A site with ``subscribers`` readers; ``connections`` None keeps the [smtp] defaults;
    ``clicks``: "off", "on" (count_clicks) or "per-subscriber" (and [analytics] per_subscriber)."""
    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
        + (f'[database]\nurl = "{database_url}"\n' if database_url else "")
        + '[email]\nfrom_name = "Bench"\nfrom_address = "bench@bench.example.org"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        + (
            f"connections = {connections}\nmax_messages_per_connection = 1000\n"
            if connections is not None
            else ""
        )
        + (f"processes = {processes}\n" if processes else "")
        + '[lists.weekly]\ntitle = "Weekly"\nmax_articles = 12\nlead_articles = 2\n'
        + ("count_clicks = true\n" if clicks != "off" else "")
        + ("[analytics]\nper_subscriber = true\n" if clicks == "per-subscriber" else ""),
        encoding="utf-8",
    )
    content = root / "content"
    content.mkdir()
    words = "trade corridor sanctions mediation summit pipeline border treaty freight".split()
    for n in range(12):
        body = "\n\n".join(" ".join(words[(n + i + j) % 9] for i in range(60)) for j in range(4))
        (content / f"a{n}.md").write_text(
            f"---\ntitle: Article {n} on {words[n % 9]}\ndate: 2026-11-{n + 1:02d}\n"
            f"summary: {' '.join(words) * 3}\n---\n\n{body}\n",
            encoding="utf-8",
        )
    settings = load_settings(root)
    engine = open_store(settings.database_url)
    chunk = 100_000  # build the CSV in pieces: a million rows need not be in memory at once
    for start in range(0, subscribers, chunk):
        rows = range(start, min(subscribers, start + chunk))
        csv = "email,name\n" + "".join(f"r{i}@example{i % 97}.org,Reader {i}\n" for i in rows)
        import_rows(
            engine, "weekly", read_rows(io.BytesIO(csv.encode()), "s.csv"), now=datetime.now(UTC)
        )
    engine.dispose()


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (forkserver and helpers) counted once in all."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


class TreeRss:
    """Samples the resident memory of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_one, self.peak_sum = pid, 0, 0
        self.cpu: dict[int, int] = {}  # clock ticks of user + system time, last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            sizes, shares = [], []
            for pid in self._tree():
                try:
                    sizes.append(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE)
                    shares.append(_pss(pid))
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    self.cpu[pid] = int(fields[11]) + int(fields[12])
                except (OSError, IndexError, ValueError):
                    pass
            if sizes:
                self.peak_one = max(self.peak_one, max(sizes))
                self.peak_sum = max(self.peak_sum, sum(shares))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def send_once(
    port: int,
    subscribers: int,
    connections: int | None,
    processes: int | None,
    sink: int,
    clicks: str = "off",
) -> dict:
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        make_site(root, port, subscribers, connections, processes, clicks=clicks)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": "bench-" + "x" * 24}
        command = [sys.executable, "-m", "syndicate", "--site", str(root)]
        command += ["send", "weekly", "--yes", "--offline", "--json"]
        sink_cpu = cpu_seconds(sink)
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        rss = TreeRss(proc.pid)
        out, err = proc.communicate()
        elapsed = time.perf_counter() - started
        rss.stop()
        sink_cpu = cpu_seconds(sink) - sink_cpu
        if proc.returncode != 0:
            raise SystemExit(f"send failed ({proc.returncode}):\n{err[-3000:]}")
        report = json.loads(out)
        engine = open_store(load_settings(root).database_url)
        with engine.connect() as conn:
            first = conn.scalar(select(sends.c.created_at))
            last = conn.scalar(
                select(deliveries.c.updated_at).order_by(deliveries.c.updated_at.desc())
            )
            queued = conn.scalar(select(deliveries.c.next_attempt_at).limit(1))
        engine.dispose()
        assert first and last and queued
        return {
            "elapsed": elapsed,
            "delivery": (last - queued).total_seconds(),
            "peak_one": rss.peak_one / 2**20,
            "peak_sum": rss.peak_sum / 2**20,
            "counts": report["counts"],
            "processes": report.get("processes", 1),
            "cpu_ms": sum(rss.cpu.values()) / TICK / subscribers * 1000,
            "sink_ms": sink_cpu / subscribers * 1000,
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def source_once(port: int, messages: int, sink: int) -> tuple[float, float]:
    """smtp-source's rate, and the sink's CPU milliseconds per message meanwhile."""
    command = [SOURCE, "-s", "8", "-m", str(messages), "-l", "30000"]
    command += ["-f", "a@x.test", "-t", "b@x.test", f"127.0.0.1:{port}"]
    sink_cpu = cpu_seconds(sink)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    rate = messages / (time.perf_counter() - started)
    return rate, (cpu_seconds(sink) - sink_cpu) / messages * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--processes", type=int, default=None, help="default: one per core")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rss", default=None, help="comma-separated list sizes: RSS only")
    parser.add_argument(
        "--clicks",
        choices=["off", "on", "per-subscriber"],
        default="off",
        help="count clicks (links rewritten once per send; per-subscriber: ids per copy)",
    )
    args = parser.parse_args()
    if not (os.path.exists(SINK) and os.path.exists(SOURCE)):
        raise SystemExit("needs Debian's postfix package (smtp-sink, smtp-source)")
    port = free_port()
    sink = subprocess.Popen(
        [SINK, "-u", "nobody", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        if args.rss:
            for size in (int(s) for s in args.rss.split(",")):
                r = send_once(port, size, args.connections, args.processes, sink.pid)
                print(
                    f"{size:>9,} subscribers: peak RSS {r['peak_one']:.0f} MiB per process, "
                    f"{r['peak_sum']:.0f} MiB PSS of all processes; "
                    f"{size / r['elapsed']:,.0f} msg/s end to end; {r['counts']}",
                    flush=True,
                )
            return
        ours, phase, theirs, one, total, cpu = [], [], [], [], [], []
        for run in range(args.runs):
            r = send_once(
                port, args.subscribers, args.connections, args.processes, sink.pid, args.clicks
            )
            ref, ref_sink = source_once(port, args.subscribers, sink.pid)
            ours.append(args.subscribers / r["elapsed"])
            phase.append(args.subscribers / r["delivery"])
            theirs.append(ref)
            one.append(r["peak_one"])
            total.append(r["peak_sum"])
            cpu.append(r["cpu_ms"])
            print(
                f"run {run + 1}: syndicate {ours[-1]:,.0f} msg/s end to end "
                f"({phase[-1]:,.0f} msg/s delivery phase, {r['processes']} processes); "
                f"smtp-source {ref:,.0f} msg/s; RSS {r['peak_one']:.0f} MiB/process, "
                f"{r['peak_sum']:.0f} MiB PSS in all; CPU per message: ours {r['cpu_ms']:.2f} ms, "
                f"sink {r['sink_ms']:.2f} ms (with smtp-source: {ref_sink:.2f} ms); {r['counts']}",
                flush=True,
            )
    finally:
        sink.terminate()
        sink.wait()
    med = statistics.median
    print(
        f"median of {args.runs}: syndicate send {med(ours):,.0f} msg/s end to end "
        f"(target >= 1,000), delivery phase {med(phase):,.0f} msg/s; smtp-source -s 8 "
        f"-l 30000 {med(theirs):,.0f} msg/s; ratio {med(ours) / med(theirs):.2f} end to end, "
        f"{med(phase) / med(theirs):.2f} delivery phase (target >= 0.45); peak RSS "
        f"{max(one):.0f} MiB RSS per process, {max(total):.0f} MiB PSS of all processes "
        f"(target <= 150); CPU per message {med(cpu):.3f} ms (clicks {args.clicks})"
    )


if __name__ == "__main__":
    main()

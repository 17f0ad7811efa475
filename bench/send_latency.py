"""Benchmark ``syndicate send`` to a relay far away: smtp-sink behind a latency-adding proxy.

Issue 15. For each round trip (0 ms: straight to the sink; otherwise through
``bench/latency_proxy.py``, half the round trip each way) and each sink mode (advertising
PIPELINING or not, ``smtp-sink -p``), it sends a list of N subscribers (~30 KB digest) with
the real CLI, then ``smtp-source -d -s C -m N -l 30000`` through the same proxy, with C the
connections syndicate used, and prints msg/s beside the bound C / (k × RTT): k = 4 round
trips a message without PIPELINING (MAIL, RCPT, DATA, end of data), 2 with it.

    python bench/send_latency.py [--rtt 0,10,50,100] [--messages 5000]
                                 [--connections default,32] [--sink pipelining,plain] [--runs 1]

``--sink postfix`` sends to a real Postfix smtpd instead (``bench/postfix_relay.py``: its own
config and queue, a ``discard`` transport), which offers CHUNKING: each ``--chunking`` value
(``on``: BDAT, k = 1; ``off``: pipelined DATA, k = 2) is a row.

Needs Debian's ``postfix`` package (``smtp-sink``, ``smtp-source``, ``postfix``; the Postfix
mode runs as root). smtp-sink offers no CHUNKING: BDAT is measured against Postfix only.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_proxy import LatencyProxy
from postfix_relay import postfix_relay
from send_smtp_sink import ROOT, SINK, SOURCE, free_port, make_site
from sqlalchemy import select

from syndicate.config import load_settings
from syndicate.store import open_store
from syndicate.store.tables import deliveries

try:
    import uvloop
except ImportError:  # an optional speed-up, as for syndicate itself
    uvloop = None  # type: ignore[assignment]

PROXY_CPU: list[float] = []  # the proxy's CPU seconds during each measured send
# A diagnostic, not a figure: the send in its own session (autogroup) at nice -10, so it
# waits for no core on a shared machine (its CPU share, not its code, is then no bound).
FAVOUR_SEND = os.environ.get("BENCH_FAVOUR_SEND") == "1"
HOOKS = Path(__file__).resolve().parent / "tracehooks"  # sitecustomize for --trace


def favour(pid: int) -> None:
    """Run ``pid`` (a process or thread) ahead of ordinary work, where allowed (root): on a
    shared machine the link (proxy) and the relay (sink) should not wait for a core, so
    the figures are syndicate's, not the scheduler's."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, -10)


def favour_link() -> None:
    """Where the kernel groups processes by session (``sched_autogroup``, on by default), a
    process's nice value counts only inside its session: the bench's proxy and sink at
    nice -10 still waited for a core behind other sessions' work, and ahead of the send
    they measure (measured: the proxy released chunks 1.5 ms late on average, the sink took
    3 ms to answer, on a machine with a load of 5). So the bench's own session is raised
    (restored at exit), and what is measured (``syndicate send``, ``smtp-source``) runs in
    a session of its own at the ordinary weight, as a send from a terminal would."""
    path = Path("/proc/self/autogroup")
    try:
        before = path.read_text().split()[-1]
        path.write_text("-10")
    except (OSError, IndexError):
        return
    atexit.register(lambda: path.write_text(before))


def _favour_session() -> None:
    """In the child, after setsid: raise the new autogroup's weight (root only)."""
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
        group.write("-10")


class ProxyThread:
    """A :class:`LatencyProxy` on its own event loop in a daemon thread."""

    def __init__(self, upstream: int, delay: float) -> None:
        # uvloop when installed (as syndicate uses it): the proxy's own CPU and scheduling
        # delay stay out of what is measured
        self.loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
        self.proxy = LatencyProxy(upstream, delay)
        threading.Thread(target=self._run, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result()
        self.port = self.proxy.port

    def _run(self) -> None:
        favour(threading.get_native_id())
        self.loop.run_forever()

    def trace(self) -> None:
        """Keep each chunk's lateness and the proxy loop's lag (``--trace``)."""
        self.proxy.late, self.proxy.turnaround, self.lag = [], [], []

        async def probe() -> None:
            while True:
                asked = time.perf_counter()
                await asyncio.sleep(0.001)
                self.lag.append(time.perf_counter() - asked - 0.001)

        self._probe = asyncio.run_coroutine_threadsafe(probe(), self.loop)

    lag: list[float] | None = None
    _probe: concurrent.futures.Future[None] | None = None

    def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)


def syndicate_once(
    port: int,
    messages: int,
    connections: int | None,
    proxy: ProxyThread | None,
    processes: int | None = None,
    *,
    chunking: bool = True,
    trace: Path | None = None,
    force: tuple[int, int] | None = None,
) -> tuple[float, int, int]:
    """msg/s of ``syndicate send`` (with a proxy: first to last byte on the wire; without:
    the delivery phase from the store, to the second), connections used, processes."""
    if proxy is not None:
        proxy.proxy.reset()
    root = Path(tempfile.mkdtemp(prefix="syndicate-latency-"))
    try:
        make_site(root, port, messages, connections, processes)
        if not chunking:
            config = root / "syndicate.toml"
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace("[smtp]\n", "[smtp]\nchunking = false\n"), "utf-8")
        used = load_settings(root).config.smtp
        assert used is not None
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": "bench-" + "x" * 24}
        if trace is not None:  # timelines of every process (bench/tracehooks/sitecustomize.py)
            env["PYTHONPATH"] = f"{HOOKS}{os.pathsep}{ROOT}"
            env["SYNDICATE_TRACE"] = str(trace)
            if proxy is not None:
                proxy.trace()
        if force is not None:  # processes and starting connections, whatever plan says
            env["PYTHONPATH"] = f"{HOOKS}{os.pathsep}{ROOT}"
            env["SYNDICATE_TRACE_PROCESSES"], env["SYNDICATE_TRACE_START"] = map(str, force)
        command = [sys.executable, "-m", "syndicate", "--site", str(root)]
        command += ["send", "weekly", "--yes", "--offline", "--json"]
        started = time.perf_counter()
        own = resource.getrusage(resource.RUSAGE_SELF)  # the proxy's thread: the rest waits
        proc = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
            preexec_fn=_favour_session if FAVOUR_SEND else None,
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        PROXY_CPU.append(after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"send failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        if os.environ.get("BENCH_SHOW_LOG"):  # the send's own lines (connections it tried)
            print(proc.stderr, file=sys.stderr)
        report = json.loads(proc.stdout)
        sent = report["counts"].get("sent", 0)
        if sent != messages:
            raise SystemExit(f"only {sent} of {messages} sent: {report['counts']}")
        engine = open_store(load_settings(root).database_url)
        with engine.connect() as conn:  # the delivery phase: ledger written -> last answer
            last = conn.scalar(
                select(deliveries.c.updated_at).order_by(deliveries.c.updated_at.desc())
            )
            queued = conn.scalar(select(deliveries.c.next_attempt_at).limit(1))
        engine.dispose()
        assert last and queued
        phase = (last - queued).total_seconds()
        del elapsed  # start-up and rendering are not what latency changes
        if proxy is not None and proxy.proxy.first is not None and proxy.proxy.last:
            phase = proxy.proxy.last - proxy.proxy.first
        # what the send ended with (adaptive concurrency), else the setting
        limit = report.get("connections") or getattr(used, "max_connections", None)
        limit = limit or used.connections
        if proxy is not None:  # the proxy's share of one core while the copies crossed
            PROXY_CPU[-1] = PROXY_CPU[-1] / phase
        return messages / phase, limit, report.get("processes", 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if trace is not None:
            show_trace(trace, proxy)


def show_trace(folder: Path, proxy: ProxyThread | None) -> None:
    """Per process: CPU, loop lag, commits, the message cycle; then the proxy's lateness."""
    from trace_report import _ms, report

    report(folder)
    if proxy is not None and proxy.proxy.late is not None:
        print(f"proxy: chunks released late by {_ms(proxy.proxy.late)}")
        print(f"proxy: loop lag {_ms(proxy.lag or [])}")
        turnaround = proxy.proxy.turnaround or []
        print(f"relay turnaround (chunk handed to it -> reply): {_ms(turnaround)}")


def source_once(port: int, messages: int, sessions: int) -> float:
    command = [SOURCE, "-d", "-s", str(sessions), "-m", str(messages), "-l", "30000"]
    command += ["-f", "a@x.test", "-t", "b@x.test", f"127.0.0.1:{port}"]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, start_new_session=True)
    return messages / (time.perf_counter() - started)


@contextlib.contextmanager
def smtp_sink(*, plain: bool) -> Iterator[int]:
    """Postfix's smtp-sink on a free port (``plain``: without PIPELINING, ``-p``)."""
    port = free_port()
    flags = ["-p"] if plain else []
    sink = subprocess.Popen(
        [SINK, "-u", "nobody", *flags, f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    favour(sink.pid)
    try:
        time.sleep(0.3)
        yield port
    finally:
        sink.terminate()
        sink.wait()


def measure(
    args: argparse.Namespace,
    mode: str,
    rtt: float,
    port: int,
    proxy: ProxyThread | None,
    conn: str,
    *,
    chunking: bool,
) -> dict[str, object]:
    """One row: syndicate (median of the runs), smtp-source, the bound."""
    connections = None if conn == "default" else int(conn)
    ours, theirs = [], []
    PROXY_CPU.clear()
    used = procs = 0
    for _ in range(args.runs):
        trace = None
        if args.trace is not None:
            trace = Path(tempfile.mkdtemp(prefix="run-", dir=args.trace))
        force = None
        if args.force is not None:
            count, start = args.force.split("x")
            force = (int(count), int(start))
        rate, used, procs = syndicate_once(
            port,
            args.messages,
            connections,
            proxy,
            args.processes,
            chunking=chunking,
            trace=trace,
            force=force,
        )
        ours.append(rate)
        if not args.no_source:
            theirs.append(source_once(port, args.messages, used))
    k = 4 if mode == "plain" or not args.pipelining else 2
    if mode == "postfix" and chunking and args.pipelining:
        k = 1
    bound = used / (k * rtt / 1000) if rtt > 0 else float("inf")
    ref = statistics.median(theirs) if theirs else float("nan")
    row: dict[str, object] = {
        "rtt_ms": rtt,
        "sink": mode,
        "setting": conn,
        "chunking": chunking if mode == "postfix" else None,
        "connections": used,
        "processes": procs,
        "syndicate": statistics.median(ours),
        "runs": ours,
        "bound": bound,
        "ratio_to_bound": statistics.median(ours) / bound,
        "smtp_source": ref,
        "proxy_cpu": statistics.median(PROXY_CPU) if proxy else 0.0,
        "load": os.getloadavg()[0],
    }
    label = f"{mode}{' BDAT' if mode == 'postfix' and chunking else ''}"
    print(
        f"rtt {rtt:>4g} ms, sink {label:<12} connections {conn:>7} "
        f"(C={used}, {procs} processes): syndicate {statistics.median(ours):7.1f} msg/s; "
        f"bound C/({k}xRTT) {bound:7.1f} (ratio {statistics.median(ours) / bound:.2f}); "
        f"smtp-source -d -s {used} {ref:7.1f} msg/s; proxy CPU {row['proxy_cpu']:.0%} "
        f"of a core; load {row['load']:.1f}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rtt", default="0,10,50,100", help="round trips in ms")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument(
        "--connections", default="default,32", help="'default' keeps [smtp] connections unset"
    )
    parser.add_argument("--sink", default="pipelining,plain", help="pipelining, plain, postfix")
    parser.add_argument("--chunking", default="on,off", help="with --sink postfix: BDAT or not")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-source", action="store_true", help="skip smtp-source")
    parser.add_argument("--processes", type=int, default=None, help="default: one per core")
    parser.add_argument("--trace", type=Path, help="a folder: per-process timelines of each send")
    parser.add_argument(
        "--force", help="PxC: P processes starting with C connections in all, whatever plan says"
    )
    parser.add_argument(
        "--unpipelined-client",
        dest="pipelining",
        action="store_false",
        help="the code measured does not pipeline (k = 4 in the bound)",
    )
    args = parser.parse_args()
    favour_link()
    if args.trace is not None:
        args.trace.mkdir(parents=True, exist_ok=True)
    if not (os.path.exists(SINK) and os.path.exists(SOURCE)):
        raise SystemExit("needs Debian's postfix package (smtp-sink, smtp-source)")
    rows = []
    for mode in args.sink.split(","):
        with contextlib.ExitStack() as stack:
            if mode == "postfix":
                sink_port = stack.enter_context(postfix_relay())
            else:
                sink_port = stack.enter_context(smtp_sink(plain=mode == "plain"))
            chunkings = args.chunking.split(",") if mode == "postfix" else ["on"]
            for rtt in (float(r) for r in args.rtt.split(",")):
                proxy = ProxyThread(sink_port, rtt / 2000) if rtt > 0 else None
                port = proxy.port if proxy else sink_port
                try:
                    for conn, chunk in itertools.product(args.connections.split(","), chunkings):
                        row = measure(args, mode, rtt, port, proxy, conn, chunking=chunk == "on")
                        rows.append(row)
                finally:
                    if proxy:
                        proxy.stop()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

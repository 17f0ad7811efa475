"""Benchmark ``syndicate send`` into Postfix's ``smtp-sink``, against ``smtp-source``.

Targets (issue 6): ≥ 1,000 msg/s and ≥ 0.45 of smtp-source's rate, peak RSS ≤ 150 MB.
Needs Debian's ``postfix`` package (``smtp-sink``, ``smtp-source`` in /usr/sbin).

    python bench/send_smtp_sink.py [--subscribers 20000] [--connections 4]

One run: a fresh site and SQLite store with N subscribers and a ~30 KB digest; the real CLI
sends it (timed, including start-up, ledger and rendering); then smtp-source sends the same
number of 30 KB messages over 8 sessions to the same sink.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syndicate.config import load_settings
from syndicate.store import open_store
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_site(root: Path, port: int, subscribers: int, connections: int) -> None:
    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
        '[email]\nfrom_name = "Bench"\nfrom_address = "bench@bench.example.org"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"connections = {connections}\nmax_messages_per_connection = 1000\n"
        '[lists.weekly]\ntitle = "Weekly"\nmax_articles = 12\nlead_articles = 2\n',
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
    csv = "email,name\n" + "".join(
        f"r{i}@example{i % 97}.org,Reader {i}\n" for i in range(subscribers)
    )
    import_rows(
        engine, "weekly", read_rows(io.BytesIO(csv.encode()), "s.csv"), now=datetime.now(UTC)
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    if not (os.path.exists(SINK) and os.path.exists(SOURCE)):
        raise SystemExit("needs Debian's postfix package (smtp-sink, smtp-source)")
    port = free_port()
    sink = subprocess.Popen(
        [SINK, "-u", "nobody", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        time.sleep(0.3)
        make_site(root, port, args.subscribers, args.connections)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SYNDICATE_SECRET": "bench-secret-" + "x" * 20,
        }
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "syndicate",
                "--site",
                str(root),
                "send",
                "weekly",
                "--yes",
                "--offline",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        ours = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            raise SystemExit(f"send failed ({done.returncode}):\n{done.stderr[-3000:]}")
        size = sum(1 for _ in (root / "content").iterdir())
        started = time.perf_counter()
        subprocess.run(
            [
                SOURCE,
                "-s",
                "8",
                "-m",
                str(args.subscribers),
                "-l",
                "30000",
                "-f",
                "a@x.test",
                "-t",
                "b@x.test",
                f"127.0.0.1:{port}",
            ],
            check=True,
            capture_output=True,
        )
        theirs = time.perf_counter() - started
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(root, ignore_errors=True)
    rate, reference = args.subscribers / ours, args.subscribers / theirs
    print(
        f"syndicate send: {args.subscribers:,} messages in {ours:.1f} s = {rate:,.0f} msg/s "
        f"(target >= 1,000), {args.connections} connections, {size} articles; "
        f"peak RSS {peak:.0f} MiB (target <= 150)"
    )
    print(
        f"smtp-source -s 8 -l 30000: {reference:,.0f} msg/s; ratio {rate / reference:.2f} "
        "(target >= 0.45)"
    )
    print(f"outcome: {json.loads(done.stdout)['counts']}")


if __name__ == "__main__":
    main()

"""Benchmark ``syndicate worker``: 1, 2 and 4 workers draining one send into ``smtp-sink``.

Issue 8: msg/s for each worker count. Needs Debian's ``postfix`` package (``smtp-sink``) and
a PostgreSQL server (default: the test database on 127.0.0.1; each run gets a fresh schema
that is dropped afterwards).

    python bench/workers_smtp_sink.py [--subscribers 20000] [--workers 1,2,4]
        [--connections 4] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Each run: a site on a fresh schema with N subscribers; ``syndicate send weekly --workers``
records the digest and its ledger (not timed); then W ``syndicate worker --once`` processes
start together, each with ``--connections`` SMTP connections, and the time until the last
one exits (every copy answered) is measured, start-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from send_smtp_sink import ROOT, SINK, free_port, make_site


def run_once(base_url: str, port: int, subscribers: int, workers: int, connections: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    root = Path(tempfile.mkdtemp(prefix="syndicate-workers-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": "bench-" + "x" * 24}
    base = [sys.executable, "-m", "syndicate", "--site", str(root)]
    try:
        make_site(root, port, subscribers, connections, 1, database_url=url)
        queued = subprocess.run(
            [*base, "send", "weekly", "--workers", "--yes", "--offline", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(queued.stdout)["counts"] == {"queued": subscribers}, queued.stdout
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [*base, "worker", "--once", "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        answered = 0
        for proc in procs:
            out, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"worker failed:\n{err[-2000:]}")
            answered += json.loads(out)["answered"]
        elapsed = time.perf_counter() - started
        if answered != subscribers:
            raise SystemExit(f"{answered} answered, expected {subscribers}")
        return subscribers / elapsed
    finally:
        shutil.rmtree(root, ignore_errors=True)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections per worker")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    if not os.path.exists(SINK):
        raise SystemExit("needs Debian's postfix package (smtp-sink)")
    port = free_port()
    sink = subprocess.Popen(
        [SINK, "-u", "nobody", f"127.0.0.1:{port}", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.3)
        for count in (int(w) for w in args.workers.split(",")):
            rates = sorted(
                run_once(args.database_url, port, args.subscribers, count, args.connections)
                for _ in range(args.runs)
            )
            print(
                f"{count} worker(s) x {args.connections} connections: "
                f"{rates[len(rates) // 2]:,.0f} msg/s (median of {args.runs}; "
                f"{args.subscribers:,} messages, PostgreSQL, start-up included)",
                flush=True,
            )
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()

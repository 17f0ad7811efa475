"""Benchmark outgoing webhooks: what recording costs an import, and how fast the outbox drains.

    python bench/webhooks.py [--subscribers 10000] [--runs 3]

1. ``syndicate subscribers import`` of N readers into a fresh SQLite site, through the real
   CLI in a child process, without ``[[webhooks]]`` and with one endpoint taking every event
   (two events per reader: ``subscriber.created`` and ``subscriber.confirmed``, recorded in
   each batch's transaction). Reported: the median wall clock of each and their ratio.
2. The sender (``WebhookSender``, as ``syndicate run`` runs it) delivering those 2N events to
   a local receiver (uvicorn, a bare ASGI app answering 204, in a child process on
   127.0.0.1), signed, from the same store. Reported: the median events/s.

The machine is shared: compare the ratio, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SITE = """\
[publication]
title = "Bench"
base_url = "https://bench.example.org"

[lists.weekly]
title = "Weekly"
"""
HOOK = """
[[webhooks]]
name = "bench"
url = "http://127.0.0.1:{port}/hook"
events = ["*"]
secret_env = "BENCH_WEBHOOK_SECRET"
"""
RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_site(root: Path, subscribers: int, hook_port: int | None) -> Path:
    root.mkdir(parents=True)
    extra = HOOK.format(port=hook_port) if hook_port is not None else ""
    (root / "syndicate.toml").write_text(SITE + extra, encoding="utf-8")
    csv = root / "people.csv"
    with csv.open("w", encoding="utf-8") as fh:
        fh.write("email,name\n")
        for i in range(subscribers):
            fh.write(f"reader{i}@example{i % 997}.org,Reader {i}\n")
    return csv


def import_once(root: Path, csv: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", "--site", str(root), "subscribers", "import",
         "weekly", str(csv)],
        capture_output=True, env=env, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return elapsed


def drain(root: Path, env: dict[str, str]) -> tuple[int, float]:
    os.environ.update(env)
    from syndicate.config import load_settings
    from syndicate.events.sender import WebhookSender
    from syndicate.store import open_store

    settings = load_settings(root)
    engine = open_store(settings.database_url)

    async def go() -> int:
        sender = WebhookSender(settings.config.webhooks, engine)
        delivered = 0
        try:
            while True:
                report = await sender.run_round()
                delivered += sum(report.delivered.values())
                if not report.claimed:
                    return delivered
        finally:
            await sender.aclose()

    started = time.perf_counter()
    count = asyncio.run(go())
    elapsed = time.perf_counter() - started
    engine.dispose()
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from syndicate.config.webhooks import new_secret

    env = {**os.environ, "BENCH_WEBHOOK_SECRET": new_secret()}
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="syndicate-bench-hooks-"))
    (work / "receiver.py").write_text(RECEIVER, encoding="utf-8")
    receiver = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(work), "receiver:app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        env=env,
    )  # fmt: skip
    plain, hooked, rates = [], [], []
    try:
        time.sleep(1.5)  # uvicorn's start; the first drain would only retry otherwise
        for run in range(args.runs):
            base = work / f"run{run}"
            csv = make_site(base / "plain", args.subscribers, None)
            plain.append(import_once(base / "plain", csv, env))
            csv = make_site(base / "hooked", args.subscribers, port)
            hooked.append(import_once(base / "hooked", csv, env))
            count, elapsed = drain(base / "hooked", env)
            if count != 2 * args.subscribers:
                raise SystemExit(f"delivered {count}, expected {2 * args.subscribers}")
            rates.append(count / elapsed)
            print(
                f"run {run + 1}: import {plain[-1]:.2f} s without webhooks, "
                f"{hooked[-1]:.2f} s with ({hooked[-1] / plain[-1]:.2f}x); "
                f"drained {count:,} events in {elapsed:.2f} s ({count / elapsed:,.0f}/s)",
                flush=True,
            )
    finally:
        receiver.terminate()
        receiver.wait()
        shutil.rmtree(work, ignore_errors=True)
    p, h, r = statistics.median(plain), statistics.median(hooked), statistics.median(rates)
    print(
        f"median of {args.runs}: import of {args.subscribers:,} readers {p:.2f} s without "
        f"webhooks, {h:.2f} s with one endpoint on every event ({h / p:.2f}x); "
        f"sender {r:,.0f} events/s to a local receiver"
    )


if __name__ == "__main__":
    main()

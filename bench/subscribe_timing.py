"""Benchmark: does ``POST /subscribe`` answer known and new addresses in the same time?

An answer that comes faster for an address already subscribed tells anyone who is (issue 13,
item 7: 3.3 ms against 7.9 ms, with identical bodies). This writes a one-list site into a
temp folder (SQLite, no ``[smtp]``: the outbox delivers into the site's Maildir), stores
``--requests`` active subscribers, and starts a real ``syndicate run`` on a free port of
127.0.0.1 (its per-client rate limit lifted, as every request comes from 127.0.0.1; nothing
else changed). After ``--warmup`` requests of each kind, one keep-alive client posts the
form ``--requests`` times for known addresses and as many times for new ones, interleaved
(new, known, known, new, new, known, …: each kind as often first; each address once), back
to back (``--pause`` ms between requests). Printed: the median answer
time of each kind, their ratio (new / known; the target is within 10 %), p90s, and whether
every answer had the same status and body. Afterwards it waits until the outbox mailed
every new address (the work was done, after the answers) and checks that no known
address got a mail.

    python bench/subscribe_timing.py [--requests 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789abcdef"
START = re.compile(r"listening on http://127\.0\.0\.1:(\d+); ")
# `syndicate run` with the subscribe form's per-client limit lifted; nothing else differs.
RUN = """\
import sys
import syndicate.web.app as app
from syndicate.cli import main
from syndicate.web.ratelimit import RateLimiter

real = app.create_app


def unlimited(*args, **kwargs):
    return real(*args, **{**kwargs, "limiter": RateLimiter(capacity=10**9, period=1)})


app.create_app = unlimited
sys.exit(main(sys.argv[1:]))
"""


def free_port() -> int:
    """A port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_site(root: Path, port: int) -> None:
    """A site with one list, served on ``port``, mailing into its Maildir."""
    (root / "content").mkdir(parents=True)
    (root / "syndicate.toml").write_text(
        f"""\
[publication]
title = "Bench Letter"
base_url = "https://bench.example.org"

[database]
url = "sqlite:///{root / "state.db"}"

[email]
from_name = "Bench Letter"
from_address = "letter@bench.example.org"

[web]
base_url = "http://127.0.0.1:{port}"

[lists.weekly]
title = "Weekly"
""",
        encoding="utf-8",
    )


def store_known(root: Path, addresses: list[str]) -> None:
    """``addresses`` as active subscribers of ``weekly`` (through the store's own functions)."""
    from syndicate.config import load_settings
    from syndicate.models import Source, Status
    from syndicate.store import open_store
    from syndicate.store import subscribers as repo
    from syndicate.store.subscribers import Change, NewSubscriber

    engine = open_store(load_settings(root).database_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        new = [NewSubscriber(email=a, key=a, name=None, attributes=()) for a in addresses]
        ids = repo.insert_subscribers(conn, new, now=now)
        changes = [
            Change(
                subscriber_id=sid,
                list_name="weekly",
                status=Status.ACTIVE,
                previous=None,
                source=Source.CLI,
            )
            for sid in ids.values()
        ]
        repo.apply_changes(conn, changes, now=now)
    engine.dispose()


def start(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``syndicate run --port PORT``; returns once it says it listens."""
    env = {**os.environ, "SYNDICATE_SECRET": SECRET, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, "-c", RUN, "--site", str(root), "run", "--port", str(port)]
    with log.open("ab") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, env=env)
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        line = proc.stdout.readline().decode() if sel.select(30.0) else ""
    if not START.search(line):
        stop(proc)
        raise SystemExit(f"syndicate run did not start: {line!r}\n{log.read_text()}")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 40 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def mailed(root: Path) -> list[str]:
    """The recipients of the mails in the site's Maildir (its ``To:`` lines)."""
    found = []
    for path in (root / "maildir" / "new").glob("*"):
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        found += re.findall(r"(?m)^To: (.+?)\r?$", head)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="of each kind (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="of each kind first (default 20)")
    parser.add_argument("--pause", type=float, default=0, help="ms between requests (default 0)")
    args = parser.parse_args()
    n, warm = args.requests, args.warmup
    with tempfile.TemporaryDirectory(prefix="bench-subscribe-") as tmp:
        root = Path(tmp) / "site"
        port = free_port()
        write_site(root, port)
        known = [f"known{i}@example.org" for i in range(n + warm)]
        store_known(root, known)
        new = [f"new{i}@example.org" for i in range(n + warm)]
        log = Path(tmp) / "run.log"
        proc = start(root, port, log)
        times: dict[str, list[float]] = {"known": [], "new": []}
        answers: set[tuple[int, bytes]] = set()
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for i in range(n + warm):
                    pair = [("known", known[i]), ("new", new[i])]
                    for kind, address in pair if i % 2 else pair[::-1]:
                        form = {"email": address, "name": "", "list": "weekly"}
                        began = time.perf_counter()
                        answer = client.post("/subscribe", data=form)
                        took = time.perf_counter() - began
                        answers.add((answer.status_code, answer.content))
                        if i >= warm:
                            times[kind].append(took * 1000)
                        time.sleep(args.pause / 1000)
            deadline = time.monotonic() + 120
            while len(mailed(root)) < len(new) and time.monotonic() < deadline:
                time.sleep(0.5)
            recipients = mailed(root)
        finally:
            stop(proc)
    k, w = statistics.median(times["known"]), statistics.median(times["new"])
    p90 = {kind: statistics.quantiles(values, n=10)[-1] for kind, values in times.items()}
    print(f"POST /subscribe on syndicate run, {n} known and {n} new addresses, interleaved")
    print(f"  known: median {k:.2f} ms, p90 {p90['known']:.2f} ms")
    print(f"  new:   median {w:.2f} ms, p90 {p90['new']:.2f} ms")
    print(f"  ratio new/known: {w / k:.3f} (target: within 10 %)")
    print(f"  answers: {len(answers)} distinct (status, body) of {2 * (n + warm)}")
    got_new = sum(1 for r in recipients if r.startswith("new"))
    got_known = sum(1 for r in recipients if r.startswith("known"))
    print(f"  mailed afterwards: {got_new} of {len(new)} new addresses, {got_known} known ones")
    if len(answers) != 1 or got_new != len(new) or got_known:
        raise SystemExit("unexpected: the answers differ, or the mails are not as they should be")


if __name__ == "__main__":
    main()

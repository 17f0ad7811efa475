"""Benchmark ``syndicate bounces import``: N messages (a realistic mix) from a Maildir.

Target (issue 14): ≥ 2,000 messages/s; memory flat (≤ 150 MB) from 10,000 to 100,000.

    python bench/bounces_import.py [--messages 10000 100000] [--runs 3]

The mix, by share: DSNs with VERP tokens (hard, soft, ours, delayed) 60 %, real-world
non-standard bounces from tests/data/bounces (flufl.bounce heuristics) 20 %, ARF complaints
5 %, automatic replies 10 %, ordinary mail 5 %; each message made unique by its recipient.
Each run imports into a fresh site through the real CLI in a child process; the figures are
messages/s (median) and the child's peak resident memory.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "bounces"
CONFIG = """[publication]
title = "Bench"
base_url = "https://news.example.org"
[email]
from_name = "Bench"
from_address = "letters@news.example.org"
[lists.weekly]
title = "Weekly"
[bounces]
address = "bounces@news.example.org"
"""
DIAGNOSTICS = [
    ("5.1.1", "550 5.1.1 The email account that you tried to reach does not exist"),
    ("5.2.2", "552 5.2.2 mailbox full"),
    ("5.7.1", "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"),
    ("4.4.7", "retry timeout exceeded"),
]


def dsn(i: int, status: str, diagnostic: str, action: str = "failed") -> bytes:
    to = f"bounces+{i:x}-{i + 7:x}-{i:020x}@news.example.org"  # a token shape, unsigned
    return (
        f"Return-Path: <>\r\nDelivered-To: {to}\r\nTo: {to}\r\n"
        "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
        + "This is the mail system at host mx.example.net.\r\n"
        * 8
        + "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; reader{i}@example.com\r\nAction: {action}\r\n"
        f"Status: {status}\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <weekly-3.{i + 7}@news.example.org>\r\nSubject: Weekly\r\n\r\n--B--\r\n"
    ).encode()


def generate(box: Path, count: int, seed: int = 14) -> None:
    rng = random.Random(seed)
    real = [p.read_bytes() for p in sorted(DATA.glob("*.txt"))]
    arf = (DATA / "made_arf_yahoo.eml").read_bytes()
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i in range(count):
        roll = rng.random()
        if roll < 0.6:
            status, text = rng.choice(DIAGNOSTICS)
            data = dsn(i, status, text, "delayed" if status.startswith("4") else "failed")
        elif roll < 0.8:
            data = rng.choice(real) + f"\n\nX-Bench: {i}\n".encode()
        elif roll < 0.85:
            data = arf.replace(b"reader@yahoo.com", f"reader{i}@yahoo.com".encode())
        elif roll < 0.95:
            data = f"From: r{i}@example.org\r\nSubject: Out of office\r\n\r\nAway.\r\n".encode()
        else:
            data = f"From: r{i}@example.org\r\nSubject: hi\r\n\r\nThanks!\r\n".encode()
        (box / "new" / f"{i:08d}.bench").write_bytes(data)


def run_once(count: int) -> tuple[float, int]:
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        (root / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
        box = root / "bounces"
        generate(box, count)
        env = {**os.environ, "SYNDICATE_SECRET": "bench-secret-0123456789"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        command = [sys.executable, "-m", "syndicate", "--site", str(root), "bounces", "import"]
        subprocess.run(
            [*command, str(box), "--json"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return elapsed, max(peak, before)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[10_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for count in args.messages:
        times, peaks = [], []
        for _ in range(args.runs):
            elapsed, peak = run_once(count)
            times.append(elapsed)
            peaks.append(peak)
        median = statistics.median(times)
        print(
            f"{count:,} messages: median {median:.2f} s = {count / median:,.0f} messages/s "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)}); "
            f"peak RSS {max(peaks) / 1024:.0f} MB (the largest child so far)"
        )


if __name__ == "__main__":
    main()

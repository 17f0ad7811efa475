"""Benchmark ``syndicate bounces import``: N messages (a realistic mix) from a Maildir.

Target (issue 14): ≥ 2,000 messages/s; memory flat (≤ 150 MB) from 10,000 to 100,000.

    python bench/bounces_import.py [--messages 10000 100000] [--runs 3] [--subscribers 20000]
    python bench/bounces_import.py --parse-only --messages 10000   # parsing alone, in-process

The site (built before the clock starts, not timed): ``--subscribers`` readers (default
20,000) on the weekly list, imported through the store API, and one finished send of
issue 3 to all of them (a ``sent`` ledger row per copy, mailed a day ago). The bounces are
mailed back to those copies' real VERP return paths (signed with the bench's
``SYNDICATE_SECRET``), so matching and the policy really run and hard bounces and
complaints change subscribers. The mix, by share:

- 60 % RFC 3464 DSNs to a copy's VERP address, naming its reader and returning its
  Message-ID: 5.1.1 no such user (hard), 5.2.2 mailbox full (soft, scored), 5.7.1 blocked
  (ours) and 4.4.7 delayed, a quarter each;
- 20 % real-world non-standard bounces from tests/data/bounces (flufl.bounce heuristics),
  delivered to a copy's VERP address (``Delivered-To``), otherwise as the MTA wrote them;
- 5 % ARF complaints (Yahoo's shape) whose Original-Mail-From is a copy's VERP address;
- 10 % automatic replies (out of office) and 5 % ordinary mail from readers.

Readers are drawn at random: a reader may bounce more than once (scored), and about 2 % of
the DSNs come twice, byte for byte (the second counts as already imported).
Each run imports into a fresh site through the real CLI in a child process; the figures
are messages/s (median of the wall clock), the CPU time (user + sys) of the command and all
its processes, and the peak memory of the command's whole process tree (sampled every
100 ms, summed over the processes: PSS, which counts a page shared by several processes
once, and RSS, which counts it in each). ``--parse-only`` times only
:func:`syndicate.feedback.parse.parse` over the same Maildir, in this process, one core.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "bounces"
SECRET = "bench-secret-0123456789-abcdefghijklmnop"
ADDRESS = "bounces@news.example.org"
HOST = "news.example.org"
DIGEST = "weekly-3"
CONFIG = f"""[publication]
title = "Bench"
base_url = "https://{HOST}"
[email]
from_name = "Bench"
from_address = "letters@{HOST}"
[lists.weekly]
title = "Weekly"
[bounces]
address = "{ADDRESS}"
"""
DIAGNOSTICS = [
    ("5.1.1", "550 5.1.1 The email account that you tried to reach does not exist"),
    ("5.2.2", "552 5.2.2 mailbox full"),
    ("5.7.1", "554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"),
    ("4.4.7", "retry timeout exceeded"),
]


def dsn(to: str, reader: str, message_id: str, status: str, diagnostic: str) -> bytes:
    action = "delayed" if status.startswith("4") else "failed"
    return (
        f"Return-Path: <>\r\nDelivered-To: {to}\r\nTo: {to}\r\n"
        "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
        + "This is the mail system at host mx.example.net.\r\n"
        * 8
        + "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {reader}\r\nAction: {action}\r\n"
        f"Status: {status}\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Return-Path: <{to}>\r\nMessage-ID: {message_id}\r\nSubject: Weekly\r\n\r\n--B--\r\n"
    ).encode()


def build_site(root: Path, readers: int) -> list[tuple[int, str, str]]:
    """The site and its store: readers, one finished send to all. (id, address, sender)."""
    from syndicate.config.settings import load_settings
    from syndicate.store import open_store
    from syndicate.store.tables import deliveries, digests, sends, subscribers
    from syndicate.subscribers.csvfile import read_rows
    from syndicate.subscribers.importer import import_rows
    from syndicate.subscribers.tokens import site_signer
    from syndicate.subscribers.verp import site_verp

    (root / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
    os.environ["SYNDICATE_SECRET"] = SECRET  # the tokens must verify in the import
    settings = load_settings(root)
    engine = open_store(settings.database_url)
    now = datetime.now(UTC)
    try:
        csv = "email\n" + "".join(f"reader{i}@example{i % 97}.com\n" for i in range(readers))
        rows = read_rows(io.BytesIO(csv.encode()), "bench.csv")
        import_rows(engine, "weekly", rows, now=now - timedelta(days=30))
        with engine.begin() as conn:
            people = conn.execute(select(subscribers.c.id, subscribers.c.email)).all()
            conn.execute(
                insert(digests).values(
                    id=DIGEST,
                    list_name="weekly",
                    issue=3,
                    created_at=now - timedelta(days=1),
                    sent_at=now - timedelta(days=1),
                    article_ids="[]",
                )
            )
            send_id = conn.execute(
                insert(sends)
                .values(
                    list_name="weekly",
                    digest_id=DIGEST,
                    status="done",
                    created_at=now - timedelta(days=1),
                    finished_at=now - timedelta(days=1),
                )
                .returning(sends.c.id)
            ).scalar_one()
            sent = now - timedelta(days=1)
            conn.execute(
                insert(deliveries),
                [
                    {
                        "send_id": send_id,
                        "subscriber_id": sid,
                        "variant": "[]",
                        "status": "sent",
                        "attempts": 1,
                        "next_attempt_at": sent,
                        "last_code": 250,
                        "last_reply": "ok",
                        "updated_at": sent,
                    }
                    for sid, _ in people
                ],
            )
        verp = site_verp(settings, site_signer(settings))
        assert verp is not None
        return [(sid, email, verp.sender(send_id, sid)) for sid, email in people]
    finally:
        engine.dispose()


def generate(box: Path, count: int, people: list[tuple[int, str, str]], seed: int = 14) -> None:
    rng = random.Random(seed)
    real = [p.read_bytes() for p in sorted(DATA.glob("*.txt"))]
    arf = (DATA / "made_arf_yahoo.eml").read_bytes()
    arf_sender = b"bounces+c-2o0-f9d4bb48936af8ce3770@news.example.org"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i in range(count):
        sid, reader, sender = rng.choice(people)
        roll = rng.random()
        if roll < 0.6:
            status, text = rng.choice(DIAGNOSTICS)
            data = dsn(sender, reader, f"<{DIGEST}.{sid}@{HOST}>", status, text)
        elif roll < 0.8:
            data = f"Delivered-To: {sender}\n".encode() + rng.choice(real)
            data += f"\n\nX-Bench: {i}\n".encode()
        elif roll < 0.85:
            data = arf.replace(b"reader@yahoo.com", reader.encode())
            data = data.replace(arf_sender, sender.encode()).replace(b"weekly-7.3456", b"x%d" % i)
        elif roll < 0.95:
            data = f"From: {reader}\r\nSubject: Out of office\r\n\r\nAway {i}.\r\n".encode()
        else:
            data = f"From: {reader}\r\nSubject: hi\r\n\r\nThanks! {i}\r\n".encode()
        (box / "new" / f"{i:08d}.bench").write_bytes(data)


def _tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes of ``pid`` and every descendant, summed (Linux /proc). PSS shares
    each page among the processes that map it: the honest sum for forked workers."""
    rss = pss = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", "rb") as fh:
                    stack.extend(int(c) for c in fh.read().split())
            with open(f"/proc/{current}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith(b"Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


def run_once(count: int, readers: int) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, peak tree RSS and PSS bytes) of one import."""
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        people = build_site(root, readers)
        box = root / "bounces"
        generate(box, count, people)
        env = {**os.environ, "SYNDICATE_SECRET": SECRET}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [sys.executable, "-m", "syndicate", "--site", str(root), "bounces", "import"]
        started = time.perf_counter()
        child = subprocess.Popen([*command, str(box), "--json"], env=env, stdout=subprocess.PIPE)
        peak = [0, 0]

        def sample() -> None:
            while child.poll() is None:
                rss, pss = _tree_memory(child.pid)
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output, _ = child.communicate()
        elapsed = time.perf_counter() - started
        sampler.join()
        if child.returncode != 0:
            raise SystemExit(f"import failed ({child.returncode})")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if os.environ.get("BENCH_SHOW"):
            import json

            doc = json.loads(output)
            print(doc["messages"], doc["counts"], file=sys.stderr)
        return elapsed, cpu, peak[0], peak[1]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def parse_only(count: int, readers: int) -> tuple[float, float]:
    """(wall, CPU) seconds of parse() over the generated Maildir, in this process."""
    from syndicate.feedback.parse import parse

    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        people = build_site(root, readers)
        box = root / "bounces"
        generate(box, count, people)
        blobs = [p.read_bytes() for p in sorted((box / "new").iterdir())]
        started, cpu = time.perf_counter(), time.process_time()
        for data in blobs:
            parse(data, bounce_address=ADDRESS)
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[10_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--parse-only", action="store_true")
    args = parser.parse_args()
    for count in args.messages:
        times, cpus, peaks, shares = [], [], [], []
        for _ in range(args.runs):
            if args.parse_only:
                elapsed, cpu = parse_only(count, args.subscribers)
                peak = share = 0
            else:
                elapsed, cpu, peak, share = run_once(count, args.subscribers)
            times.append(elapsed)
            cpus.append(cpu)
            peaks.append(peak)
            shares.append(share)
        median, cpu = statistics.median(times), statistics.median(cpus)
        what = "parse only" if args.parse_only else "import"
        print(
            f"{count:,} messages ({what}): median {median:.2f} s = {count / median:,.0f} "
            f"messages/s wall (runs: {', '.join(f'{t:.2f}' for t in times)}); "
            f"CPU {cpu:.2f} s = {count / cpu:,.0f} messages per CPU-second"
            + (
                ""
                if args.parse_only
                else f"; peak memory of the process tree: PSS {max(shares) / 2**20:.0f} MB, "
                f"RSS {max(peaks) / 2**20:.0f} MB"
            )
        )


if __name__ == "__main__":
    main()

"""Benchmark the ``[bounces.imap]`` poll against a real Dovecot on 127.0.0.1.

    python bench/imap_poll.py [--messages 2000] [--runs 3]

Each run starts a fresh Dovecot (tests/dovecot.py: its own config, plain IMAP on a free
loopback port), drops N messages of bench/bounces_import.py's realistic mix into its Maildir,
and times one :func:`syndicate.feedback.imap.poll` into a fresh SQLite site: fetch in batches,
parse, take, MOVE to ``syndicate-processed``. Prints messages/s (median of the runs). Needs
root and Debian's dovecot-imapd, as the tests do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bounces_import import CONFIG, generate
from syndicate.config import load_settings
from syndicate.feedback import imap
from syndicate.store import open_store
from tests.dovecot import PASSWORD, USER, dovecot


def run_once(count: int) -> float:
    site = Path(tempfile.mkdtemp(prefix="syndicate-bench-imap-"))
    try:
        with dovecot() as server:
            (site / "syndicate.toml").write_text(
                CONFIG + f'[bounces.imap]\nhost = "127.0.0.1"\nport = {server.port}\ntls = "none"\n'
                f'username = "{USER}"\n',
                encoding="utf-8",
            )
            box = server.root / "mail" / USER
            generate(box, count)
            for path in box.rglob("*"):
                shutil.chown(path, "nobody")
            shutil.chown(box, "nobody")
            os.environ["SYNDICATE_SECRET"] = "bench-secret-0123456789"
            os.environ["SYNDICATE_IMAP_PASSWORD"] = PASSWORD
            settings = load_settings(site)
            engine = open_store(settings.database_url)
            try:
                started = time.perf_counter()
                taken = 0
                while taken < count:
                    report = imap.poll(engine, settings, now=datetime.now(UTC))
                    if not report.messages:
                        break
                    taken += report.messages
                elapsed = time.perf_counter() - started
            finally:
                engine.dispose()
            assert server.count("INBOX") == 0, "messages left behind"
            return taken / elapsed
    finally:
        shutil.rmtree(site, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rates = [run_once(args.messages) for _ in range(args.runs)]
    print(
        f"imap poll, {args.messages} messages: median {statistics.median(rates):,.0f} msg/s "
        f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})"
    )


if __name__ == "__main__":
    main()

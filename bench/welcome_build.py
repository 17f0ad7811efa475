"""How long building and queueing welcome mails takes: N readers confirmed at once (an
import with ``--welcome``, or a burst of confirmations), then one outbox preparation.

    .venv/bin/python bench/welcome_build.py --readers 2000 --runs 3

Prints, per run, the time of the preparation that renders the welcome once and queues one
personalized, signed-link copy per reader in the outbox (SQLite in a temp folder), and the
median per welcome. Nothing is sent.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syndicate.config import load_settings
from syndicate.delivery.welcome import Welcomes
from syndicate.models import Source, Status
from syndicate.store import open_store, welcomes
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change, NewSubscriber
from syndicate.subscribers.tokens import Signer

CONFIG = """\
[publication]
title = "Bench Letter"
base_url = "https://news.example.org"

[email]
from_name = "Bench Letter"
from_address = "letters@news.example.org"

[bounces]
address = "bounces@news.example.org"

[lists.weekly]
title = "Weekly"
welcome = "welcome.md"
"""
WELCOME = """\
---
subject: Welcome to the Weekly
---

Thanks for joining. Every Monday you get what is new, and [our archive](/archive/weekly/)
holds every issue so far. Reply to this mail to reach the editors.
"""


def one_run(readers: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
        (root / "welcome.md").write_text(WELCOME, encoding="utf-8")
        settings = load_settings(root)
        engine = open_store(settings.database_url)
        now = datetime.now(UTC).replace(microsecond=0)
        with engine.begin() as conn:
            new = [
                NewSubscriber(
                    email=f"r{i}@example.org", key=f"r{i}@example.org", name=f"R {i}", attributes=()
                )
                for i in range(readers)
            ]
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
            welcomes.queue_for(conn, changes, {"weekly"}, now=now)
        builder = Welcomes(settings, engine, signer=Signer("bench-secret-0123456789abcdef"))
        start = time.perf_counter()
        queued = 0
        while (done := builder(now)) > 0:
            queued += done
        elapsed = time.perf_counter() - start
        engine.dispose()
        assert queued == readers, (queued, readers)
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readers", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for run in range(1, args.runs + 1):
        elapsed = one_run(args.readers)
        times.append(elapsed)
        print(
            f"run {run}: {args.readers} welcomes built and queued in {elapsed:.2f} s "
            f"({elapsed / args.readers * 1000:.2f} ms each)"
        )
    median = statistics.median(times)
    print(
        f"median: {median:.2f} s for {args.readers} welcomes, "
        f"{median / args.readers * 1000:.2f} ms per welcome"
    )


if __name__ == "__main__":
    main()

"""Benchmark what waiting sends cost ``syndicate run``: the look every 10 s, and freezing.

    python bench/queue_tick.py [--rows 0 1000 10000] [--runs 50] [--articles 10]

- *tick*: one look at the queue (``SendQueue.tick``) with ``--rows`` sends queued for next
  year (nothing due: what every 10 s of a quiet day costs), on SQLite, median of ``--runs``;
- *freeze* / *thaw*: a prepared digest of ``--articles`` articles (the sample article's
  size) written as JSON and read back into versions, median time and the JSON's size.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syndicate.config import load_settings
from syndicate.content.reader import read_site
from syndicate.digest.frozen import freeze, thaw
from syndicate.digest.prepare import prepare
from syndicate.service.work import Work
from syndicate.store import open_store
from syndicate.store import queued as repo
from syndicate.subscribers.tokens import Signer

CONFIG = """[publication]
title = "Bench"
base_url = "https://bench.example"

[email]
from_name = "Bench"
from_address = "news@bench.example"

[lists.weekly]
title = "Weekly"
"""


def site(root: Path, articles: int) -> None:
    (root / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
    content = root / "content"
    content.mkdir()
    sample = Path(__file__).resolve().parents[2] / "shared/samples/kazakhstan-mediator.txt"
    body = sample.read_text(encoding="utf-8") if sample.exists() else "Title\n\n" + "Text. " * 800
    for i in range(articles):
        title, _, rest = body.partition("\n")
        (content / f"a{i}.txt").write_text(f"{title} {i}\n{rest}", encoding="utf-8")


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[0, 1000, 10000])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--articles", type=int, default=10)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        site(root, args.articles)
        settings = load_settings(root)
        engine = open_store(settings.database_url)
        work = Work(settings, engine, Signer("bench-secret-0123456789"), clock=lambda: now)
        have = 0
        for rows in args.rows:
            with engine.begin() as conn:
                for _ in range(rows - have):
                    repo.queue(conn, "weekly", due=now + timedelta(days=365), now=now)
            have = max(have, rows)
            samples = []
            for _ in range(args.runs):
                start = time.perf_counter()
                asyncio.run(work.sendqueue.tick())
                samples.append(time.perf_counter() - start)
            print(f"tick, {rows:,} queued, none due: median {median_ms(samples)}")
        articles = read_site(settings, engine, now=now).articles
        prepared = prepare(settings, engine, "weekly", articles, now=now)
        known = frozenset(a.url for a in articles)
        frozen_at, thawed_at = [], []
        text = ""
        for _ in range(args.runs):
            start = time.perf_counter()
            text = freeze(prepared, list_name="weekly", known_urls=known)
            frozen_at.append(time.perf_counter() - start)
            start = time.perf_counter()
            thaw(settings, text, prepared.audience, where="bench")
            thawed_at.append(time.perf_counter() - start)
        print(
            f"freeze {len(prepared.fresh)} articles: median {median_ms(frozen_at)}, "
            f"{len(text.encode()):,} bytes; thaw: median {median_ms(thawed_at)}"
        )
        engine.dispose()


if __name__ == "__main__":
    main()

"""Benchmark the content reader: 10,000 generated articles read cold, then unchanged.

Targets (issue 2): cold >= 2,000 articles/s; unchanged re-read <= 1 s.

    python bench/read_content.py [--articles 10000] [--runs 3] [--database-url URL]

Each run uses a fresh site and a fresh SQLite store (or a fresh PostgreSQL schema when
--database-url is given); the figures printed are medians over the runs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from syndicate.config import Settings, load_settings
from syndicate.content.reader import read_site
from syndicate.store import open_store

WORDS = (
    "diplomacy trade sanctions corridor energy security treaty border pipeline summit "
    "negotiation mediator alliance investment freight customs railway port ministry talks"
).split()
SAMPLE = Path(__file__).resolve().parent.parent / "content" / "kazakhstan-mediator.txt"


def paragraph(rng: random.Random, sentences: int) -> str:
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def generate(content: Path, count: int, seed: int = 7) -> None:
    """Mostly Markdown with front matter, one in ten a plain-text export like the sample.

    Files are dated a day back, like a folder of existing articles: a file modified within
    two seconds of a read is "racy" and is hashed again on the next read (see folder.py).
    """
    _write_articles(content, count, seed)
    old = time.time_ns() - 86_400 * 10**9
    for path in content.rglob("*.*"):
        os.utime(path, ns=(old, old))


def _write_articles(content: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    sample = SAMPLE.read_text(encoding="utf-8")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(count):
        folder = content / f"{2024 + i % 3}" / f"{i % 12 + 1:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 10 == 9:
            (folder / f"export-{i}.txt").write_text(
                f"Export number {i}: {rng.choice(WORDS)}\n\n" + sample.split("\n", 2)[2],
                encoding="utf-8",
            )
            continue
        date = (start + timedelta(hours=i)).isoformat()
        tags = ", ".join(rng.sample(WORDS, 3))
        body = "\n\n".join(paragraph(rng, rng.randint(2, 6)) for _ in range(rng.randint(3, 8)))
        (folder / f"article-{i}.md").write_text(
            f"---\ntitle: Article {i} on {rng.choice(WORDS)}\ndate: {date}\n"
            f"author: Author {i % 50}\ntags: [{tags}]\n---\n\n"
            f"{body}\n\nSee [the archive](../archive/) and ![chart](/img/{i}.png).\n",
            encoding="utf-8",
        )


@contextmanager
def fresh_database(root: Path, database_url: str | None) -> Iterator[str]:
    """An SQLite file in ``root``, or a new schema in the given PostgreSQL database."""
    if not database_url:
        yield f"sqlite:///{root / 'state.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_once(count: int, database_url: str | None) -> tuple[float, float, int]:
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    with fresh_database(root, database_url) as db:
        return _measure(root, db, count)


def bench_site(root: Path, db: str, count: int) -> Settings:
    """A publication in ``root`` on database ``db`` with ``count`` generated articles."""
    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
        f'[database]\nurl = "{db}"\n',
        encoding="utf-8",
    )
    generate(root / "content", count)
    return load_settings(root)


def _measure(root: Path, db: str, count: int) -> tuple[float, float, int]:
    try:
        settings = bench_site(root, db, count)
        engine = open_store(settings.database_url)
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        cold = read_site(settings, engine, now=now, offline=True)
        t1 = time.perf_counter()
        warm = read_site(settings, engine, now=now, offline=True)
        t2 = time.perf_counter()
        engine.dispose()
        if len(cold.articles) != count or len(warm.articles) != count or warm.parsed:
            raise SystemExit(
                f"unexpected result: cold {len(cold.articles)}, warm {len(warm.articles)} "
                f"(parsed {warm.parsed}), problems: {cold.problems[:3]}"
            )
        return t1 - t0, t2 - t1, len(cold.articles)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    colds, warms = [], []
    for run in range(1, args.runs + 1):
        cold, warm, n = run_once(args.articles, args.database_url)
        colds.append(cold)
        warms.append(warm)
        print(f"run {run}: cold {cold:.2f} s ({n / cold:,.0f} articles/s), unchanged {warm:.2f} s")
    cold, warm = statistics.median(colds), statistics.median(warms)
    print(
        f"median of {args.runs}: cold read {cold:.2f} s = {args.articles / cold:,.0f} articles/s "
        f"(target >= 2,000); unchanged re-read {warm:.2f} s (target <= 1 s)"
    )


if __name__ == "__main__":
    main()

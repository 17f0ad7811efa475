"""Benchmark ``syndicate build``: 10,000 generated articles built cold, unchanged, one edit.

Targets: cold build <= 10 s; no-change rebuild <= 1 s; one-article edit <= 1.5 s.

    python bench/build_feeds.py [--articles 10000] [--runs 5] [--database-url URL]

Every phase is what ``syndicate build`` does: read the content, then build the feeds. Each
run uses a fresh site and a fresh SQLite store (or a fresh PostgreSQL schema when
--database-url is given); the figures printed are medians over the runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.feeds.build import build_feeds
from syndicate.store import open_store

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
from read_content import bench_site, fresh_database  # noqa: E402

TARGET_COLD, TARGET_UNCHANGED, TARGET_EDIT = 10.0, 1.0, 1.5


@dataclass(frozen=True, slots=True)
class Phase:
    """One ``syndicate build``: the whole of it, its build_feeds part, files written."""

    total: float
    build: float
    written: int
    removed: int


def build_once(settings: Settings, engine: Engine) -> tuple[Phase, int]:
    """read_site + build_feeds, timed; also the number of articles read."""
    now = datetime.now(UTC).replace(microsecond=0)  # like the command
    t0 = time.perf_counter()
    report = read_site(settings, engine, now=now, offline=True)
    t1 = time.perf_counter()
    built = build_feeds(settings, engine, report.articles)
    t2 = time.perf_counter()
    if report.problems:
        raise SystemExit(f"unexpected problems: {report.problems[:3]}")
    phase = Phase(
        total=t2 - t0, build=t2 - t1, written=len(built.written), removed=len(built.removed)
    )
    return phase, len(report.articles)


def edit_one(content: Path) -> Path:
    """Rewrite the newest generated Markdown article with new text."""
    path = max(content.rglob("article-*.md"), key=lambda p: int(p.stem.split("-")[1]))
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text + "\nA closing paragraph added by the editor after publication.\n", encoding="utf-8"
    )
    return path


def run_once(count: int, database_url: str | None) -> tuple[Phase, Phase, Phase, str]:
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    try:
        with fresh_database(root, database_url) as db:
            settings = bench_site(root, db, count)
            engine = open_store(settings.database_url)
            try:
                cold, n = build_once(settings, engine)
                unchanged, _ = build_once(settings, engine)
                edited = edit_one(root / "content")
                edit, _ = build_once(settings, engine)
            finally:
                engine.dispose()
        if n != count or unchanged.written or not edit.written or edit.removed:
            raise SystemExit(
                f"unexpected result: {n} articles, {unchanged.written} files written unchanged, "
                f"{edit.written} written and {edit.removed} removed after one edit"
            )
        return cold, unchanged, edit, edited.relative_to(root).as_posix()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def summary(name: str, phases: list[Phase], target: float) -> str:
    """Medians of one phase over the runs, against its target."""
    total = statistics.median(p.total for p in phases)
    build = statistics.median(p.build for p in phases)
    written = statistics.median(p.written for p in phases)
    verdict = "ok" if total <= target else "MISSED"
    return (
        f"  {name:<18}{total:6.2f} s (target <= {target:g} s, {verdict}); "
        f"build_feeds alone {build:.2f} s; {written:,.0f} files written"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    colds: list[Phase] = []
    unchangeds: list[Phase] = []
    edits: list[Phase] = []
    for run in range(1, args.runs + 1):
        cold, unchanged, edit, edited = run_once(args.articles, args.database_url)
        colds.append(cold)
        unchangeds.append(unchanged)
        edits.append(edit)
        print(
            f"run {run}: cold {cold.total:.2f} s (build_feeds {cold.build:.2f} s, "
            f"{cold.written:,} files written); no change {unchanged.total:.2f} s "
            f"(build_feeds {unchanged.build:.2f} s, {unchanged.written} written); "
            f"one edit of {edited} {edit.total:.2f} s (build_feeds {edit.build:.2f} s, "
            f"{edit.written} written)",
            flush=True,
        )
    print(f"median of {args.runs}, {args.articles:,} articles:")
    print(summary("cold build", colds, TARGET_COLD))
    print(summary("no-change rebuild", unchangeds, TARGET_UNCHANGED))
    print(summary("one-article edit", edits, TARGET_EDIT))


if __name__ == "__main__":
    main()

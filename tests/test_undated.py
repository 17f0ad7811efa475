"""Undated files (plain-text exports, Markdown without `date:`) each get their own stable
publication time: their modification time when first seen, never later than first seen."""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta

import feedparser

from syndicate.content.reader import read_site
from syndicate.feeds.build import build_feeds
from tests.conftest import NOW, Site

EXPORT = "{title}\n\nFirst paragraph of {title}, long enough to be a body.\n\nSecond one.\n"


def export(site: Site, name: str, mtime: float) -> None:
    path = site.write(f"{name}.txt", EXPORT.format(title=f"Export {name}"))
    os.utime(path, (mtime, mtime))


def test_undated_exports_get_distinct_stable_times(site: Site) -> None:
    copied = (NOW - timedelta(days=3)).timestamp()  # unzipped together: one mtime
    for name in ("a", "b", "c"):
        export(site, name, copied)
    export(site, "d", (NOW + timedelta(days=1)).timestamp())  # a clock ahead of ours
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    times = {a.title: a.published for a in report.articles}
    assert len(set(times.values())) == 4, times
    assert all(t <= NOW for t in times.values())
    assert times["Export d"] == NOW  # never later than first seen
    # Ties broken in path order, each a second earlier than the one before.
    base = NOW - timedelta(days=3)
    assert [times[f"Export {n}"] for n in "abc"] == [
        base,
        base - timedelta(seconds=1),
        base - timedelta(seconds=2),
    ]

    build_feeds(site.settings, site.engine, report.articles)
    atom = feedparser.parse((site.settings.feeds_dir / "atom.xml").read_bytes())
    updated = Counter(e["updated"] for e in atom.entries)
    assert max(updated.values()) == 1, updated  # "Two entries with the same atom:updated"

    # Stable: later reads, an edit, and a new file sharing the mtime change none of them.
    site.write("b.txt", EXPORT.format(title="Export b") + "\nA third paragraph.\n")
    export(site, "e", copied)
    later = read_site(site.settings, site.engine, now=NOW + timedelta(days=2), offline=True)
    again = {a.title: a.published for a in later.articles}
    assert {k: again[k] for k in times} == times
    assert again["Export e"] == base - timedelta(seconds=3)

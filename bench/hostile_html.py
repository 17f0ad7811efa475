"""Benchmark reading hostile HTML: how long one Markdown article takes to read (issue 13, item 4).

    python bench/hostile_html.py [--runs 5]

Each case is one article whose body is raw HTML, read the way the content reader reads a file:
parsed (``parse_file``), then finished (sanitized, teaser) unless refused. Printed: the input
size, the median seconds over the runs, and what came of it (refused, or the HTML size
stored). Before the fix, 40,000 nested ``<div>`` took 8.7 s and 100,000 did not finish in
120 s; the cost of what is read must now grow linearly with the input.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from syndicate.config import Publication
from syndicate.content import markup
from syndicate.content.article import finish
from syndicate.content.registry import parse_file
from syndicate.errors import ContentError

WORDS = "diplomacy trade corridor energy security treaty border pipeline summit talks".split()


def article(body: str) -> bytes:
    return f"---\ntitle: Hostile\ndate: 2026-11-27\n---\n\n{body}\n".encode()


def flat(size: int) -> str:
    """Realistic paragraphs (a link, some bold) up to ``size`` bytes."""
    words = " ".join(WORDS[i % len(WORDS)] for i in range(60))
    para = f"<p>{words} <a href='https://example.org/x'>a link</a> and <b>bold</b> text.</p>\n"
    return para * (size // len(para))


CASES: dict[str, Callable[[], str]] = {
    "div nested 40,000 deep": lambda: "<div>" * 40_000 + "x" + "</div>" * 40_000,
    "div nested 100,000 deep": lambda: "<div>" * 100_000 + "x" + "</div>" * 100_000,
    "5 MB flat document": lambda: flat(5_000_000),
    "1 MB flat document": lambda: flat(1_000_000),
    "250 open <b> re-opened in 20,000 <p>": lambda: (
        "<p>" + "".join(f"<b title=t{i}>" for i in range(250)) + "</p>" + "<p>x</p>" * 20_000
    ),
    "one tag with 40,000 attributes": lambda: (
        "<div " + " ".join(f"a{i}=x" for i in range(40_000)) + ">x</div>"
    ),
    "5,000 distinct unclosed <em>": lambda: "".join(f"<em title=t{i}>x" for i in range(5_000)),
}


def read_once(data: bytes) -> str:
    markup._bounded_cached.cache_clear()  # each run pays the full cost
    publication = Publication(title="Bench", base_url="https://example.org")
    try:
        entry = parse_file("content/hostile.md", ".md", data)
        assert entry is not None
        _, html = finish(
            entry,
            id="a1",
            default_slug="hostile",
            first_seen=datetime(2026, 11, 27, tzinfo=UTC),
            publication=publication,
            teaser_length=300,
        )
    except ContentError as exc:
        return f"refused: {exc.reason.split(';')[0]}"
    except ValueError as exc:
        return f"refused: {exc}"
    return f"read, {len(html) / 1e6:.2f} MB stored"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'case':40} {'input':>9} {'median':>9}  outcome")
    for name, make in CASES.items():
        data = article(make())
        times, outcome = [], ""
        for _ in range(args.runs):
            start = time.perf_counter()
            outcome = read_once(data)
            times.append(time.perf_counter() - start)
        size = f"{len(data) / 1e6:.2f} MB"
        print(f"{name:40} {size:>9} {statistics.median(times):8.3f}s  {outcome}")


if __name__ == "__main__":
    main()

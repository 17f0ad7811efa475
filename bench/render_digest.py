"""Benchmark digest rendering: a 20-article digest, Jinja2 → MJML → HTML plus the text part.

Target (issue 5): ≤ 15 ms median. Personalisation is measured by bench/personalize.py.

    python bench/render_digest.py [--articles 20] [--repeat 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from syndicate.config import load_settings
from syndicate.digest.render import render_digest, template_env
from syndicate.models import Article, Digest, Teaser

WORDS = "trade corridor sanctions mediation summit pipeline border treaty freight".split()


def article(n: int, now: datetime) -> Article:
    teaser = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(45)).capitalize() + "…"
    return Article(
        id=f"a{n}",
        source="content",
        key=f"a{n}.md",
        slug=f"article-{n}",
        title=f"Article {n}: {WORDS[n % len(WORDS)].title()} and the long road ahead",
        url=f"https://bench.example.org/2026/article-{n}/",
        published=now - timedelta(hours=n),
        updated=None,
        first_seen=now,
        author=f"Author {n % 7}",
        author_bio=None,
        teaser=teaser,
        tags=("trade",),
        image=f"https://bench.example.org/img/{n}.jpg" if n < 2 else None,
        image_credit="Photo by the bench" if n < 2 else None,
        html="",
        content_hash=f"h{n}",
        related=(
            Teaser(
                title=f"Older piece {n}",
                excerpt="An excerpt…",
                url=f"https://bench.example.org/old/{n}/",
            ),
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
        '[email]\nfrom_name = "Bench"\nfrom_address = "bench@example.org"\n'
        'postal_address = "1 Bench Street, Benchville"\n'
        f'[lists.weekly]\ntitle = "Weekly"\nmax_articles = {args.articles}\n'
        "lead_articles = 2\n",
        encoding="utf-8",
    )
    settings = load_settings(root)
    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    arts = tuple(article(n, now) for n in range(args.articles))
    digest = Digest(
        id="weekly-1",
        list_name="weekly",
        list_title="Weekly",
        issue=1,
        created=now,
        lead=arts[:2],
        rest=arts[2:],
        also=tuple(a.related[0] for a in arts[:5]),
        more=0,
        more_url="https://bench.example.org/",
        archive_url="https://bench.example.org/a/1.html",
    )
    env = template_env(root)
    render_digest(digest, settings, env=env)  # warm up: templates compiled once per process
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        rendered = render_digest(digest, settings, env=env)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"render {args.articles}-article digest: median {statistics.median(times):.2f} ms, "
        f"max {max(times):.2f} ms over {args.repeat} (target <= 15 ms); "
        f"HTML {len(rendered.html.encode()) / 1024:.1f} KB, text {len(rendered.text) / 1024:.1f} KB"
    )


if __name__ == "__main__":
    main()

"""Benchmark rendering a post: the sample article (content/kazakhstan-mediator.txt, ~8 KB of
text, credit, bio, three related teasers) read by the content reader, then rendered once as
a full-article mail (sanitized again with nh3, Jinja2 → MJML → HTML, plus the text part).

A post is rendered once per topic set, not per reader (readers' parts are markers), so this
is a per-send cost. For comparison, bench/render_digest.py renders a 20-article digest.

    python bench/render_post.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syndicate.config import load_settings
from syndicate.content.reader import read_site
from syndicate.digest.post import post_digest
from syndicate.digest.postrender import render_post
from syndicate.digest.render import template_env
from syndicate.store import open_store

SAMPLE = Path(__file__).resolve().parents[1] / "content" / "kazakhstan-mediator.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    (root / "content").mkdir()
    shutil.copy(SAMPLE, root / "content" / SAMPLE.name)
    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
        '[email]\nfrom_name = "Bench"\nfrom_address = "bench@example.org"\n'
        'postal_address = "1 Bench Street, Benchville"\n'
        '[lists.posts]\ntitle = "Posts"\nmode = "post"\n',
        encoding="utf-8",
    )
    settings = load_settings(root)
    now = datetime.now(UTC)
    engine = open_store(settings.database_url)
    (article,) = read_site(settings, engine, now=now).articles
    engine.dispose()
    cfg = settings.mailing_list("posts")
    post = post_digest("posts", cfg, article, issue=1, publication=settings.publication, now=now)
    env = template_env(root)
    render_post(post, settings, env=env)  # warm up: templates compiled once per process
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        rendered = render_post(post, settings, env=env)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"render a post of {len(article.html) / 1024:.1f} KB of article HTML: median "
        f"{statistics.median(times):.2f} ms, max {max(times):.2f} ms over {args.repeat}; "
        f"HTML {len(rendered.html.encode()) / 1024:.1f} KB, text {len(rendered.text) / 1024:.1f} KB"
    )


if __name__ == "__main__":
    main()

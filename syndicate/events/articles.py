"""``article.published``: the articles that became visible since the last look.

An article is published when it first appears in what the content reader publishes: a new
file (or remote entry), or a scheduled one whose date arrived. Each announced article gets a
mark in the store (``webhook_marks``, ``article:<id>``), set in the same transaction as its
event and only by the caller that set it first: two looks (``run``'s poll and a ``build``)
never announce one article twice, and a crash between reading and announcing loses nothing
(the next look finds it unmarked). The first look after ``article.published`` is configured
marks what is there without announcing it: those articles are not news.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from syndicate.events.record import Hooks, iso, record_many, wanted_by
from syndicate.models import Article
from syndicate.store import webhooks as repo

EVENT = "article.published"
STARTED = "article.published:started"  # the mark of the first look
# Only articles that appeared or came due this recently are looked at (older ones were
# marked, or predate the webhooks); one dated earlier than this before it appeared (an
# imported archive, a new remote feed's backlog) is no news, as for a digest.
RECENT = timedelta(days=7)


def _data(article: Article) -> dict[str, Any]:
    return {
        "article": {
            "id": article.id,
            "title": article.title,
            "url": article.url,
            "published": iso(article.published),
            "author": article.author,
            "tags": list(article.tags),
            "teaser": article.teaser,
            "image": article.image,
        }
    }


def _mark(article: Article) -> str:
    return f"article:{article.id}"


def candidates(articles: Sequence[Article], *, now: datetime) -> list[Article]:
    """Those of ``articles`` (the published ones) that may be news: visible, appeared or
    due within :data:`RECENT`, not backdated by more than that; oldest first."""
    since = now - RECENT
    fresh = [
        a
        for a in articles
        if a.published <= now
        and max(a.published, a.first_seen) >= since
        and a.published >= a.first_seen - RECENT
    ]
    return sorted(fresh, key=lambda a: (a.published, a.id))


def announce_articles(
    engine: Engine, hooks: Hooks, articles: Sequence[Article], *, now: datetime
) -> int:
    """Record ``article.published`` for each of ``articles`` (the reader's published ones,
    ``ReadReport.articles``) not announced before; how many."""
    if not wanted_by(hooks, EVENT):
        return 0
    with engine.begin() as conn:
        if repo.set_marks(conn, [STARTED], now=now):  # the first look: mark, do not announce
            repo.set_marks(conn, [_mark(a) for a in articles if a.published <= now], now=now)
            return 0
        maybe = candidates(articles, now=now)
        unmarked = {_mark(a) for a in maybe} - repo.marked(conn, [_mark(a) for a in maybe])
        if not unmarked:
            return 0
        ours = repo.set_marks(conn, unmarked, now=now)
        fresh = [a for a in maybe if _mark(a) in ours]
        record_many(conn, hooks, [(EVENT, _data(a), _mark(a)) for a in fresh], now=now)
    return len(fresh)

"""``article.published``: the articles that became visible since the last look.

An article is published when it first appears in what the content reader publishes: a new
file (or remote entry), or a scheduled one whose date arrived. Which ones are new is
decided against a watermark in the store (``webhook_marks``), moved forward in the same
transaction as the events, compare-and-swap: two polls (``run``'s and a ``build``) never
announce one article twice, and a crash between reading and announcing loses nothing (the
next look still finds them past the mark). The first look after webhooks are configured only
sets the mark: the articles already there are not news.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from syndicate.events.record import Hooks, iso, record_many, wanted_by
from syndicate.models import Article
from syndicate.store import webhooks as repo

MARK = "article.published"
# An article dated earlier than this before it appeared (an imported archive, a new remote
# feed's backlog) is not announced, as a digest would not count it as new either.
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


def newly_published(
    articles: Sequence[Article], *, since: datetime, now: datetime
) -> list[Article]:
    """Those of ``articles`` (the published ones) that became visible after ``since``,
    oldest first."""
    fresh = [
        a
        for a in articles
        if a.published <= now
        and (a.published > since or a.first_seen > since)
        and a.published >= a.first_seen - RECENT
    ]
    return sorted(fresh, key=lambda a: (a.published, a.id))


def announce_articles(
    engine: Engine, hooks: Hooks, articles: Sequence[Article], *, now: datetime
) -> int:
    """Record ``article.published`` for each article published since the last call; how
    many. ``articles`` are the reader's published ones (``ReadReport.articles``)."""
    if not wanted_by(hooks, MARK):
        return 0
    try:
        with engine.begin() as conn:
            since = repo.mark(conn, MARK)
            fresh = [] if since is None else newly_published(articles, since=since, now=now)
            if not repo.move_mark(conn, MARK, was=since, to=max(now, since or now)):
                raise _Taken  # another look took these, and announces them
            events = [(MARK, _data(a), f"article:{a.id}") for a in fresh]
            record_many(conn, hooks, events, now=now)
    except (_Taken, IntegrityError):  # IntegrityError: two first looks at once
        return 0
    return len(fresh)


class _Taken(Exception):
    """The watermark moved under us: roll back."""

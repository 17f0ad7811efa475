"""``schedule = "on-publish"``: a post list mails each new article after the content poll
that finds it (or finds its date arrived), not at a time of day.

The poll decides here, cheaply and without the list's lock, whether a run of the list has
anything to do (a new article, or a post a crash interrupted); only then does it start one,
so a poll that finds nothing new logs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.config.types import ON_PUBLISH
from syndicate.digest.post import next_posts
from syndicate.models import Article
from syndicate.store import sends as send_repo


def on_publish_lists(settings: Settings) -> list[str]:
    """The lists whose schedule is ``on-publish``, in the order declared."""
    return [n for n, cfg in settings.config.lists.items() if cfg.schedule == ON_PUBLISH]


def due(
    settings: Settings,
    engine: Engine,
    list_name: str,
    articles: Sequence[Article],
    *,
    now: datetime,
) -> bool:
    """Whether a run of the list would mail something now."""
    with engine.connect() as conn:
        if send_repo.interrupted_send(conn, list_name) is not None:
            return True
    return bool(next_posts(settings, engine, list_name, articles, now=now).articles)

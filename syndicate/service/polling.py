"""What one content poll of ``syndicate run`` does, in a thread (it blocks): read the site,
announce new articles to ``[[webhooks]]``, build the feeds and tell the WebSub hub what
changed; and the line the run's log says of it. ``service/work.py`` schedules the polls."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.events import announce_articles
from syndicate.feeds.build import BuildReport, build_feeds
from syndicate.feeds.websub import queue_pings, send_pings
from syndicate.models import ReadReport
from syndicate.text import plural

# The run's own logger: these lines are the work's (``syndicate.service.work``).
log = logging.getLogger("syndicate.service.work")


def poll_content(
    settings: Settings, engine: Engine, clock: Callable[[], datetime]
) -> tuple[ReadReport, BuildReport]:
    """Read the content, announce what is new, build the feeds, ping the hub (blocking)."""
    read = read_site(settings, engine, now=clock())
    announce_articles(engine, settings.config.webhooks, read.articles, now=clock())
    built = build_feeds(settings, engine, read.articles)
    if settings.config.feeds.hub:
        # Tell the hub what changed; pings it did not take are retried on later polls.
        queue_pings(settings, engine, built.written, now=clock())
        for failure in send_pings(settings, engine, now=clock()).failed:
            log.warning("%s", failure)
    return read, built


def log_poll(read: ReadReport, built: BuildReport) -> None:
    """The poll's line: at info level when it changed something, else at debug level
    (every 5 minutes for a year of the same line would bury what the log is for)."""
    changed = bool(built.written or built.removed or read.problems)
    log.log(
        logging.INFO if changed else logging.DEBUG,
        "poll: %s, %s written, %d removed, %s",
        plural(len(read.articles), "article"),
        plural(len(built.written), "feed file"),
        len(built.removed),
        plural(len(read.problems), "problem"),
    )

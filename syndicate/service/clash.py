"""Whether an article queued on its own (``send LIST --at TIME --article ID``) would reach
the list twice: because a send that already waits holds it, or will carry it first.

Checked when the send is queued, so the editor hears it then, not when it comes due (when
the second of the two would only be skipped). Three things can hold the article:

- another queued send of the same article to the list;
- a digest of the list waiting for approval (or approved, about to start) whose prepared
  articles include it;
- a queued digest (or post-list run) due no later than the article that would carry it,
  as it is new to the list and published by then.

``--again`` (the article is meant to go once more) skips the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from syndicate.config import Settings
from syndicate.digest.assemble import new_articles
from syndicate.digest.frozen import read as read_frozen
from syndicate.digest.prepare import list_state
from syndicate.errors import SyndicateError
from syndicate.models import Article
from syndicate.store import digests as digest_repo
from syndicate.store import queued as repo
from syndicate.store.queued import QueuedRow, QueuedStatus


@dataclass(frozen=True, slots=True)
class Clash:
    """A send that waits and holds (or will carry) the article."""

    row: QueuedRow
    how: str  # "holds" | "same" | "carries"


def _holds(row: QueuedRow, article_id: str) -> bool:
    """Whether a digest prepared for approval holds the article."""
    if not row.prepared:
        return False
    try:
        frozen = read_frozen(row.prepared, where=f"queued send {row.id}")
    except SyndicateError:  # unreadable: `approve` says so; it cannot be sent as it is
        return False
    return any(a.id == article_id for a in frozen.fresh)


def find_clash(
    settings: Settings,
    engine: Engine,
    conn: Connection,
    list_name: str,
    article: Article,
    *,
    due: datetime,
) -> Clash | None:
    """The first send of the list that waits and would mail ``article`` too, if any."""
    cfg = settings.mailing_list(list_name)
    rows = [r for r in repo.with_status(conn, repo.OPEN) if r.list_name == list_name]
    for row in rows:
        if row.article_id is not None and row.article_id == article.id:
            return Clash(row, "same")
    for row in rows:
        if row.status in repo.WAITING and _holds(row, article.id):
            return Clash(row, "holds")
    kind = digest_repo.POST if cfg.mode == "post" else digest_repo.DIGEST
    earlier = [
        r
        for r in rows
        if r.article_id is None
        and r.status is QueuedStatus.QUEUED
        and r.due_at <= due
        and article.published <= r.due_at
    ]
    if earlier and new_articles([article], cfg, list_state(engine, list_name, kind=kind)):
        return Clash(earlier[0], "carries")
    return None

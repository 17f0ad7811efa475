"""Repository functions for digests: issue numbers and what each list was already sent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select

from syndicate.models import Status
from syndicate.store.tables import digests, subscriptions


def next_issue(conn: Connection, list_name: str) -> int:
    """The issue number the list's next digest gets."""
    last = conn.scalar(select(func.max(digests.c.issue)).where(digests.c.list_name == list_name))
    return int(last or 0) + 1


DIGEST = "digest"
POST = "post"  # one article mailed on its own, in full


def last_sent(conn: Connection, list_name: str) -> datetime | None:
    """When the list's latest digest was made (and began to be sent).

    Its creation, not the end of its send: an article published while a send is still
    retrying deferred copies (up to a day) is in no digest yet, so it must count as new.
    Posts (an article mailed on its own, ``send --article``) do not count: the next digest
    still holds what appeared since the last digest.
    """
    found: datetime | None = conn.scalar(
        select(func.max(digests.c.created_at)).where(
            digests.c.list_name == list_name, digests.c.kind == DIGEST
        )
    )
    return found


def post_cursor(conn: Connection, list_name: str) -> datetime | None:
    """Where a post list's next selection starts: articles that appeared after it are new.

    Set by the last post of a batch that mailed every new article there was (a batch cut
    short by ``max_articles`` leaves it, so the rest go next time). Before any such batch,
    the list's first post (``send LIST --article ID``, which records no cursor) is where
    it starts: what appeared before the list's first mail is not new for its schedule
    (within ``backdated_within``, as after any send); None while the list has no post.
    """
    found: datetime | None = conn.scalar(
        select(digests.c.since)
        .where(digests.c.list_name == list_name, digests.c.since.is_not(None))
        .order_by(digests.c.issue.desc())
        .limit(1)
    )
    if found is None:
        found = conn.scalar(
            select(func.min(digests.c.created_at)).where(
                digests.c.list_name == list_name, digests.c.kind == POST
            )
        )
    return found


def mailings_of(
    conn: Connection, list_name: str, article_id: str
) -> list[tuple[str, datetime, str, datetime | None]]:
    """Id, creation time, kind and ``sent_at`` of each digest or post of the list that
    carried ``article_id``, oldest first."""
    c = digests.c
    stmt = (
        select(c.id, c.created_at, c.article_ids, c.kind, c.sent_at)
        .where(c.list_name == list_name)
        .order_by(c.issue)
    )
    return [
        (i, at, k, sent)
        for i, at, raw, k, sent in conn.execute(stmt)
        if article_id in json.loads(raw)
    ]


def digest_kind(conn: Connection, digest_id: str) -> tuple[str, str | None]:
    """Kind (``digest`` or ``post``) and a post's article title of a recorded digest."""
    row = conn.execute(
        select(digests.c.kind, digests.c.title).where(digests.c.id == digest_id)
    ).first()
    return (str(row[0]), row[1]) if row else (DIGEST, None)


def titles(conn: Connection, digest_ids: Sequence[str]) -> dict[str, str]:
    """The article title of each post among ``digest_ids`` (digests have none)."""
    if not digest_ids:
        return {}
    stmt = select(digests.c.id, digests.c.title).where(
        digests.c.id.in_(list(digest_ids)), digests.c.title.is_not(None)
    )
    return {i: t for i, t in conn.execute(stmt)}


def sent_article_ids(conn: Connection, list_name: str) -> set[str]:
    """Every article a digest of this list has already carried (sent or being sent)."""
    ids: set[str] = set()
    for (raw,) in conn.execute(
        select(digests.c.article_ids).where(digests.c.list_name == list_name)
    ):
        ids.update(json.loads(raw))
    return ids


def record_digest(
    conn: Connection,
    *,
    digest_id: str,
    list_name: str,
    issue: int,
    created: datetime,
    article_ids: Sequence[str],
    note: str | None = None,
    kind: str = DIGEST,
    title: str | None = None,
    since: datetime | None = None,
) -> None:
    """Record a digest about to be sent (its issue number is taken from now on), with the
    Markdown source of its editor's note, if any; a post (``kind``) with its article's
    ``title`` and, for the last of a batch, the list's new selection cursor ``since``."""
    conn.execute(
        digests.insert().values(
            id=digest_id,
            list_name=list_name,
            issue=issue,
            created_at=created,
            article_ids=json.dumps(sorted(set(article_ids))),
            note=note,
            kind=kind,
            title=title,
            since=since,
        )
    )


def mark_sent(conn: Connection, digest_id: str, at: datetime) -> None:
    """Record that delivery of a digest finished."""
    conn.execute(digests.update().where(digests.c.id == digest_id).values(sent_at=at))


def topic_sets(conn: Connection, list_name: str) -> dict[frozenset[str], int]:
    """Distinct topic sets (case-folded) among the list's active subscribers, with counts.

    The empty set stands for subscribers who chose no topics: they get the whole digest.
    """
    stmt = select(subscriptions.c.topics).where(
        subscriptions.c.list_name == list_name, subscriptions.c.status == Status.ACTIVE.value
    )
    counts: dict[frozenset[str], int] = {}
    # Per statement: Connection.execution_options would stream every later statement too.
    for (raw,) in conn.execute(stmt, execution_options={"yield_per": 2000}):
        key = frozenset(t.casefold() for t in json.loads(raw))
        counts[key] = counts.get(key, 0) + 1
    return counts


def digest_articles(conn: Connection, digest_id: str) -> tuple[int, datetime, list[str]] | None:
    """Issue number, creation time and article ids of a recorded digest."""
    row = conn.execute(
        select(digests.c.issue, digests.c.created_at, digests.c.article_ids).where(
            digests.c.id == digest_id
        )
    ).first()
    return (row[0], row[1], list(json.loads(row[2]))) if row else None


def published_issues(conn: Connection, list_name: str) -> list[tuple[int, datetime]]:
    """Issue number and creation time of every digest of a list that was sent (a recorded
    digest: test copies and previews record none), newest first."""
    stmt = (
        select(digests.c.issue, digests.c.created_at)
        .where(digests.c.list_name == list_name)
        .order_by(digests.c.issue.desc())
    )
    return [(int(issue), created) for issue, created in conn.execute(stmt)]


def digest_note(conn: Connection, digest_id: str) -> str | None:
    """The Markdown source of a recorded digest's editor's note (None: it has none)."""
    found: str | None = conn.scalar(select(digests.c.note).where(digests.c.id == digest_id))
    return found


def latest_digest(conn: Connection, list_name: str) -> tuple[int, datetime, list[str]] | None:
    """Issue number, creation time and article ids of the list's newest recorded digest."""
    row = conn.execute(
        select(digests.c.issue, digests.c.created_at, digests.c.article_ids)
        .where(digests.c.list_name == list_name)
        .order_by(digests.c.issue.desc())
        .limit(1)
    ).first()
    return (int(row[0]), row[1], list(json.loads(row[2]))) if row else None

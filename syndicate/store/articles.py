"""Repository functions for articles, the content-folder cache and remote-source state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from syndicate.store.sql import delete_in, upsert
from syndicate.store.tables import articles, content_files, remote_sources


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredArticle:
    """One row of ``articles``. ``first_seen`` is written once and never changed."""

    id: str
    source: str
    key: str
    content_hash: str
    first_seen: datetime
    changed_at: datetime
    payload: str
    html: str
    guid: str | None = None
    link: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRow:
    """One row of ``content_files``: the cache entry of one file in the content folder."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    parse_key: str
    article_id: str | None = None
    problem_line: int | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteState:
    """Conditional-GET state of one remote source."""

    source: str
    url: str
    etag: str | None
    last_modified: str | None
    fetched_at: datetime | None
    status: int | None


def load_articles(conn: Connection, *, source: str | None) -> dict[str, StoredArticle]:
    """Every stored article of one source (None: of every source), by id."""
    cols = articles.c
    rows = conn.execute(
        select(
            cols.id,
            cols.source,
            cols.key,
            cols.content_hash,
            cols.first_seen,
            cols.changed_at,
            cols.payload,
            cols.html,
            cols.guid,
            cols.link,
        ).where(cols.source == source if source is not None else cols.id.is_not(None))
    ).all()  # fetchall + positional access: ~3x faster than row._asdict() over 10k rows
    return {
        r[0]: StoredArticle(
            id=r[0],
            source=r[1],
            key=r[2],
            content_hash=r[3],
            first_seen=r[4],
            changed_at=r[5],
            payload=r[6],
            html=r[7],
            guid=r[8],
            link=r[9],
        )
        for r in rows
    }


def articles_by_id(conn: Connection, ids: Iterable[str]) -> list[StoredArticle]:
    """The stored articles among ``ids`` (their HTML left out: for teasers only)."""
    c = articles.c
    wanted = list(ids)
    if not wanted:
        return []
    stmt = select(
        c.id, c.source, c.key, c.content_hash, c.first_seen, c.changed_at, c.payload
    ).where(c.id.in_(wanted))
    return [
        StoredArticle(
            id=r[0],
            source=r[1],
            key=r[2],
            content_hash=r[3],
            first_seen=r[4],
            changed_at=r[5],
            payload=r[6],
            html="",
        )
        for r in conn.execute(stmt)
    ]


def save_articles(conn: Connection, rows: Iterable[StoredArticle]) -> None:
    """Insert new articles and update changed ones; ``first_seen`` is never overwritten."""
    upsert(conn, articles, [_asdict(r) for r in rows], keep={"first_seen"})


def article_ids(conn: Connection) -> set[str]:
    """Every article id in use, by any source."""
    return set(conn.scalars(select(articles.c.id)))


def new_since(conn: Connection, since: datetime) -> list[str]:
    """Ids of the articles first seen after ``since``, oldest first."""
    stmt = (
        select(articles.c.id)
        .where(articles.c.first_seen > since)
        .order_by(articles.c.first_seen, articles.c.id)
    )
    return list(conn.scalars(stmt))


def load_files(conn: Connection) -> dict[str, FileRow]:
    """The content-folder cache, by relative path."""
    c = content_files.c
    rows = conn.execute(
        select(
            c.path,
            c.size,
            c.mtime_ns,
            c.sha256,
            c.parse_key,
            c.article_id,
            c.problem_line,
            c.problem,
        )
    ).all()
    return {
        r[0]: FileRow(
            path=r[0],
            size=r[1],
            mtime_ns=r[2],
            sha256=r[3],
            parse_key=r[4],
            article_id=r[5],
            problem_line=r[6],
            problem=r[7],
        )
        for r in rows
    }


def save_files(conn: Connection, rows: Iterable[FileRow]) -> None:
    """Insert or replace cache entries."""
    upsert(conn, content_files, [_asdict(r) for r in rows], keep=set())


def forget_files(conn: Connection, paths: Iterable[str]) -> None:
    """Drop cache entries of files that are gone (their articles stay in ``articles``)."""
    delete_in(conn, content_files, content_files.c.path, paths)


def load_remote_state(conn: Connection, source: str) -> RemoteState | None:
    """Conditional-GET state of a remote source, if it was ever fetched."""
    row = conn.execute(select(remote_sources).where(remote_sources.c.source == source)).first()
    return RemoteState(**row._asdict()) if row else None


def save_remote_state(conn: Connection, state: RemoteState) -> None:
    """Record the outcome of a fetch."""
    upsert(conn, remote_sources, [_asdict(state)], keep=set())


def _asdict(row: StoredArticle | FileRow | RemoteState) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}

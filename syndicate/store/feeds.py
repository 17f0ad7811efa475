"""Repository functions for the record of written feed files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from syndicate.store.sql import delete_in, upsert
from syndicate.store.tables import feed_files


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedFile:
    """A feed file as syndicate last wrote it."""

    path: str
    fingerprint: str
    size: int
    mtime_ns: int


def load_feed_files(conn: Connection) -> dict[str, FeedFile]:
    """Every recorded feed file, by path relative to the feeds folder."""
    rows = conn.execute(
        select(
            feed_files.c.path, feed_files.c.fingerprint, feed_files.c.size, feed_files.c.mtime_ns
        )
    ).all()
    return {r[0]: FeedFile(path=r[0], fingerprint=r[1], size=r[2], mtime_ns=r[3]) for r in rows}


def save_feed_files(conn: Connection, files: Iterable[FeedFile]) -> None:
    """Record files just written (or confirmed unchanged)."""
    rows = [
        {"path": f.path, "fingerprint": f.fingerprint, "size": f.size, "mtime_ns": f.mtime_ns}
        for f in files
    ]
    upsert(conn, feed_files, rows, keep=set())


def forget_feed_files(conn: Connection, paths: Iterable[str]) -> None:
    """Drop the records of files that were removed."""
    delete_in(conn, feed_files, feed_files.c.path, paths)

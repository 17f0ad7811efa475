"""Repository functions for the webhook replay guard (``webhook_replays``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store.tables import webhook_replays

_INSERT = {
    name: dialect.insert(webhook_replays)
    .on_conflict_do_nothing(index_elements=["key"])
    .returning(webhook_replays.c.key)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def claim(conn: Connection, key: str, *, expires_at: datetime, now: datetime) -> bool:
    """Record ``key`` until ``expires_at``; False when it is recorded and not yet expired.

    Expired keys are forgotten first (the index on ``expires_at`` keeps that cheap), so
    the table holds only what was seen within the freshness window. Two processes
    claiming one key at once: the primary key lets exactly one insert win.
    """
    conn.execute(delete(webhook_replays).where(webhook_replays.c.expires_at <= now))
    stmt = _INSERT["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    return conn.execute(stmt, {"key": key, "expires_at": expires_at}).scalar() is not None

"""Repository functions for the WebSub pings waiting to reach the hub."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from syndicate.store.sql import delete_in, upsert
from syndicate.store.tables import websub_pings


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """A feed URL the hub has not yet been told about."""

    url: str
    hub: str
    queued_at: datetime
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None


def queue(conn: Connection, hub: str, urls: Iterable[str], *, now: datetime) -> None:
    """Ask for a ping of each URL now; a URL already waiting starts over (it changed again)."""
    rows = [
        {
            "url": url,
            "hub": hub,
            "queued_at": now,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
        }
        for url in sorted(set(urls))
    ]
    upsert(conn, websub_pings, rows, keep=set())


def due(conn: Connection, *, now: datetime, limit: int) -> list[Ping]:
    """Pings whose next attempt is due, oldest first."""
    c = websub_pings.c
    rows = conn.execute(
        select(c.url, c.hub, c.queued_at, c.attempts, c.next_attempt_at, c.last_error)
        .where(c.next_attempt_at <= now)
        .order_by(c.next_attempt_at, c.url)
        .limit(limit)
    ).all()
    return [
        Ping(
            url=r[0],
            hub=r[1],
            queued_at=r[2],
            attempts=r[3],
            next_attempt_at=r[4],
            last_error=r[5],
        )
        for r in rows
    ]


def done(conn: Connection, urls: Iterable[str]) -> None:
    """Forget pings the hub accepted (or that were given up)."""
    delete_in(conn, websub_pings, websub_pings.c.url, urls)


def retry(conn: Connection, ping: Ping, *, at: datetime, error: str) -> None:
    """Record a failed attempt; the next one is due ``at``. A ping queued again meanwhile
    (a newer change) is left as it is."""
    c = websub_pings.c
    conn.execute(
        update(websub_pings)
        .where(c.url == ping.url, c.queued_at == ping.queued_at)
        .values(attempts=ping.attempts + 1, next_attempt_at=at, last_error=error[:500])
    )


def pending(conn: Connection) -> list[str]:
    """The URL of every ping still waiting, sorted."""
    return list(conn.execute(select(websub_pings.c.url).order_by(websub_pings.c.url)).scalars())

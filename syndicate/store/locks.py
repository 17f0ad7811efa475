"""Repository functions for per-list send locks (and the scheduler's lock): one holder at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from syndicate.store.sql import insert_ignore
from syndicate.store.tables import send_locks


def acquire_lock(
    conn: Connection,
    list_name: str,
    owner: str,
    *,
    now: datetime,
    stale_after: timedelta,
    alive: bool | None = None,
) -> str | None:
    """Take the list's send lock. None when taken; else the owner that holds it.

    A lock is taken over when its heartbeat is older than ``stale_after`` or when ``alive``
    (the caller's verdict on the current owner, e.g. a dead local pid) is False.
    """
    insert_ignore(conn, send_locks, [{"list_name": list_name, "owner": owner, "heartbeat_at": now}])
    row = conn.execute(
        select(send_locks.c.owner, send_locks.c.heartbeat_at).where(
            send_locks.c.list_name == list_name
        )
    ).one()
    holder, beat = row[0], row[1]
    if holder == owner:
        return None
    if alive is False or beat < now - stale_after:
        taken = conn.execute(
            update(send_locks)
            .where(send_locks.c.list_name == list_name, send_locks.c.owner == holder)
            .values(owner=owner, heartbeat_at=now)
        )
        return None if taken.rowcount == 1 else str(holder)
    return str(holder)


def lock_owner(conn: Connection, list_name: str) -> str | None:
    """Who holds the list's send lock."""
    found: str | None = conn.scalar(
        select(send_locks.c.owner).where(send_locks.c.list_name == list_name)
    )
    return found


def heartbeat(conn: Connection, list_name: str, owner: str, *, now: datetime) -> None:
    """Keep the lock fresh while sending."""
    conn.execute(
        update(send_locks)
        .where(send_locks.c.list_name == list_name, send_locks.c.owner == owner)
        .values(heartbeat_at=now)
    )


def release_lock(conn: Connection, list_name: str, owner: str) -> None:
    """Give the lock back."""
    conn.execute(
        send_locks.delete().where(send_locks.c.list_name == list_name, send_locks.c.owner == owner)
    )

"""Only one ``syndicate run`` per store schedules: the leader.

The lock is a row in the store's per-list lock table under a name no list can have
(``@scheduler``), refreshed by a heartbeat. A lock whose heartbeat is stale, or whose owner is a
process on this host that no longer exists, is taken over. Anything with ``try_acquire`` /
``renew`` / ``release`` / ``holder`` fits the ``Leader`` protocol, so a PostgreSQL advisory lock
(held by a session, released by the server when the session dies) can slot in later.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine

from syndicate.store import deliveries as locks

LOCK_NAME = "@scheduler"  # list names start with a letter or digit, so this one is free
HEARTBEAT = timedelta(seconds=30)
STALE_AFTER = timedelta(minutes=2)


class Leader(Protocol):
    """Who schedules: at most one holder per store at a time."""

    owner: str

    def try_acquire(self) -> bool:
        """Become the leader (or stay it); False when another live process holds the role."""
        ...

    def renew(self) -> bool:
        """Keep the role; False when it was lost (taken over after a stall)."""
        ...

    def release(self) -> None:
        """Give the role up, so another process takes over at once."""
        ...

    def holder(self) -> str | None:
        """Who holds the role now, for messages."""
        ...


def process_owner() -> str:
    """This process, as the lock table names owners: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(owner: str) -> bool | None:
    """Whether a ``host:pid`` owner still runs; None when it is on another host (unknowable)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _wall() -> datetime:
    return datetime.now(UTC)


class StoreLeader:
    """The ``Leader`` role as a heartbeat row in the store's lock table."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = _wall,
        alive: Callable[[str], bool | None] = process_alive,
        stale_after: timedelta = STALE_AFTER,
        name: str = LOCK_NAME,
    ) -> None:
        self.engine, self.clock, self.alive = engine, clock, alive
        self.owner = owner or process_owner()
        self.stale_after, self.name = stale_after, name

    def try_acquire(self) -> bool:
        """Take the lock if it is free, stale or held by a dead local process."""
        with self.engine.begin() as conn:
            current = locks.lock_owner(conn, self.name)
            if current == self.owner:
                locks.heartbeat(conn, self.name, self.owner, now=self.clock())
                return True
            verdict = self.alive(current) if current else None
            taken = locks.acquire_lock(
                conn,
                self.name,
                self.owner,
                now=self.clock(),
                stale_after=self.stale_after,
                alive=verdict,
            )
        return taken is None

    def renew(self) -> bool:
        """Refresh the heartbeat; False when someone else holds the lock now."""
        with self.engine.begin() as conn:
            locks.heartbeat(conn, self.name, self.owner, now=self.clock())
            return locks.lock_owner(conn, self.name) == self.owner

    def release(self) -> None:
        """Delete the lock row if it is still ours."""
        with self.engine.begin() as conn:
            locks.release_lock(conn, self.name, self.owner)

    def holder(self) -> str | None:
        """The current owner of the lock, if any."""
        with self.engine.connect() as conn:
            return locks.lock_owner(conn, self.name)

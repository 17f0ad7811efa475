"""Only one ``syndicate run`` per store schedules: the leader.

Two implementations of the ``Leader`` protocol, chosen by ``leader_for`` from the store:

- ``StoreLeader`` (SQLite, any database): a row in the store's per-list lock table under a name no
  list can have (``@scheduler``), refreshed by a heartbeat. A lock whose heartbeat is stale, or
  whose owner is a process on this host that no longer exists, is taken over.
- ``AdvisoryLeader`` (PostgreSQL): a session-level advisory lock held by one open connection.
  The server drops it the moment that session ends, so when the leader dies, even by SIGKILL or
  with its machine, the next try of a follower (every ``retry_every``, 5 s) takes over.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from syndicate.processes import process_alive, process_owner
from syndicate.store import locks

log = logging.getLogger(__name__)

LOCK_NAME = "@scheduler"  # list names start with a letter or digit, so this one is free
HEARTBEAT = timedelta(seconds=30)
STALE_AFTER = timedelta(minutes=2)


class Leader(Protocol):
    """Who schedules: at most one holder per store at a time."""

    owner: str
    renew_every: timedelta  # how often the leader confirms it still holds the role
    retry_every: timedelta  # how often a follower tries to take it

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


def _wall() -> datetime:
    return datetime.now(UTC)


class StoreLeader:
    """The ``Leader`` role as a heartbeat row in the store's lock table."""

    renew_every = HEARTBEAT
    retry_every = HEARTBEAT

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


# --- PostgreSQL --------------------------------------------------------------------------------

KEY_NAME = "syndicate/scheduler"
APP_PREFIX = "syndicate run "  # the leader's session: application_name = APP_PREFIX + owner
TRY_EVERY = timedelta(seconds=5)
# Server-side TCP keepalives on the leader's session: if its machine vanishes (no FIN, no RST),
# the server ends the session, and so frees the lock, after about 10 + 3 * 5 s.
_KEEPALIVES = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
_THE_LOCK = """
    l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid::bigint = :hi AND l.objid::bigint = :lo"""
_HELD = text(f"SELECT count(*) FROM pg_locks l WHERE {_THE_LOCK} AND l.pid = pg_backend_pid()")
_HOLDER = text(
    "SELECT a.application_name, l.pid FROM pg_locks l"
    f" LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE {_THE_LOCK}"
)


def advisory_key(schema: str) -> int:
    """The advisory lock key of the scheduler of the store in ``schema``.

    The first 8 bytes of BLAKE2b of ``"syndicate/scheduler:<schema>"``, as a signed 64-bit
    integer. Advisory locks are scoped to a database already; the schema (``current_schema()``
    of the store's connections) keeps two publications sharing one database apart.
    """
    digest = hashlib.blake2b(f"{KEY_NAME}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _halves(key: int) -> dict[str, int]:
    """``pg_locks`` shows a bigint key as two unsigned 32-bit oids."""
    return {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}


def _discard(conn: Connection) -> None:
    """Close the session for good: a pooled connection must never carry the lock on."""
    with contextlib.suppress(SQLAlchemyError):
        conn.invalidate()
    with contextlib.suppress(SQLAlchemyError):
        conn.close()


class AdvisoryLeader:
    """The ``Leader`` role as ``pg_try_advisory_lock`` on a connection kept for the role.

    The connection runs in AUTOCOMMIT, so it never sits in an open transaction, and names its
    owner in ``application_name``, which is how ``holder()`` finds it (``pg_locks`` joined with
    ``pg_stat_activity``). It needs real sessions: a pooler in transaction mode (PgBouncer)
    between syndicate and PostgreSQL would break it.
    """

    renew_every = TRY_EVERY
    retry_every = TRY_EVERY

    def __init__(
        self, engine: Engine, *, owner: str | None = None, every: timedelta | None = None
    ) -> None:
        self.engine = engine
        self.owner = owner or process_owner()
        if every is not None:
            self.renew_every = self.retry_every = every
        self._conn: Connection | None = None
        self._key: int | None = None

    def key(self, conn: Connection) -> int:
        """This store's lock key (its schema is read once, on first use)."""
        if self._key is None:
            self._key = advisory_key(conn.scalar(text("SELECT current_schema()")) or "")
        return self._key

    def try_acquire(self) -> bool:
        """Take the lock on a new session if no other session holds it; keep the session."""
        if self._conn is not None:
            return self.renew()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(
                conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key(conn)})
            )
            if taken:
                settings = {"application_name": APP_PREFIX + self.owner, **_KEEPALIVES}
                for name, value in settings.items():
                    conn.execute(text("SELECT set_config(:n, :v, false)"), {"n": name, "v": value})
        except BaseException:
            _discard(conn)
            raise
        if not taken:
            conn.close()  # it holds nothing: back to the pool
            return False
        self._conn = conn
        return True

    def renew(self) -> bool:
        """Whether our session is alive and still holds the lock; a lost session is replaced."""
        conn = self._conn
        if conn is None:
            return False
        try:
            held = bool(conn.scalar(_HELD, _halves(self.key(conn))))
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc  # the driver's words, not the SQL
            log.warning("the scheduler's database session was lost (%s); locking again", cause)
            self._conn = None
            _discard(conn)
            try:
                return self.try_acquire()
            except SQLAlchemyError:
                return False
        if not held:  # e.g. pg_advisory_unlock_all() on our session
            self._conn = None
            _discard(conn)
        return held

    def release(self) -> None:
        """Unlock and end the session (ending it would free the lock all the same)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key(conn)})
        except SQLAlchemyError as exc:  # the session is gone, and the lock with it
            log.debug("unlocking the scheduler: %s", exc)
        finally:
            _discard(conn)

    def holder(self) -> str | None:
        """The owner named by the session holding the lock, if one does."""
        with self.engine.connect() as conn:
            row = conn.execute(_HOLDER, _halves(self.key(conn))).first()
        if row is None:
            return None
        name, pid = row
        if name and name.startswith(APP_PREFIX):
            return str(name).removeprefix(APP_PREFIX)
        return f"PostgreSQL session {pid}"  # not a syndicate run: someone took our key


def leader_for(engine: Engine) -> Leader:
    """An advisory lock on PostgreSQL, the lock table's heartbeat row elsewhere."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLeader(engine)
    return StoreLeader(engine)

"""Repository functions for admin accounts (``admin_users``) and their sessions
(``admin_sessions``). Passwords arrive here already hashed, TOTP keys already sealed, session
ids already hashed: nothing in these tables can be used as it is to sign in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from syndicate.store.tables import admin_sessions, admin_users

_u = admin_users.c
_s = admin_sessions.c


class DuplicateAdmin(Exception):
    """An admin of that name exists already."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminUser:
    """One admin account as stored."""

    id: int
    name: str
    password_hash: str
    created_at: datetime
    password_changed_at: datetime
    last_sign_in_at: datetime | None
    totp_secret: str | None  # sealed (accounts/sealing.py)
    totp_last_step: int | None
    sessions: int = 0  # open sessions, where the query counts them


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRow:
    """One open session and whose it is."""

    id_hash: str
    user_id: int
    user: str
    created_at: datetime
    last_seen_at: datetime


_USER_COLUMNS = (
    _u.id,
    _u.name,
    _u.password_hash,
    _u.created_at,
    _u.password_changed_at,
    _u.last_sign_in_at,
    _u.totp_secret,
    _u.totp_last_step,
)


def _user(row: object, sessions: int = 0) -> AdminUser:
    m = row._mapping  # type: ignore[attr-defined]
    return AdminUser(
        id=m["id"],
        name=m["name"],
        password_hash=m["password_hash"],
        created_at=m["created_at"],
        password_changed_at=m["password_changed_at"],
        last_sign_in_at=m["last_sign_in_at"],
        totp_secret=m["totp_secret"],
        totp_last_step=m["totp_last_step"],
        sessions=sessions,
    )


def add_user(conn: Connection, *, name: str, password_hash: str, now: datetime) -> AdminUser:
    """Store a new admin; :class:`DuplicateAdmin` if the name is taken."""
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(admin_users)
                .values(
                    name=name,
                    password_hash=password_hash,
                    created_at=now,
                    password_changed_at=now,
                )
                .returning(_u.id)
            ).scalar_one()
    except IntegrityError:
        raise DuplicateAdmin(name) from None
    found = get_user(conn, name)
    assert found is not None and found.id == new_id
    return found


def get_user(conn: Connection, name: str) -> AdminUser | None:
    """The admin called ``name``, or None."""
    row = conn.execute(select(*_USER_COLUMNS).where(_u.name == name)).first()
    return _user(row) if row is not None else None


def list_users(conn: Connection) -> list[AdminUser]:
    """Every admin by name, with the number of sessions each has open."""
    counts = select(_s.user_id, func.count().label("n")).group_by(_s.user_id).subquery("counts")
    rows = conn.execute(
        select(*_USER_COLUMNS, func.coalesce(counts.c.n, 0).label("n"))
        .select_from(admin_users.outerjoin(counts, counts.c.user_id == _u.id))
        .order_by(_u.name)
    )
    return [_user(row, int(row.n)) for row in rows]


def remove_user(conn: Connection, name: str) -> bool:
    """Delete the admin and every session of theirs; False if there was none."""
    found = get_user(conn, name)
    if found is None:
        return False
    conn.execute(delete(admin_sessions).where(_s.user_id == found.id))
    conn.execute(delete(admin_users).where(_u.id == found.id))
    return True


def set_password(conn: Connection, user_id: int, password_hash: str, *, now: datetime) -> None:
    """A new password: every session of the user ends."""
    conn.execute(
        update(admin_users)
        .where(_u.id == user_id)
        .values(password_hash=password_hash, password_changed_at=now)
    )
    end_user_sessions(conn, user_id)


def rehash(conn: Connection, user_id: int, old_hash: str, new_hash: str) -> None:
    """The same password under new hashing parameters (sessions stay)."""
    conn.execute(
        update(admin_users)
        .where(_u.id == user_id, _u.password_hash == old_hash)
        .values(password_hash=new_hash)
    )


def set_totp(conn: Connection, user_id: int, sealed: str | None) -> None:
    """Turn TOTP on (a sealed key) or off (None); no code of an earlier key counts."""
    conn.execute(
        update(admin_users).where(_u.id == user_id).values(totp_secret=sealed, totp_last_step=None)
    )


def use_totp_step(conn: Connection, user_id: int, step: int) -> bool:
    """Record that the code of time step ``step`` was used; False when that step (or a
    later one) was used already: a code is good once, even by two requests at once."""
    done = conn.execute(
        update(admin_users)
        .where(
            _u.id == user_id,
            or_(_u.totp_last_step.is_(None), _u.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return done.rowcount == 1


def record_sign_in(conn: Connection, user_id: int, *, now: datetime) -> None:
    """When the admin last signed in."""
    conn.execute(update(admin_users).where(_u.id == user_id).values(last_sign_in_at=now))


def create_session(
    conn: Connection, *, id_hash: str, user_id: int, now: datetime, client: str | None
) -> None:
    """A new session of the user."""
    conn.execute(
        insert(admin_sessions).values(
            id_hash=id_hash,
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            client=client[:64] if client else None,
        )
    )


def find_session(conn: Connection, id_hash: str) -> SessionRow | None:
    """The session with that id hash, and its user's name; None if there is none."""
    row = conn.execute(
        select(_s.id_hash, _s.user_id, _u.name, _s.created_at, _s.last_seen_at)
        .select_from(admin_sessions.join(admin_users, _u.id == _s.user_id))
        .where(_s.id_hash == id_hash)
    ).first()
    if row is None:
        return None
    return SessionRow(
        id_hash=row.id_hash,
        user_id=row.user_id,
        user=row.name,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


def touch_session(conn: Connection, id_hash: str, *, now: datetime) -> None:
    """The session was used at ``now`` (its idle time starts again)."""
    conn.execute(update(admin_sessions).where(_s.id_hash == id_hash).values(last_seen_at=now))


def end_session(conn: Connection, id_hash: str) -> None:
    """Sign one session out."""
    conn.execute(delete(admin_sessions).where(_s.id_hash == id_hash))


def end_user_sessions(conn: Connection, user_id: int) -> int:
    """Sign every session of the user out; how many there were."""
    return conn.execute(delete(admin_sessions).where(_s.user_id == user_id)).rowcount


def purge_sessions(conn: Connection, *, created_before: datetime, seen_before: datetime) -> int:
    """Delete sessions past their absolute or idle expiry; how many."""
    return conn.execute(
        delete(admin_sessions).where(
            or_(_s.created_at < created_before, _s.last_seen_at < seen_before)
        )
    ).rowcount

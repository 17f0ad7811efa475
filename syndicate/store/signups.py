"""Repository functions for recorded subscribe requests (``signups``): add, take, count.

A request is taken (deleted) in the transaction that carries it out, so it is handled
once even with several processes: a second taker finds no row and skips it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from syndicate.store.tables import signups

_s = signups.c


@dataclass(frozen=True, slots=True, kw_only=True)
class Signup:
    """One recorded subscribe request."""

    id: int
    email: str
    name: str | None
    lists: tuple[str, ...]
    detail: str
    created_at: datetime


def add(
    conn: Connection,
    *,
    email: str,
    name: str | None,
    lists: Sequence[str],
    detail: str,
    now: datetime,
) -> None:
    """Record a request for ``lists`` (declared names) by ``email``."""
    conn.execute(
        signups.insert(),
        {
            "email": email,
            "name": name,
            "lists": " ".join(lists),
            "detail": detail[:200],
            "created_at": now,
        },
    )


def oldest(conn: Connection, limit: int) -> list[Signup]:
    """Up to ``limit`` requests, oldest first."""
    stmt = select(signups).order_by(_s.id).limit(limit)
    return [
        Signup(
            id=r.id,
            email=r.email,
            name=r.name,
            lists=tuple(r.lists.split()),
            detail=r.detail,
            created_at=r.created_at,
        )
        for r in conn.execute(stmt)
    ]


def take(conn: Connection, signup_id: int) -> bool:
    """Delete one request; False when another process took it first."""
    return conn.execute(delete(signups).where(_s.id == signup_id)).rowcount == 1


def waiting(conn: Connection) -> int:
    """How many requests wait to be handled."""
    return int(conn.execute(select(func.count()).select_from(signups)).scalar_one())

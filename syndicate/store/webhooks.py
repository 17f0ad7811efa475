"""Repository functions for the outgoing webhooks' outbox (``webhook_events``).

A row is ``pending`` until its endpoint answered 2xx (``delivered``) or it failed for
``retry_for`` (``failed``). A sender claims due rows by moving ``next_attempt_at`` a lease
ahead and writing its own ``lease`` token, in one conditional update: two senders never hold
the same row, and an outcome is written only by the holder of the token. A row waits while
an earlier row of the same endpoint and ``order_key`` is still pending (one subscriber's
events arrive in the order they happened).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    ScalarSelect,
    and_,
    delete,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store.sql import BATCH
from syndicate.store.tables import webhook_events, webhook_marks

_w = webhook_events.c
ERROR_LIMIT = 300  # characters of the last error kept


class EventStatus(StrEnum):
    """Where one event stands with one endpoint."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """An event to queue for one endpoint."""

    message_id: str
    endpoint: str
    type: str
    order_key: str
    body: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    """One row of the outbox: an event, one endpoint, where it stands."""

    id: int
    message_id: str
    endpoint: str
    type: str
    order_key: str
    body: str
    created_at: datetime
    status: EventStatus
    attempts: int
    next_attempt_at: datetime
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_code: int | None
    last_error: str | None
    # pending only: the earliest earlier pending row of its endpoint and order key, which
    # must be done (delivered or given up) before this one is sent; None: first in line
    waits_behind: int | None = None


COLUMNS = (
    _w.id,
    _w.message_id,
    _w.endpoint,
    _w.type,
    _w.order_key,
    _w.body,
    _w.created_at,
    _w.status,
    _w.attempts,
    _w.next_attempt_at,
    _w.first_attempt_at,
    _w.last_attempt_at,
    _w.last_code,
    _w.last_error,
)


def to_row(r: Any) -> EventRow:
    return EventRow(
        id=r[0],
        message_id=r[1],
        endpoint=r[2],
        type=r[3],
        order_key=r[4],
        body=r[5],
        created_at=r[6],
        status=EventStatus(r[7]),
        attempts=r[8],
        next_attempt_at=r[9],
        first_attempt_at=r[10],
        last_attempt_at=r[11],
        last_code=r[12],
        last_error=r[13],
        waits_behind=r[14] if len(r) > 14 else None,
    )


def insert(conn: Connection, events: Sequence[NewEvent], *, now: datetime) -> None:
    """Queue events, due at once. On PostgreSQL the transaction first takes a lock per
    ``order_key`` (sorted, so two recorders never wait on each other in a circle): events
    of one key are then numbered in the order their transactions commit, and a sender
    never sees a later one before an earlier one that is still being written."""
    if not events:
        return
    if conn.dialect.name == "postgresql":
        for key in sorted({e.order_key for e in events}):
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                {"k": f"syndicate/webhook:{key}"},
            )
    conn.execute(
        webhook_events.insert(),
        [
            {
                "message_id": e.message_id,
                "endpoint": e.endpoint,
                "type": e.type,
                "order_key": e.order_key,
                "body": e.body,
                "created_at": now,
                "status": EventStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for e in events
        ],
    )


def _earlier_pending() -> tuple[ColumnElement[int], list[ColumnElement[bool]]]:
    """An earlier row's id, and what makes it an earlier pending row of the same endpoint
    and order key as the outer row."""
    earlier = webhook_events.alias("earlier")
    return earlier.c.id, [
        earlier.c.endpoint == _w.endpoint,
        earlier.c.order_key == _w.order_key,
        earlier.c.status == EventStatus.PENDING.value,
        earlier.c.id < _w.id,
    ]


def first_in_line() -> ColumnElement[bool]:
    """No earlier row of the same endpoint and order key is still pending."""
    _, where = _earlier_pending()
    return ~exists().where(*where)


def blocker() -> ScalarSelect[int | None]:
    """The earliest earlier pending row of the same endpoint and order key (NULL: none)."""
    earlier_id, where = _earlier_pending()
    return select(func.min(earlier_id)).where(*where).scalar_subquery()


def claim(
    conn: Connection,
    endpoints: Sequence[str],
    *,
    now: datetime,
    lease_until: datetime,
    token: str,
    limit: int,
) -> list[EventRow]:
    """Claim up to ``limit`` due rows of ``endpoints``, longest due first, each the earliest
    pending row of its endpoint and order key; held until ``lease_until`` under ``token``.

    The outer conditions are checked again on each row as it is updated, so a row another
    sender claimed in the meantime is not returned here.
    """
    if not endpoints:
        return []
    due = and_(_w.status == EventStatus.PENDING.value, _w.next_attempt_at <= now)
    ids = (
        select(_w.id)
        .where(due, _w.endpoint.in_(list(endpoints)), first_in_line())
        .order_by(_w.next_attempt_at, _w.id)  # the due index's order: the scan stops early
        .limit(limit)
        .scalar_subquery()
    )
    stmt = (
        update(webhook_events)
        .where(_w.id.in_(ids), due)
        .values(next_attempt_at=lease_until, lease=token)
        .returning(*COLUMNS)
    )
    return sorted((to_row(r) for r in conn.execute(stmt)), key=lambda e: e.id)


def _held(row_id: int, token: str) -> ColumnElement[bool]:
    return and_(_w.id == row_id, _w.lease == token, _w.status == EventStatus.PENDING.value)


def delivered(conn: Connection, row_id: int, token: str, *, now: datetime, code: int) -> bool:
    """The endpoint took the event; False when the lease was lost meanwhile."""
    done = conn.execute(
        update(webhook_events)
        .where(_held(row_id, token))
        .values(
            status=EventStatus.DELIVERED.value,
            attempts=_w.attempts + 1,
            first_attempt_at=func.coalesce(_w.first_attempt_at, now),
            last_attempt_at=now,
            last_code=code,
            last_error=None,
            lease=None,
            next_attempt_at=now,
        )
    )
    return bool(done.rowcount)


def attempt_failed(
    conn: Connection,
    row_id: int,
    token: str,
    *,
    now: datetime,
    code: int | None,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """Record a failed attempt: due again ``retry_at``, or given up (``None``)."""
    values: dict[str, object] = {
        "attempts": _w.attempts + 1,
        "first_attempt_at": func.coalesce(_w.first_attempt_at, now),
        "last_attempt_at": now,
        "last_code": code,
        "last_error": error[:ERROR_LIMIT],
        "lease": None,
        "next_attempt_at": retry_at or now,
    }
    if retry_at is None:
        values["status"] = EventStatus.FAILED.value
    done = conn.execute(update(webhook_events).where(_held(row_id, token)).values(**values))
    return bool(done.rowcount)


def release(conn: Connection, row_id: int, token: str, *, at: datetime) -> None:
    """Give a claimed row back untried, due ``at`` (its endpoint is not answering)."""
    conn.execute(
        update(webhook_events).where(_held(row_id, token)).values(lease=None, next_attempt_at=at)
    )


def next_due(conn: Connection, endpoints: Sequence[str]) -> datetime | None:
    """When the earliest pending row of ``endpoints`` that is first in line is due (None:
    nothing pending; rows waiting behind an earlier one are due when it is done)."""
    if not endpoints:
        return None
    found: datetime | None = conn.execute(
        select(func.min(_w.next_attempt_at)).where(
            _w.status == EventStatus.PENDING.value,
            _w.endpoint.in_(list(endpoints)),
            first_in_line(),
        )
    ).scalar()
    return found


def prune(conn: Connection, *, before: datetime) -> int:
    """Forget delivered and given-up rows last tried before ``before``; how many."""
    done = conn.execute(
        delete(webhook_events).where(
            _w.status.in_([EventStatus.DELIVERED.value, EventStatus.FAILED.value]),
            _w.last_attempt_at < before,
        )
    )
    return int(done.rowcount or 0)


def marked(conn: Connection, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are marks already set."""
    wanted, found = sorted(set(names)), set[str]()
    for start in range(0, len(wanted), BATCH):
        stmt = select(webhook_marks.c.name).where(
            webhook_marks.c.name.in_(wanted[start : start + BATCH])
        )
        found.update(conn.scalars(stmt))
    return found


def set_marks(conn: Connection, names: Iterable[str], *, now: datetime) -> set[str]:
    """Set the marks ``names``; those this call set (not set before, by anyone: a
    concurrent caller waits for this transaction, then finds them set)."""
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    wanted, done = sorted(set(names)), set[str]()
    for start in range(0, len(wanted), BATCH):
        stmt = (
            insert_(webhook_marks)
            .values([{"name": n, "at": now} for n in wanted[start : start + BATCH]])
            .on_conflict_do_nothing()
            .returning(webhook_marks.c.name)
        )
        done.update(conn.scalars(stmt))
    return done

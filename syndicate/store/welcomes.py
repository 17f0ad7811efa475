"""Repository functions for welcome mails: at most one per subscriber and list, ever.

A row is written (``waiting``) in the transaction that makes a subscription active, so a
crash can neither lose it nor make a second one: the key is (subscriber, list). The outbox
sender later turns it into a mail in the outbox (``queued``) or gives it up (``skipped``),
with a conditional update, so two processes never build the same welcome twice.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.models import Status
from syndicate.store.subscribers import Change
from syndicate.store.tables import outbox, subscribers, subscriptions, welcomes

_w = welcomes.c


class WelcomeStatus(StrEnum):
    """Where one welcome mail stands."""

    WAITING = "waiting"  # to be built and queued by the outbox sender
    QUEUED = "queued"  # in the outbox (``outbox_id``): its row says whether it left
    SKIPPED = "skipped"  # not sent: no longer active, or the list no longer welcomes


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """A welcome to build: for whom, on which list, and their subscription now."""

    subscriber_id: int
    list_name: str
    email: str
    name: str | None
    status: Status | None  # of the subscription, as read (checked again when queued)
    created_at: datetime


def queue_for(
    conn: Connection, changes: Sequence[Change], lists: Collection[str], *, now: datetime
) -> int:
    """A welcome for each change that made a subscription of ``lists`` active (from any other
    status), unless that subscriber had one for that list already; how many were new.

    Call it in the transaction that applies ``changes``."""
    rows = {
        (c.subscriber_id, c.list_name): {
            "subscriber_id": c.subscriber_id,
            "list_name": c.list_name,
            "status": WelcomeStatus.WAITING.value,
            "created_at": now,
            "updated_at": now,
            "outbox_id": None,
            "detail": None,
        }
        for c in changes
        if c.list_name in lists and c.status is Status.ACTIVE and c.previous is not Status.ACTIVE
    }
    if not rows:
        return 0
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(welcomes).on_conflict_do_nothing().returning(_w.subscriber_id)
    return sum(len(conn.execute(stmt, [row]).all()) for row in rows.values())


def waiting(conn: Connection, limit: int) -> list[Waiting]:
    """Up to ``limit`` welcomes to build, oldest first."""
    stmt = (
        select(
            _w.subscriber_id,
            _w.list_name,
            subscribers.c.email,
            subscribers.c.name,
            subscriptions.c.status,
            _w.created_at,
        )
        .join(subscribers, subscribers.c.id == _w.subscriber_id)
        .outerjoin(
            subscriptions,
            (subscriptions.c.subscriber_id == _w.subscriber_id)
            & (subscriptions.c.list_name == _w.list_name),
        )
        .where(_w.status == WelcomeStatus.WAITING.value)
        .order_by(_w.created_at, _w.subscriber_id, _w.list_name)
        .limit(limit)
    )
    return [
        Waiting(
            subscriber_id=r[0],
            list_name=r[1],
            email=r[2],
            name=r[3],
            status=Status(r[4]) if r[4] else None,
            created_at=r[5],
        )
        for r in conn.execute(stmt)
    ]


def active_among(conn: Connection, list_name: str, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` are active on ``list_name`` now."""
    if not ids:
        return set()
    s = subscriptions.c
    stmt = select(s.subscriber_id).where(
        s.list_name == list_name, s.subscriber_id.in_(list(ids)), s.status == Status.ACTIVE.value
    )
    return set(conn.scalars(stmt))


def take_many(
    conn: Connection,
    list_name: str,
    ids: Sequence[int],
    status: WelcomeStatus,
    *,
    now: datetime,
    detail: str | None = None,
) -> set[int]:
    """Move the waiting welcomes of ``ids`` on ``list_name`` to ``status``; the ids that
    were still waiting (the others another process took: queue nothing for them)."""
    if not ids:
        return set()
    stmt = (
        update(welcomes)
        .where(
            _w.list_name == list_name,
            _w.subscriber_id.in_(list(ids)),
            _w.status == WelcomeStatus.WAITING.value,
        )
        .values(status=status.value, detail=detail, updated_at=now)
        .returning(_w.subscriber_id)
    )
    return set(conn.scalars(stmt))


def set_outbox(conn: Connection, subscriber_id: int, list_name: str, outbox_id: int) -> None:
    """Name the outbox mail of a queued welcome."""
    conn.execute(
        update(welcomes)
        .where(_w.subscriber_id == subscriber_id, _w.list_name == list_name)
        .values(outbox_id=outbox_id)
    )


def status_of(conn: Connection, subscriber_id: int, list_name: str) -> WelcomeStatus | None:
    """The welcome's status (None: there is none)."""
    found = conn.scalar(
        select(_w.status).where(_w.subscriber_id == subscriber_id, _w.list_name == list_name)
    )
    return WelcomeStatus(found) if found else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """One welcome of a subscriber as ``subscribers show`` tells it."""

    list_name: str
    status: str  # waiting | skipped | the outbox mail's: queued, sent, failed, dropped
    at: datetime
    detail: str | None  # why it was skipped, or the server's last reply


def of_subscriber(conn: Connection, subscriber_id: int) -> list[Shown]:
    """Every welcome of a subscriber, by list, with where its mail stands."""
    o = outbox.c
    stmt = (
        select(
            _w.list_name, _w.status, _w.updated_at, _w.detail, o.status, o.updated_at, o.last_reply
        )
        .outerjoin(outbox, o.id == _w.outbox_id)
        .where(_w.subscriber_id == subscriber_id)
        .order_by(_w.list_name)
    )
    return [
        Shown(
            list_name=name,
            status=mail_status or status,
            at=mail_at or at,
            detail=(reply if mail_status != "sent" else None) if mail_status else detail,
        )
        for name, status, at, detail, mail_status, mail_at, reply in conn.execute(stmt)
    ]


def waiting_counts(conn: Connection) -> dict[str, int]:
    """How many welcomes wait to be built, per list."""
    stmt = (
        select(_w.list_name, func.count())
        .where(_w.status == WelcomeStatus.WAITING.value)
        .group_by(_w.list_name)
    )
    return {str(name): int(n) for name, n in conn.execute(stmt)}

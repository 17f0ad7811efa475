"""Repository functions for the per-recipient delivery ledger: rows, claims, leases, answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    Executable,
    Select,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.models import Status
from syndicate.store.sql import insert_ignore
from syndicate.store.tables import (
    UTCDateTime,
    deliveries,
    sends,
    subscribers,
    subscriptions,
)


class DeliveryStatus(StrEnum):
    """One recipient's copy: waiting, delivered, to retry, refused, not to be sent, given up."""

    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"  # its send was abandoned before the row got a final answer


@dataclass(frozen=True, slots=True, kw_only=True)
class Due:
    """A ledger row ready for (another) attempt, with what is needed to address it."""

    subscriber_id: int
    email: str
    name: str | None
    variant: str
    attempts: int
    still_subscribed: bool


def enqueue(
    conn: Connection, send_id: int, recipients: Sequence[tuple[int, str]], *, now: datetime
) -> None:
    """Add ledger rows (subscriber id, variant); rows already there are left alone."""
    insert_ignore(
        conn,
        deliveries,
        [
            {
                "send_id": send_id,
                "subscriber_id": sid,
                "variant": variant,
                "status": DeliveryStatus.QUEUED.value,
                "attempts": 0,
                "next_attempt_at": now,
                "updated_at": now,
            }
            for sid, variant in recipients
        ],
    )


NO_TOPICS = "[]"  # how subscribers without topics store them, and their variant key


def enqueue_without_topics(
    conn: Connection, send_id: int, list_name: str, *, now: datetime
) -> None:
    """One ledger row for every active subscriber who chose no topics (most people), in
    one INSERT … SELECT: no row travels through Python. Rows already there are kept."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = (
        select(
            literal(send_id),
            subscribers.c.id,
            literal(NO_TOPICS),
            literal(DeliveryStatus.QUEUED.value),
            literal(0),
            literal(now, UTCDateTime()),
            literal(now, UTCDateTime()),
        )
        .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
        .where(
            subscriptions.c.list_name == list_name,
            subscriptions.c.status == Status.ACTIVE.value,
            subscriptions.c.topics == NO_TOPICS,
        )
    )
    columns = ["send_id", "subscriber_id", "variant", "status", "attempts"]
    columns += ["next_attempt_at", "updated_at"]
    conn.execute(insert(deliveries).from_select(columns, rows).on_conflict_do_nothing())


UNFINISHED = (DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What to write for one recipient once the server answered (or the copy was skipped)."""

    subscriber_id: int
    status: DeliveryStatus
    code: int | None = None
    reply: str | None = None
    retry_at: datetime | None = None


def claim(
    conn: Connection,
    send_id: int,
    list_name: str,
    owner: str,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[Due]:
    """Lease up to ``limit`` due rows nobody else holds to ``owner`` until ``now + lease``.

    Deferred rows whose retry time came go first, then queued ones. One UPDATE per status
    picks and leases the rows, so concurrent claimers never get the same row: PostgreSQL
    skips rows another transaction is claiming (``FOR UPDATE SKIP LOCKED``), SQLite runs one
    writer at a time. Each pick walks ``ix_deliveries_due`` in order (one status, oldest
    first): no sort, whatever the size of the ledger. Expired leases are free again.
    """
    d = deliveries.c
    taken: list[int] = []
    for status in (DeliveryStatus.DEFERRED, DeliveryStatus.QUEUED):
        want = limit - len(taken)
        if want <= 0:
            break
        free = (
            select(d.subscriber_id)
            .where(
                d.send_id == send_id,
                d.status == status.value,
                d.next_attempt_at <= now,
                or_(d.lease_until.is_(None), d.lease_until < now),
            )
            .order_by(d.next_attempt_at, d.subscriber_id)
            .limit(want)
        )
        if conn.dialect.name == "postgresql":
            free = free.with_for_update(skip_locked=True)
        taken += conn.scalars(
            update(deliveries)
            .where(d.send_id == send_id, d.subscriber_id.in_(free.scalar_subquery()))
            .values(lease_owner=owner, lease_until=now + lease)
            .returning(d.subscriber_id)
        )
    if not taken:
        return []
    stmt = _addressed(list_name).where(d.send_id == send_id, d.subscriber_id.in_(taken))
    return _rows(conn, stmt.order_by(d.next_attempt_at, d.subscriber_id))


def due_count(conn: Connection, send_id: int, *, now: datetime, limit: int) -> int:
    """How many rows are due now, counting no further than ``limit``."""
    d = deliveries.c
    some = (
        select(d.subscriber_id)
        .where(d.send_id == send_id, d.status.in_(UNFINISHED), d.next_attempt_at <= now)
        .limit(limit)
        .subquery()
    )
    return int(conn.scalar(select(func.count()).select_from(some)) or 0)


def renew_leases(
    conn: Connection, send_id: int, owner: str, *, now: datetime, lease: timedelta
) -> None:
    """Extend ``owner``'s leases on rows it has not finished yet."""
    d = deliveries.c
    conn.execute(
        update(deliveries)
        .where(d.send_id == send_id, d.lease_owner == owner, d.status.in_(UNFINISHED))
        .values(lease_until=now + lease)
    )


def lease_holders(conn: Connection, send_id: int, *, now: datetime) -> set[str]:
    """Who holds unexpired leases on unfinished rows of a send."""
    d = deliveries.c
    stmt = select(d.lease_owner).distinct()
    stmt = stmt.where(d.send_id == send_id, d.status.in_(UNFINISHED), d.lease_until >= now)
    return {str(o) for o in conn.scalars(stmt) if o is not None}


def release_leases(conn: Connection, send_id: int, owners: Sequence[str]) -> None:
    """Free the rows leased by ``owners`` (processes known to be dead) at once."""
    if owners:
        d = deliveries.c
        conn.execute(
            update(deliveries)
            .where(d.send_id == send_id, d.lease_owner.in_(list(owners)))
            .values(lease_owner=None, lease_until=None)
        )


def _addressed(list_name: str) -> Select[Any]:
    d = deliveries.c
    return (
        select(
            d.subscriber_id,
            subscribers.c.email,
            subscribers.c.name,
            d.variant,
            d.attempts,
            subscriptions.c.status,
        )
        .join(subscribers, subscribers.c.id == d.subscriber_id)
        .outerjoin(
            subscriptions,
            and_(
                subscriptions.c.subscriber_id == d.subscriber_id,
                subscriptions.c.list_name == list_name,
            ),
        )
    )


def _rows(conn: Connection, stmt: Executable) -> list[Due]:
    return [
        Due(
            subscriber_id=r[0],
            email=r[1],
            name=r[2],
            variant=r[3],
            attempts=r[4],
            still_subscribed=r[5] == Status.ACTIVE.value,
        )
        for r in conn.execute(stmt)
    ]


_d = deliveries.c
# Built once: it runs after every answer from the server.
_RECORD = (
    update(deliveries)
    .where(_d.send_id == bindparam("b_send"), _d.subscriber_id == bindparam("b_sub"))
    .values(
        status=bindparam("b_status"),
        attempts=_d.attempts + bindparam("b_inc"),
        last_code=bindparam("b_code"),
        last_reply=bindparam("b_reply"),
        next_attempt_at=bindparam("b_next"),
        updated_at=bindparam("b_now"),
        lease_owner=None,
        lease_until=None,
    )
)


def record(
    conn: Connection,
    send_id: int,
    subscriber_id: int,
    status: DeliveryStatus,
    *,
    now: datetime,
    code: int | None = None,
    reply: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Write the server's answer for one recipient (called only once it answered)."""
    answer = Answer(
        subscriber_id=subscriber_id, status=status, code=code, reply=reply, retry_at=retry_at
    )
    record_many(conn, send_id, [answer], now=now)


def record_many(
    conn: Connection, send_id: int, answers: Sequence[Answer], *, now: datetime
) -> None:
    """Write several answers in one statement; each row's lease ends."""
    if not answers:
        return
    conn.execute(
        _RECORD,
        [
            {
                "b_send": send_id,
                "b_sub": a.subscriber_id,
                "b_status": a.status.value,
                "b_inc": 0 if a.status is DeliveryStatus.SKIPPED else 1,
                "b_code": a.code,
                "b_reply": a.reply,
                "b_next": a.retry_at or now,
                "b_now": now,
            }
            for a in answers
        ],
    )


def counts(conn: Connection, send_id: int) -> dict[DeliveryStatus, int]:
    """How many ledger rows of a send are in each state."""
    d = deliveries.c
    stmt = select(d.status, func.count()).where(d.send_id == send_id).group_by(d.status)
    return {DeliveryStatus(s): int(n) for s, n in conn.execute(stmt)}


def next_retry(conn: Connection, send_id: int) -> datetime | None:
    """When the earliest deferred copy of a send will be tried again."""
    d = deliveries.c
    found: datetime | None = conn.scalar(
        select(func.min(d.next_attempt_at)).where(
            d.send_id == send_id, d.status == DeliveryStatus.DEFERRED.value
        )
    )
    return found


def recent_outcomes(
    conn: Connection, subscriber_id: int, list_name: str, count: int
) -> list[tuple[DeliveryStatus, int | None]]:
    """The last ``count`` final outcomes for a subscriber on a list, newest first."""
    d = deliveries.c
    stmt = (
        select(d.status, d.last_code)
        .join(sends, sends.c.id == d.send_id)
        .where(
            d.subscriber_id == subscriber_id,
            sends.c.list_name == list_name,
            d.status.in_([DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value]),
        )
        .order_by(d.send_id.desc())
        .limit(count)
    )
    return [(DeliveryStatus(s), c) for s, c in conn.execute(stmt)]

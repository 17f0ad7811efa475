"""Reading the ledger back for people: a send's problem recipients, a subscriber's history.

Read-only, from the ``deliveries`` and ``sends`` tables. A subscriber's history passes
statuses on as stored (plain strings), so a status added to the ledger later shows up there
without a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select

from syndicate.models import Status
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.tables import deliveries, sends, subscribers, subscriptions

PROBLEMS = (
    DeliveryStatus.FAILED.value,
    DeliveryStatus.DEFERRED.value,
    DeliveryStatus.ABANDONED.value,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """A recipient of a send who has not (yet) got it, with the server's last word."""

    email: str
    status: DeliveryStatus
    attempts: int
    code: int | None
    reply: str | None
    at: datetime  # when the row last changed
    next_attempt: datetime | None  # deferred rows: when they are tried again
    bounced: bool  # the address is now marked bounced on the list


def problems(conn: Connection, send_id: int, list_name: str) -> Iterator[Problem]:
    """Every failed, deferred or abandoned recipient of a send, by address (streamed)."""
    d = deliveries.c
    stmt = (
        select(
            subscribers.c.email,
            d.status,
            d.attempts,
            d.last_code,
            d.last_reply,
            d.updated_at,
            d.next_attempt_at,
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
        .where(d.send_id == send_id, d.status.in_(PROBLEMS))
        .order_by(subscribers.c.email_key)
    )
    # Per statement: Connection.execution_options would stream every later statement too.
    for r in conn.execute(stmt, execution_options={"yield_per": 1000}):
        status = DeliveryStatus(r[1])
        yield Problem(
            email=r[0],
            status=status,
            attempts=r[2],
            code=r[3],
            reply=r[4],
            at=r[5],
            next_attempt=r[6] if status is DeliveryStatus.DEFERRED else None,
            bounced=r[7] == Status.BOUNCED.value,
        )


MAX_ROWS = 1000  # a weekly list makes 52 a year; the newest are what an editor asks about


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """One copy of one digest to one subscriber, as the ledger last saw it."""

    send_id: int
    list_name: str
    digest_id: str
    at: datetime  # the ledger row's last change: sent, refused, or deferred until later
    status: str
    attempts: int
    code: int | None
    reply: str | None


def delivery_history(
    conn: Connection, subscriber_id: int, *, limit: int = MAX_ROWS
) -> list[DeliveryRecord]:
    """The subscriber's deliveries, newest send first (at most ``limit``)."""
    d, s = deliveries.c, sends.c
    stmt = (
        select(s.list_name, s.digest_id, d.updated_at, d.status, d.attempts, d.last_code)
        .add_columns(d.last_reply, s.id)
        .join(sends, s.id == d.send_id)
        .where(d.subscriber_id == subscriber_id)
        .order_by(s.created_at.desc(), s.id.desc())
        .limit(limit)
    )
    return [
        DeliveryRecord(
            send_id=r[7],
            list_name=r[0],
            digest_id=r[1],
            at=r[2],
            status=r[3],
            attempts=r[4],
            code=r[5],
            reply=r[6],
        )
        for r in conn.execute(stmt)
    ]

"""Reading the ledger back for people: a send's problem recipients, a subscriber's history."""

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One subscriber's copy of one send: what became of it."""

    list_name: str
    digest_id: str
    status: DeliveryStatus
    attempts: int
    code: int | None
    reply: str | None
    at: datetime


def history(conn: Connection, subscriber_id: int, limit: int = 20) -> list[Attempt]:
    """A subscriber's delivery history, newest send first (``subscribers show``)."""
    d = deliveries.c
    stmt = (
        select(
            sends.c.list_name,
            sends.c.digest_id,
            d.status,
            d.attempts,
            d.last_code,
            d.last_reply,
            d.updated_at,
        )
        .join(sends, sends.c.id == d.send_id)
        .where(d.subscriber_id == subscriber_id)
        .order_by(d.send_id.desc())
        .limit(limit)
    )
    return [
        Attempt(
            list_name=r[0],
            digest_id=r[1],
            status=DeliveryStatus(r[2]),
            attempts=r[3],
            code=r[4],
            reply=r[5],
            at=r[6],
        )
        for r in conn.execute(stmt)
    ]

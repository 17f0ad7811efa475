"""A subscriber's delivery history: every digest copy the ledger holds for them.

Read-only, from the ``deliveries`` and ``sends`` tables; statuses are passed on as stored
(plain strings), so a status added to the ledger later shows up here without a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from syndicate.store.tables import deliveries, sends

MAX_ROWS = 1000  # a weekly list makes 52 a year; the newest are what an editor asks about


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRecord:
    """One copy of one digest to one subscriber, as the ledger last saw it."""

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
        .add_columns(d.last_reply)
        .join(sends, s.id == d.send_id)
        .where(d.subscriber_id == subscriber_id)
        .order_by(s.created_at.desc(), s.id.desc())
        .limit(limit)
    )
    return [
        DeliveryRecord(
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

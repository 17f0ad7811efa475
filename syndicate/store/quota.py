"""Repository functions for ``[smtp] daily_limit`` and ``warmup``: what the last 24 hours
sent, what is in flight, and when a sending domain's warm-up began.

Counts come from partial indexes (``ix_deliveries_sent``, ``ix_outbox_sent``,
``ix_deliveries_leased``), each walked no further than the day's figure: a claim under a
limit of 50,000 reads at most that many index entries, whatever the size of the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store.deliveries import UNFINISHED, DeliveryStatus
from syndicate.store.tables import deliveries, outbox, send_quota

WINDOW = timedelta(hours=24)  # rolling, as providers count: not calendar days


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What counts against the allowance now: sent in the window, and leased (in flight)."""

    sent: int
    in_flight: int
    oldest: datetime | None  # the oldest message still in the window: it leaves at +24 h


def take_turn(conn: Connection, domain: str, *, now: datetime) -> datetime | None:
    """Lock the domain's quota row until the transaction ends (claims that count the
    allowance take turns: PostgreSQL row lock, SQLite's write lock); when its warm-up began."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(send_quota).values(domain=domain, started_at=None, touched_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["domain"], set_={"touched_at": now}))
    return warmup_started(conn, domain)


def warmup_started(conn: Connection, domain: str) -> datetime | None:
    """When the domain's first message under a warm-up plan was claimed (day 1)."""
    found: datetime | None = conn.scalar(
        select(send_quota.c.started_at).where(send_quota.c.domain == domain)
    )
    return found


def start_warmup(conn: Connection, domain: str, *, now: datetime) -> None:
    """Day 1 of the domain's plan is today, unless it began earlier (kept for good)."""
    conn.execute(
        update(send_quota)
        .where(send_quota.c.domain == domain, send_quota.c.started_at.is_(None))
        .values(started_at=now)
    )


def usage(conn: Connection, *, now: datetime, up_to: int) -> Usage:
    """Copies and outbox mails sent in the last 24 hours, and copies leased now, each
    counted no further than ``up_to``."""
    since = now - WINDOW
    d, o = deliveries.c, outbox.c
    sent_rows = (
        select(d.updated_at)
        .where(d.status == DeliveryStatus.SENT.value, d.updated_at > since)
        .limit(up_to)
        .subquery()
    )
    mails = (
        select(o.updated_at).where(o.status == "sent", o.updated_at > since).limit(up_to).subquery()
    )
    leased = (
        select(d.lease_until)
        .where(d.lease_until.is_not(None), d.lease_until >= now, d.status.in_(UNFINISHED))
        .limit(up_to)
        .subquery()
    )
    sent = int(conn.scalar(select(func.count()).select_from(sent_rows)) or 0)
    sent += int(conn.scalar(select(func.count()).select_from(mails)) or 0)
    in_flight = int(conn.scalar(select(func.count()).select_from(leased)) or 0)
    first = [
        conn.scalar(
            select(func.min(d.updated_at)).where(
                d.status == DeliveryStatus.SENT.value, d.updated_at > since
            )
        ),
        conn.scalar(select(func.min(o.updated_at)).where(o.status == "sent", o.updated_at > since)),
    ]
    known = [f for f in first if f is not None]
    return Usage(sent=sent, in_flight=in_flight, oldest=min(known) if known else None)

"""Repository functions for the outbox: single mails queued with the change that needs them.

A row is ``queued`` until the server accepted it (``sent``) or refused it for good
(``failed``). Whoever delivers a row first claims it by moving ``next_attempt_at`` a lease
ahead, in one conditional update, naming itself in ``lease_owner``: two senders never get
the same row, and the rows of a sender that died become due again at once when it is known
dead (a process of this machine, see :mod:`syndicate.processes`), else when the lease runs
out. A row naming a subscription (a welcome mail) is ``dropped`` instead of sent once that
subscription is no longer active.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, and_, func, or_, select, update

from syndicate.models import Status
from syndicate.store.tables import outbox, subscriptions

_o = outbox.c


class OutboxStatus(StrEnum):
    """Where one outbox mail stands."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"  # its subscription ended before it left: never sent


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed:
    """A queued mail claimed for one delivery attempt."""

    id: int
    sender: str
    recipient: str
    data: bytes
    attempts: int
    created_at: datetime
    subscriber_id: int | None = None
    list_name: str | None = None


def enqueue(
    conn: Connection,
    *,
    sender: str,
    recipient: str,
    data: bytes,
    now: datetime,
    subscription: tuple[int, str] | None = None,
) -> int:
    """Queue one message for delivery as soon as possible; its row id.

    ``subscription`` (subscriber id, list name): the mail is only sent while that
    subscription is active, checked as it is claimed for each attempt."""
    subscriber_id, list_name = subscription or (None, None)
    result = conn.execute(
        outbox.insert().returning(_o.id),
        {
            "subscriber_id": subscriber_id,
            "list_name": list_name,
            "recipient": recipient,
            "sender": sender,
            "data": data,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
            "status": OutboxStatus.QUEUED.value,
            "updated_at": now,
        },
    )
    return int(result.scalar_one())


def claim_due(
    conn: Connection, *, now: datetime, lease_until: datetime, limit: int, owner: str | None = None
) -> list[Claimed]:
    """Claim up to ``limit`` due mails, oldest first, until ``lease_until``, for ``owner``.

    The outer condition is checked again on each row as it is updated, so a row another
    sender claimed in the meantime is not returned here.
    """
    due_ids = (
        select(_o.id)
        .where(_o.status == OutboxStatus.QUEUED.value, _o.next_attempt_at <= now)
        .order_by(_o.next_attempt_at, _o.id)
        .limit(limit)
    )
    stmt = (
        update(outbox)
        .where(
            _o.id.in_(due_ids),
            _o.status == OutboxStatus.QUEUED.value,
            _o.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until, lease_owner=owner)
        .returning(
            _o.id,
            _o.sender,
            _o.recipient,
            _o.data,
            _o.attempts,
            _o.created_at,
            _o.subscriber_id,
            _o.list_name,
        )
    )
    rows = [
        Claimed(
            id=r[0],
            sender=r[1],
            recipient=r[2],
            data=bytes(r[3]),
            attempts=r[4],
            created_at=r[5],
            subscriber_id=r[6],
            list_name=r[7],
        )
        for r in conn.execute(stmt)
    ]
    return sorted(rows, key=lambda c: c.id)


def not_wanted(conn: Connection, rows: Sequence[Claimed]) -> set[int]:
    """The ids of ``rows`` naming a subscription that is not active (any more)."""
    named = [r for r in rows if r.subscriber_id is not None and r.list_name is not None]
    if not named:
        return set()
    s = subscriptions.c
    pairs = or_(
        *(and_(s.subscriber_id == r.subscriber_id, s.list_name == r.list_name) for r in named)
    )
    stmt = select(s.subscriber_id, s.list_name).where(pairs, s.status == Status.ACTIVE.value)
    active = {(sid, name) for sid, name in conn.execute(stmt)}
    return {r.id for r in named if (r.subscriber_id, r.list_name) not in active}


def lease_holders(conn: Connection, *, now: datetime) -> set[str]:
    """Who holds unexpired leases on queued mails."""
    stmt = select(_o.lease_owner).distinct()
    stmt = stmt.where(
        _o.status == OutboxStatus.QUEUED.value,
        _o.lease_owner.is_not(None),
        _o.next_attempt_at > now,
    )
    return {str(owner) for owner in conn.scalars(stmt) if owner is not None}


def release_leases(conn: Connection, owners: Sequence[str], *, now: datetime) -> int:
    """Make the mails leased by ``owners`` (processes known to be dead) due at once."""
    if not owners:
        return 0
    result = conn.execute(
        update(outbox)
        .where(_o.status == OutboxStatus.QUEUED.value, _o.lease_owner.in_(list(owners)))
        .values(next_attempt_at=now, lease_owner=None)
    )
    return int(result.rowcount or 0)


def record(
    conn: Connection,
    row_id: int,
    status: OutboxStatus,
    *,
    now: datetime,
    code: int | None,
    reply: str | None,
    retry_at: datetime | None = None,
) -> None:
    """Write the outcome of one attempt (``retry_at``: when a still queued row is due)."""
    conn.execute(
        update(outbox)
        .where(_o.id == row_id)
        .values(
            status=status.value,
            attempts=_o.attempts + 1,
            last_code=code,
            last_reply=reply,
            next_attempt_at=retry_at or now,
            updated_at=now,
            lease_owner=None,
        )
    )


def next_due(conn: Connection) -> datetime | None:
    """When the earliest queued mail is due (None: nothing is queued)."""
    stmt = select(func.min(_o.next_attempt_at)).where(_o.status == OutboxStatus.QUEUED.value)
    found: datetime | None = conn.execute(stmt).scalar()
    return found


def last_queued_at(conn: Connection, recipient: str) -> datetime | None:
    """When a mail to ``recipient`` was last queued (to avoid mailing someone repeatedly)."""
    stmt = select(func.max(_o.created_at)).where(_o.recipient == recipient)
    found: datetime | None = conn.execute(stmt).scalar()
    return found


def sent_to(conn: Connection, recipients: Sequence[str], *, since: datetime) -> list[bytes]:
    """The messages the server accepted for any of ``recipients`` since ``since``, newest
    first (at most 20): what a bounce naming the address may be about."""
    stmt = (
        select(_o.data)
        .where(
            _o.recipient.in_(list(recipients)),
            _o.status == OutboxStatus.SENT.value,
            _o.updated_at >= since,
        )
        .order_by(_o.id.desc())
        .limit(20)
    )
    return [bytes(data) for data in conn.scalars(stmt)]


def counts(conn: Connection) -> dict[OutboxStatus, int]:
    """Number of outbox mails per status."""
    stmt = select(_o.status, func.count()).group_by(_o.status)
    return {OutboxStatus(status): int(n) for status, n in conn.execute(stmt)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Failures:
    """The outbox mails that failed since some moment: how many, and the newest reply."""

    count: int
    last_reply: str | None
    last_at: datetime | None


def failures_since(conn: Connection, since: datetime) -> Failures:
    """The mails given up on (``failed``) since ``since``, by when they were last tried."""
    recent = (_o.status == OutboxStatus.FAILED.value) & (_o.updated_at >= since)
    count = int(conn.execute(select(func.count()).where(recent)).scalar() or 0)
    last = conn.execute(
        select(_o.last_reply, _o.updated_at)
        .where(recent)
        .order_by(_o.updated_at.desc(), _o.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return Failures(count=count, last_reply=None, last_at=None)
    return Failures(count=count, last_reply=last.last_reply, last_at=last.updated_at)

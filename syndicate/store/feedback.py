"""Repository functions for feedback events, and the ledger questions matching asks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store import rollups
from syndicate.store.tables import deliveries, feedback_events, sends, subscribers

SENT = "sent"
CONFIRMATION = "confirmation"  # matched_by of a confirmation mail's feedback: not scored
DELIVERED = "delivered"  # the outcome of a confirmed delivery (report.Outcome.DELIVERED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One recorded feedback event."""

    id: int
    event_id: str
    source: str
    outcome: str
    recipient: str | None
    original_recipient: str | None
    status: str | None
    diagnostic: str
    message_id: str | None
    subscriber_id: int | None
    send_id: int | None
    matched_by: str
    counts: bool
    note: str
    received_at: datetime
    processed_at: datetime | None
    effect: str | None
    email: str | None = None  # the matched subscriber's address


# Built once: an import runs each of these per message, and building a statement costs
# more than executing it from SQLAlchemy's compiled cache.
_INSERT = {
    name: dialect.insert(feedback_events)
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(feedback_events.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_INSERT_MANY = {
    name: dialect.insert(feedback_events)
    .on_conflict_do_nothing(index_elements=["event_id"])
    .returning(feedback_events.c.id, feedback_events.c.event_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_MANY = 500  # rows or keys per statement
_PROCESSED = (
    update(feedback_events)
    .where(feedback_events.c.id == bindparam("event"))
    .values(processed_at=bindparam("at"), effect=bindparam("effect"))
)
_BY_KEY = select(subscribers.c.id).where(subscribers.c.email_key == bindparam("key"))
_DELIVERY = select(deliveries.c.updated_at).where(
    deliveries.c.send_id == bindparam("send"), deliveries.c.subscriber_id == bindparam("sub")
)
_OF_DIGEST = (
    select(deliveries.c.send_id, deliveries.c.updated_at)
    .join(sends, sends.c.id == deliveries.c.send_id)
    .where(sends.c.digest_id == bindparam("digest"), deliveries.c.subscriber_id == bindparam("sub"))
    .order_by(deliveries.c.send_id.desc())
    .limit(1)
)
# The ledger has no index by subscriber (its key is send, subscriber): questions about one
# subscriber's copies name every send, so each is a primary-key lookup per send (there are
# few sends; a scan by subscriber would read every copy ever made).
_LAST_MAILED = (
    select(deliveries.c.send_id)
    .where(
        deliveries.c.send_id.in_(select(sends.c.id)),
        deliveries.c.subscriber_id == bindparam("sub"),
        deliveries.c.updated_at >= bindparam("since"),
        deliveries.c.status.in_((SENT, "deferred", "failed")),
    )
    .order_by(deliveries.c.updated_at.desc())
    .limit(1)
)


# The soft score's questions, built once (an import asks them for every soft bounce).
_F = feedback_events.c
_SOFT = select(_F.send_id, _F.received_at).where(
    _F.subscriber_id == bindparam("sub"),
    _F.outcome == "soft",
    _F.counts.is_(True),
    _F.matched_by != CONFIRMATION,
    _F.received_at >= bindparam("since"),
)
_CLEAN = select(func.max(deliveries.c.updated_at)).where(
    deliveries.c.send_id.in_(select(sends.c.id)),  # by primary key, send by send (see above)
    deliveries.c.subscriber_id == bindparam("sub"),
    deliveries.c.status == SENT,
    deliveries.c.updated_at >= bindparam("since"),
    deliveries.c.updated_at < bindparam("settled"),
    deliveries.c.send_id.not_in(
        select(_F.send_id).where(
            _F.subscriber_id == bindparam("sub"),
            _F.send_id.is_not(None),
            _F.outcome != DELIVERED,
        )
    ),
)
_CONFIRMED = (
    select(_F.send_id, _F.received_at)
    .where(
        _F.subscriber_id == bindparam("sub"),
        _F.outcome == DELIVERED,
        _F.counts.is_(True),
        _F.matched_by != CONFIRMATION,
        _F.received_at >= bindparam("since"),
    )
    .order_by(_F.received_at.desc(), _F.id.desc())
    .limit(1)
)
_COPIES = select(deliveries.c.subscriber_id).where(
    deliveries.c.send_id == bindparam("send"),
    deliveries.c.subscriber_id.in_(bindparam("subs", expanding=True)),
)


def record(conn: Connection, row: dict[str, Any]) -> int | None:
    """Insert one event; its id, or None when its ``event_id`` was taken before (and its
    send's ``send_feedback`` counted)."""
    stmt = _INSERT["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    found: int | None = conn.execute(stmt, row).scalar()
    if found is not None:
        rollups.count_feedback(conn, [(found, row)])
    return found


def record_many(conn: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert events (all rows with the same keys) in one statement per :data:`_MANY`;
    the id of each inserted one by ``event_id`` (those taken before are absent); their
    sends' ``send_feedback`` counted."""
    stmt = _INSERT_MANY["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    found: dict[str, int] = {}
    for start in range(0, len(rows), _MANY):
        chunk = rows[start : start + _MANY]
        if len(chunk) == 1:  # a single row: the plain statement, no executemany
            found.update((event, id_) for id_, event in conn.execute(stmt, chunk[0]))
        else:
            found.update((event, id_) for id_, event in conn.execute(stmt, list(chunk)))
    rollups.count_feedback(
        conn, [(found[r["event_id"]], r) for r in rows if r["event_id"] in found]
    )
    return found


def copies(conn: Connection, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these (send, subscriber) copies the ledger holds."""
    by_send: dict[int, set[int]] = {}
    for send, sub in pairs:
        by_send.setdefault(send, set()).add(sub)
    found: set[tuple[int, int]] = set()
    for send, subs in sorted(by_send.items()):  # one send, mostly: one primary-key range
        ordered = sorted(subs)
        for start in range(0, len(ordered), _MANY):
            chunk = ordered[start : start + _MANY]
            found.update(
                (send, sub) for sub in conn.scalars(_COPIES, {"send": send, "subs": chunk})
            )
    return found


def seen(conn: Connection, event_ids: Sequence[str]) -> set[str]:
    """Which of these event ids are recorded already."""
    stmt = select(feedback_events.c.event_id).where(feedback_events.c.event_id.in_(event_ids))
    return set(conn.scalars(stmt))


def mark_processed(conn: Connection, event: int, effect: str, *, now: datetime) -> None:
    """Judged: what it did."""
    conn.execute(_PROCESSED, {"event": event, "at": now, "effect": effect[:500]})


def mark_processed_many(
    conn: Connection, effects: Sequence[tuple[int, str]], *, now: datetime
) -> None:
    """Judged, many at once: (event, what it did) pairs."""
    if effects:
        conn.execute(
            _PROCESSED, [{"event": e, "at": now, "effect": effect[:500]} for e, effect in effects]
        )


def subscriber_by_key(conn: Connection, key: str) -> int | None:
    """A subscriber's id by case-folded address."""
    return conn.scalar(_BY_KEY, {"key": key})


def email_of(conn: Connection, subscriber_id: int) -> str | None:
    """A subscriber's address, if the subscriber exists."""
    return conn.scalar(select(subscribers.c.email).where(subscribers.c.id == subscriber_id))


def delivery(conn: Connection, send_id: int, subscriber_id: int) -> datetime | None:
    """When the ledger row of this copy last changed, if there is one."""
    return conn.scalar(_DELIVERY, {"send": send_id, "sub": subscriber_id})


def delivery_of_digest(
    conn: Connection, digest_id: str, subscriber_id: int
) -> tuple[int, datetime] | None:
    """The newest send of ``digest_id`` with a copy for the subscriber: (send, last change)."""
    row = conn.execute(_OF_DIGEST, {"digest": digest_id, "sub": subscriber_id}).first()
    return (row[0], row[1]) if row else None


def last_mailed(conn: Connection, subscriber_id: int, *, since: datetime) -> int | None:
    """The newest send that mailed the subscriber since ``since`` (sent or deferred)."""
    return conn.scalar(_LAST_MAILED, {"sub": subscriber_id, "since": since})


def soft_score(
    conn: Connection, subscriber_id: int, *, since: datetime, settled_before: datetime
) -> int:
    """Distinct sends (or days, for events naming no send) with a counted soft bounce since
    ``since`` and since the last successful delivery: a clean copy (one sent before
    ``settled_before`` that no bounce came back for) or a confirmed one (a counted
    ``delivered`` event). A soft bounce of a send older than the confirmed copy's does not
    count either, however late it came in; one of the same send, received after the
    delivery was confirmed (a server that accepted, then bounced), does."""
    events = conn.execute(_SOFT, {"sub": subscriber_id, "since": since}).all()
    if not events:
        return 0
    clean = conn.scalar(_CLEAN, {"sub": subscriber_id, "since": since, "settled": settled_before})
    confirmed = conn.execute(_CONFIRMED, {"sub": subscriber_id, "since": since}).first()

    def counted(send: int | None, at: datetime) -> bool:
        if clean is not None and at <= clean:
            return False
        if confirmed is None:
            return True
        older = send is not None and confirmed[0] is not None and send < confirmed[0]
        return at > confirmed[1] and not older

    marks = {
        ("send", send) if send is not None else ("day", at.date())
        for send, at in events
        if counted(send, at)
    }
    return len(marks)


def events(
    conn: Connection,
    *,
    since: datetime | None = None,
    limit: int = 1000,
    deliveries_too: bool = False,
) -> list[Event]:
    """Recorded events, newest first (at most ``limit``); confirmed deliveries (one per
    copy with a provider that reports them) only when ``deliveries_too``."""
    f = feedback_events.c
    stmt = (
        select(feedback_events, subscribers.c.email)
        .outerjoin(subscribers, subscribers.c.id == f.subscriber_id)
        .order_by(f.received_at.desc(), f.id.desc())
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(f.received_at >= since)
    if not deliveries_too:
        stmt = stmt.where(f.outcome != DELIVERED)
    return [Event(**row._mapping) for row in conn.execute(stmt)]


def counts(conn: Connection, *, since: datetime) -> dict[str, int]:
    """Events per outcome since ``since``; ``unmatched``: bounces, complaints and replies
    matching no subscriber (a delivery report nobody matched is no problem to list)."""
    f = feedback_events.c
    stmt = select(f.outcome, func.count()).where(f.received_at >= since).group_by(f.outcome)
    out = {outcome: int(n) for outcome, n in conn.execute(stmt)}
    unmatched = select(func.count()).where(
        and_(f.received_at >= since, f.subscriber_id.is_(None), f.outcome != DELIVERED)
    )
    out["unmatched"] = int(conn.scalar(unmatched.select_from(feedback_events)) or 0)
    return out


def prune_unmatched(conn: Connection, *, before: datetime) -> int:
    """Forget unmatched events older than ``before``; how many."""
    f = feedback_events.c
    stmt = delete(feedback_events).where(f.subscriber_id.is_(None), f.received_at < before)
    return conn.execute(stmt).rowcount or 0


def prune_deliveries(conn: Connection, *, before: datetime) -> int:
    """Forget confirmed deliveries older than ``before`` (the start of the soft-bounce
    window: an older one precedes every soft bounce still counted); how many."""
    f = feedback_events.c
    stmt = delete(feedback_events).where(f.outcome == DELIVERED, f.received_at < before)
    return conn.execute(stmt).rowcount or 0

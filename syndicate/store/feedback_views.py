"""What editors see of the feedback: per send, the deliverability alert, the listing's size.

Counted the same way everywhere: only events that may act (``counts``: a verified token, our
Message-ID or address within the trust window, or a provider's signed event), and each reader
once. A soft and then a hard bounce of one reader is one bounced reader (shown as hard),
and a rate is bounced readers over copies sent, so it can never pass 100 %. Anyone can mail
the bounce address, so a report matching no copy never counts as one of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select

from syndicate.store.tables import feedback_events, sends, subscribers

DELIVERED = "delivered"
BOUNCES = ("hard", "soft")
SHOWN = ("hard", "soft", "complaint", "ours")  # what a send's report lists per reader


@dataclass(frozen=True, slots=True, kw_only=True)
class SendFeedback:
    """Distinct readers of one send with feedback that counts."""

    bounced: int = 0  # readers with a hard or soft bounce
    hard: int = 0  # of them, readers with a hard bounce
    complained: int = 0
    ours: int = 0  # copies refused for the sender's reasons

    @property
    def soft(self) -> int:
        """Readers whose bounces were all soft."""
        return self.bounced - self.hard


@dataclass(frozen=True, slots=True, kw_only=True)
class ReaderFeedback:
    """One reader's feedback on one send, as ``report`` lists it: the worst bounce (hard
    over soft, then the newest), a complaint, or a refusal of ours."""

    email: str
    outcome: str
    status: str | None
    diagnostic: str
    matched_by: str
    received_at: datetime
    effect: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusals:
    """Refusals for the sender's reasons in a window: matched copies, and other reports."""

    copies: int
    unmatched: int


def _trusted() -> ColumnElement[bool]:
    """Feedback that may act: matched to a reader, and trusted."""
    f = feedback_events.c
    return and_(f.subscriber_id.is_not(None), f.counts.is_(True))


def per_send(conn: Connection, send_id: int) -> SendFeedback:
    """The readers of ``send_id`` who bounced, complained or were refused for our reasons."""
    f = feedback_events.c
    where = and_(f.send_id == send_id, _trusted())
    readers = func.count(func.distinct(f.subscriber_id))
    stmt = select(f.outcome, readers).where(where, f.outcome != DELIVERED).group_by(f.outcome)
    found: dict[str, int] = {outcome: int(n) for outcome, n in conn.execute(stmt)}
    bounced = conn.scalar(select(readers).where(where, f.outcome.in_(BOUNCES))) or 0
    return SendFeedback(
        bounced=int(bounced),
        hard=found.get("hard", 0),
        complained=found.get("complaint", 0),
        ours=found.get("ours", 0),
    )


def readers_of_send(conn: Connection, send_id: int) -> list[ReaderFeedback]:
    """Who bounced, complained or was refused for our reasons on ``send_id``, by address:
    one row per reader and kind (bounce, complaint, ours)."""
    f = feedback_events.c
    stmt = (
        select(
            subscribers.c.email,
            f.outcome,
            f.status,
            f.diagnostic,
            f.matched_by,
            f.received_at,
            f.effect,
            f.subscriber_id,
        )
        .join(subscribers, subscribers.c.id == f.subscriber_id)
        .where(f.send_id == send_id, _trusted(), f.outcome.in_(SHOWN))
        .order_by(f.received_at, f.id)
    )
    chosen: dict[tuple[int, str], ReaderFeedback] = {}
    for row in conn.execute(stmt):
        kind = "bounce" if row.outcome in BOUNCES else row.outcome
        found = ReaderFeedback(
            email=row.email,
            outcome=row.outcome,
            status=row.status,
            diagnostic=row.diagnostic,
            matched_by=row.matched_by,
            received_at=row.received_at,
            effect=row.effect,
        )
        before = chosen.get((row.subscriber_id, kind))
        if before is None or not (before.outcome == "hard" and row.outcome == "soft"):
            chosen[(row.subscriber_id, kind)] = found
    return sorted(chosen.values(), key=lambda r: (r.email.casefold(), r.outcome))


def refusals(conn: Connection, *, since: datetime) -> Refusals:
    """Refusals for the sender's reputation or policy since ``since``: distinct copies we can
    match (a reader and a send, or a provider's signed event for a reader) and, apart, the
    reports nobody can tie to a copy (anyone could have mailed those)."""
    f = feedback_events.c
    ours = and_(f.outcome == "ours", f.received_at >= since)
    pairs = select(f.subscriber_id, f.send_id).where(ours, _trusted()).distinct().subquery()
    copies = conn.scalar(select(func.count()).select_from(pairs)) or 0
    untrusted = or_(f.subscriber_id.is_(None), f.counts.is_(False))
    stmt = select(func.count()).where(ours, untrusted).select_from(feedback_events)
    unmatched = conn.scalar(stmt) or 0
    return Refusals(copies=int(copies), unmatched=int(unmatched))


def listed_total(conn: Connection, *, since: datetime) -> int:
    """How many events ``bounces list`` would show without its limit."""
    f = feedback_events.c
    stmt = select(func.count()).where(f.received_at >= since, f.outcome != DELIVERED)
    return int(conn.scalar(stmt.select_from(feedback_events)) or 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberFeedback:
    """One piece of feedback about a subscriber, as ``subscribers show`` lists it."""

    received_at: datetime
    outcome: str
    status: str | None
    digest_id: str | None
    send_id: int | None
    list_name: str | None  # the send's list (its time zone on the desk); None: no send
    matched_by: str
    counts: bool
    effect: str | None
    diagnostic: str


def feedback_of(
    conn: Connection, subscriber_id: int, *, limit: int = 50
) -> list[SubscriberFeedback]:
    """A subscriber's bounces, complaints, refusals and confirmed deliveries, newest first
    (at most ``limit``), trusted or not: the editor sees why a reader is, or is not, gone."""
    f = feedback_events.c
    stmt = (
        select(
            f.received_at,
            f.outcome,
            f.status,
            sends.c.digest_id,
            f.matched_by,
            f.counts,
            f.effect,
            f.diagnostic,
            f.send_id,
            sends.c.list_name,
        )
        .select_from(feedback_events.outerjoin(sends, sends.c.id == f.send_id))
        .where(f.subscriber_id == subscriber_id)
        .order_by(f.received_at.desc(), f.id.desc())
        .limit(limit)
    )
    return [
        SubscriberFeedback(
            received_at=r[0],
            outcome=r[1],
            status=r[2],
            digest_id=r[3],
            send_id=r[8],
            list_name=r[9],
            matched_by=r[4] or "unmatched",
            counts=bool(r[5]),
            effect=r[6],
            diagnostic=r[7],
        )
        for r in conn.execute(stmt)
    ]

"""What the admin pages read: a list's days, the last sends with their outcomes, a send in
progress. Every question here reads a rollup (``list_daily``, ``send_totals``,
``send_feedback``) or an index range of one send, never the whole trail, ledger or
feedback: the dashboard stays fast at a million subscribers and hundreds of sends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from syndicate.store.rollups import TOTALS as _TOTALS
from syndicate.store.tables import (
    deliveries,
    feedback_events,
    list_daily,
    send_feedback,
    send_totals,
    sends,
)

OPEN = ("preparing", "sending")


@dataclass(frozen=True, slots=True, kw_only=True)
class Day:
    """One list's status changes on one UTC day, and its active subscribers at its end."""

    day: str
    subscribed: int
    unsubscribed: int
    bounced: int
    complained: int
    net: int  # the change in active subscribers that day
    active: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """A send's ledger by outcome (``deferred``: copies deferred at least once)."""

    recipients: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    abandoned: int = 0

    @property
    def settled(self) -> int:
        """Copies with a final answer (the rest are queued or waiting to be retried)."""
        return self.sent + self.failed + self.skipped + self.abandoned


@dataclass(frozen=True, slots=True, kw_only=True)
class Feedback:
    """Distinct readers of a send with trusted feedback."""

    bounced: int = 0
    complained: int = 0
    refused: int = 0  # copies refused for the sender's reasons ("ours")


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSummary:
    """One send as the dashboard and the sends list show it."""

    id: int
    list_name: str
    digest_id: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    last_error: str | None
    totals: Totals
    feedback: Feedback
    topic_skipped: int | None = None  # readers passed over by their topics; None: not known

    @property
    def running(self) -> bool:
        """Whether the send is still preparing or sending."""
        return self.status in OPEN


def list_names(conn: Connection) -> list[str]:
    """Lists that have a day in the rollup (anyone ever subscribed), by name."""
    stmt = select(list_daily.c.list_name).distinct().order_by(list_daily.c.list_name)
    return [r[0] for r in conn.execute(stmt)]


def days(conn: Connection, list_name: str, *, since: str | None = None) -> list[Day]:
    """The days a list changed, oldest first (from ``since``, YYYY-MM-DD, if given), each
    with its active subscribers at the day's end (the days before ``since`` summed in SQL)."""
    c = list_daily.c
    stmt = (
        select(c.day, c.subscribed, c.unsubscribed, c.bounced, c.complained, c.net)
        .where(c.list_name == list_name)
        .order_by(c.day)
    )
    active = 0
    if since is not None:
        stmt = stmt.where(c.day >= since)
        before = select(func.coalesce(func.sum(c.net), 0)).where(
            c.list_name == list_name, c.day < since
        )
        active = int(conn.scalar(before) or 0)
    found: list[Day] = []
    for day, sub, unsub, bounced, complained, net in conn.execute(stmt):
        active += net
        found.append(
            Day(
                day=day,
                subscribed=sub,
                unsubscribed=unsub,
                bounced=bounced,
                complained=complained,
                net=net,
                active=active,
            )
        )
    return found


def days_of_lists(conn: Connection, *, since: str) -> dict[str, list[Day]]:
    """:func:`days` of every list that changed since ``since``, in two queries."""
    c = list_daily.c
    base = dict(
        conn.execute(
            select(c.list_name, func.sum(c.net)).where(c.day < since).group_by(c.list_name)
        ).all()
    )
    stmt = (
        select(c.list_name, c.day, c.subscribed, c.unsubscribed, c.bounced, c.complained, c.net)
        .where(c.day >= since)
        .order_by(c.list_name, c.day)
    )
    found: dict[str, list[Day]] = {}
    active: dict[str, int] = {}
    for name, day, sub, unsub, bounced, complained, net in conn.execute(stmt):
        active[name] = active.get(name, int(base.get(name) or 0)) + net
        found.setdefault(name, []).append(
            Day(
                day=day,
                subscribed=sub,
                unsubscribed=unsub,
                bounced=bounced,
                complained=complained,
                net=net,
                active=active[name],
            )
        )
    return found


def days_active(conn: Connection, list_name: str) -> int:
    """A list's active subscribers now, by the rollup."""
    c = list_daily.c
    stmt = select(func.coalesce(func.sum(c.net), 0)).where(c.list_name == list_name)
    return int(conn.scalar(stmt) or 0)


def live_totals(conn: Connection, send_id: int) -> Totals:
    """A send's ledger counted now, by status: one range of the ledger's due index, read
    from the index alone (for a send in progress; ``deferred`` is those waiting to retry)."""
    d = deliveries.c
    stmt = select(d.status, func.count()).where(d.send_id == send_id).group_by(d.status)
    found = {status: int(n) for status, n in conn.execute(stmt)}
    return Totals(
        recipients=sum(found.values()),
        sent=found.get("sent", 0),
        deferred=found.get("deferred", 0),
        failed=found.get("failed", 0),
        skipped=found.get("skipped", 0),
        abandoned=found.get("abandoned", 0),
    )


def feedback_of(conn: Connection, send_ids: Sequence[int]) -> dict[int, Feedback]:
    """Trusted feedback per send: distinct readers who bounced, complained, were refused
    (the ``send_feedback`` rollup: a row per send, not the send's events)."""
    if not send_ids:
        return {}
    c = send_feedback.c
    stmt = select(c.send_id, c.bounced, c.complained, c.refused).where(
        c.send_id.in_(list(send_ids))
    )
    return {
        int(send_id): Feedback(bounced=bounced, complained=complained, refused=refused)
        for send_id, bounced, complained, refused in conn.execute(stmt)
    }


def frozen_totals(conn: Connection, send_ids: Sequence[int]) -> dict[int, Totals]:
    """The totals frozen in ``send_totals`` of those of ``send_ids`` that have them (sends
    that finished or were abandoned), in one query: a row per send, not its ledger."""
    if not send_ids:
        return {}
    t = send_totals.c
    stmt = select(t.send_id, *(t[name] for name in _TOTALS)).where(t.send_id.in_(list(send_ids)))
    return {
        int(r[0]): Totals(**dict(zip(_TOTALS, (int(v) for v in r[1:]), strict=True)))
        for r in conn.execute(stmt)
    }


LiveCount = Callable[[Connection, int], "Totals"]


def last_sends(
    conn: Connection,
    *,
    limit: int,
    list_name: str | None = None,
    before: int | None = None,
    live: LiveCount | None = None,
) -> list[SendSummary]:
    """The latest sends, newest first, with their totals (frozen, or counted live while the
    send runs, by ``live``: :func:`live_totals` unless given) and feedback. ``before``: only
    sends with a smaller id (the next page)."""
    s, t = sends.c, send_totals.c
    stmt = (
        select(
            s.id,
            s.list_name,
            s.digest_id,
            s.status,
            s.created_at,
            s.finished_at,
            s.last_error,
            *(t[name] for name in _TOTALS),
            s.topic_skipped,
            t.send_id,
        )
        .select_from(sends.outerjoin(send_totals, t.send_id == s.id))
        .order_by(s.id.desc())
        .limit(limit)
    )
    if list_name is not None:
        stmt = stmt.where(s.list_name == list_name)
    if before is not None:
        stmt = stmt.where(s.id < before)
    rows = conn.execute(stmt).all()
    feedback = feedback_of(conn, [r[0] for r in rows])
    found = []
    for r in rows:
        if r[-1] is not None:
            totals = Totals(**dict(zip(_TOTALS, r[7:13], strict=True)))
        else:  # running, or finished before totals were kept and not backfilled
            totals = (live or live_totals)(conn, r[0])
        found.append(
            SendSummary(
                id=r[0],
                list_name=r[1],
                digest_id=r[2],
                status=r[3],
                created_at=r[4],
                finished_at=r[5],
                last_error=r[6],
                totals=totals,
                feedback=feedback.get(r[0], Feedback()),
                topic_skipped=r[-2],
            )
        )
    return found


def running_ids(conn: Connection) -> list[int]:
    """Sends still preparing or sending, oldest first."""
    stmt = select(sends.c.id).where(sends.c.status.in_(OPEN)).order_by(sends.c.id)
    return [r[0] for r in conn.execute(stmt)]


def running_sends(conn: Connection, *, live: LiveCount | None = None) -> list[SendSummary]:
    """Sends still preparing or sending, oldest first, with their progress counted now."""
    return [s for i in running_ids(conn) if (s := send_summary(conn, i, live=live)) is not None]


def send_summary(
    conn: Connection, send_id: int, *, live: LiveCount | None = None
) -> SendSummary | None:
    """One send's summary by id."""
    found = last_sends(conn, limit=1, before=send_id + 1, live=live)
    return found[0] if found and found[0].id == send_id else None


def _utc_day(conn: Connection, column: Any) -> Any:
    """A stored moment's UTC day as YYYY-MM-DD, in SQL (SQLite keeps naive UTC text)."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def refused_since(conn: Connection, *, since: datetime) -> list[tuple[str, str, int]]:
    """Reputation-type refusals since ``since`` by week and the server's words (first 120
    characters), trusted ones only: (week start YYYY-MM-DD, diagnostic, copies). The newest
    2000 are counted, grouped by day and words in SQL (a range of the index by outcome and
    time; thousands of rows are not carried into Python one by one)."""
    f = feedback_events.c
    newest = (
        select(f.received_at, f.diagnostic)
        .where(
            and_(f.outcome == "ours", f.received_at >= since),
            f.subscriber_id.is_not(None),
            f.counts.is_(True),
        )
        .order_by(f.received_at.desc())
        .limit(2000)
        .subquery()
    )
    day = _utc_day(conn, newest.c.received_at)
    stmt = select(day, newest.c.diagnostic, func.count()).group_by(day, newest.c.diagnostic)
    counted: dict[tuple[str, str], int] = {}
    for on, diagnostic, n in conn.execute(stmt):
        moment = date.fromisoformat(on)
        week = (moment - timedelta(days=moment.weekday())).isoformat()
        key = (week, " ".join(diagnostic.split())[:120])
        counted[key] = counted.get(key, 0) + int(n)
    return sorted(((w, d, n) for (w, d), n in counted.items()), reverse=True)

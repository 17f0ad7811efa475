"""Keeping the admin pages' rollups (``list_daily``, ``send_totals``, ``send_feedback``) where
events are written.

The consent trail, the ledger and the feedback grow with every subscriber and copy; the
dashboard reads a row per list and day, and a row per send, instead. Each is written in the
very transaction that writes the events, so they can never disagree with them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store.tables import (
    deliveries,
    feedback_events,
    list_daily,
    send_feedback,
    send_totals,
)

ACTIVE = "active"
COUNTED = ("unsubscribed", "bounced", "complained")  # columns of list_daily, by status
TOTALS = ("recipients", "sent", "deferred", "failed", "skipped", "abandoned")
_FIELDS = ("subscribed", "unsubscribed", "bounced", "complained", "net")
BOUNCES = ("hard", "soft")
FEEDBACK = (*BOUNCES, "complaint", "ours")  # the outcomes ``send_feedback`` counts


def day_of(moment: datetime) -> str:
    """The UTC day a moment falls on, as ``list_daily`` keys it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def tally(changes: Iterable[tuple[str, str, str | None]]) -> dict[str, dict[str, int]]:
    """Per list, the rollup increments of some (list, status, previous) changes."""
    found: dict[str, Counter[str]] = {}
    for list_name, status, previous in changes:
        if status == previous:
            continue
        count = found.setdefault(list_name, Counter())
        if status == ACTIVE:
            count["subscribed"] += 1
            count["net"] += 1
        elif previous == ACTIVE:
            count["net"] -= 1
        if status in COUNTED:
            count[status] += 1
    return {name: {f: c[f] for f in _FIELDS} for name, c in found.items() if any(c.values())}


@lru_cache(maxsize=2)
def _increment(postgres: bool) -> Any:
    stmt = (postgresql.insert if postgres else sqlite.insert)(list_daily)
    return stmt.on_conflict_do_update(
        index_elements=["list_name", "day"],
        set_={f: list_daily.c[f] + stmt.excluded[f] for f in _FIELDS},
    )


def count_changes(
    conn: Connection, changes: Iterable[tuple[str, str, str | None]], *, now: datetime
) -> None:
    """Add status changes made at ``now`` to their lists' day in ``list_daily``."""
    rows = [
        {"list_name": name, "day": day_of(now), **counts} for name, counts in tally(changes).items()
    ]
    if rows:
        conn.execute(_increment(conn.dialect.name == "postgresql"), rows)


def ledger_counts(send_id: int) -> Any:
    """The statement counting one send's ledger by outcome (also what a live send shows)."""
    d = deliveries.c

    def n(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return select(
        func.count(),
        n(d.status == "sent"),
        n((d.status == "deferred") | (d.attempts > 1)),
        n(d.status == "failed"),
        n(d.status == "skipped"),
        n(d.status == "abandoned"),
    ).where(d.send_id == send_id)


def count_send(conn: Connection, send_id: int, *, now: datetime) -> None:
    """Freeze a send's ledger totals once it finished or was abandoned."""
    row = conn.execute(ledger_counts(send_id)).one()
    values = dict(
        zip(("recipients", "sent", "deferred", "failed", "skipped", "abandoned"), row, strict=True)
    )
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(send_totals)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["send_id"], set_={**values, "counted_at": now}),
        {"send_id": send_id, **{k: int(v) for k, v in values.items()}, "counted_at": now},
    )


def feedback_counts(send_ids: Collection[int]) -> Select[Any]:
    """Per send, its distinct readers with trusted feedback (matched, ``counts``): who
    bounced (hard or soft: one reader once), complained, were refused for our reasons.
    Read from the index ``ix_feedback_send_readers`` alone."""
    f = feedback_events.c

    def readers(cond: Any) -> Any:
        return func.count(func.distinct(case((cond, f.subscriber_id))))

    return (
        select(
            f.send_id,
            readers(f.outcome.in_(BOUNCES)),
            readers(f.outcome == "complaint"),
            readers(f.outcome == "ours"),
        )
        .where(
            f.send_id.in_(list(send_ids)),
            f.outcome.in_(FEEDBACK),
            f.counts.is_(True),
            f.subscriber_id.is_not(None),
        )
        .group_by(f.send_id)
    )


def feedback_sends(rows: Iterable[Mapping[str, Any]]) -> set[int]:
    """The sends whose ``send_feedback`` some new ``feedback_events`` rows change."""
    return {
        int(r["send_id"])
        for r in rows
        if r.get("send_id") is not None
        and r.get("subscriber_id") is not None
        and r.get("counts")
        and r.get("outcome") in FEEDBACK
    }


_SET_FEEDBACK = (
    update(send_feedback)
    .where(send_feedback.c.send_id == bindparam("sid"))
    .values(
        bounced=bindparam("n_bounced"),
        complained=bindparam("n_complained"),
        refused=bindparam("n_refused"),
    )
)


def count_feedback(conn: Connection, send_ids: Iterable[int]) -> None:
    """Recount ``send_feedback`` of these sends from their events, after new ones were
    recorded in this transaction. Each send's row is locked first (in id order: no
    deadlock), so a concurrent intake of the same send has committed, or waits, before the
    recount reads: each statement sees what committed before it (PostgreSQL's read
    committed; SQLite has one writer at a time)."""
    ids = sorted(set(send_ids))
    if not ids:
        return
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        send_feedback
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["send_id"], set_={"bounced": send_feedback.c.bounced}
        ),
        [{"send_id": i} for i in ids],
    )
    found = {int(r[0]): tuple(r[1:]) for r in conn.execute(feedback_counts(ids))}
    rows = []
    for i in ids:
        bounced, complained, refused = found.get(i, (0, 0, 0))
        rows.append(
            {"sid": i, "n_bounced": bounced, "n_complained": complained, "n_refused": refused}
        )
    conn.execute(_SET_FEEDBACK, rows)

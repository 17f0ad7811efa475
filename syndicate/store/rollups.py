"""Keeping the admin pages' rollups (``list_daily``, ``send_totals``, ``send_feedback``) where
events are written.

The consent trail, the ledger and the feedback grow with every subscriber and copy; the
dashboard reads a row per list and day, and a row per send, instead. Each is written in the
very transaction that writes the events, so they can never disagree with them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, update
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
_COLUMNS = ("bounced", "complained", "refused")


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


_KIND = {"hard": "bounced", "soft": "bounced", "complaint": "complained", "ours": "refused"}
_SET_FEEDBACK = (
    update(send_feedback)
    .where(send_feedback.c.send_id == bindparam("sid"))
    .values(
        bounced=send_feedback.c.bounced + bindparam("n_bounced"),
        complained=send_feedback.c.complained + bindparam("n_complained"),
        refused=send_feedback.c.refused + bindparam("n_refused"),
    )
)
_CHUNK = 500  # readers per lookup


def count_feedback(conn: Connection, recorded: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
    """Add feedback events just recorded in this transaction (their ids and rows) to
    ``send_feedback``: each trusted (matched, ``counts``) reader once per send and kind
    (bounced: hard or soft), counting a reader only when no other trusted event of that
    kind on that send is stored. Each send's row is locked first (in id order: no
    deadlock), so a concurrent intake of the same send has committed, or waits, before the
    lookup reads: each statement sees what committed before it (PostgreSQL's read
    committed; SQLite has one writer at a time)."""
    fresh: dict[int, dict[str, set[int]]] = {}  # send → kind → readers
    ids: set[int] = set()
    for event_id, r in recorded:
        kind = _KIND.get(r.get("outcome") or "")
        send_id, reader = r.get("send_id"), r.get("subscriber_id")
        if kind is None or send_id is None or reader is None or not r.get("counts"):
            continue
        fresh.setdefault(int(send_id), {k: set() for k in _COLUMNS})[kind].add(int(reader))
        ids.add(event_id)
    if not fresh:
        return
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        send_feedback
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["send_id"], set_={"bounced": send_feedback.c.bounced}
        ),
        [{"send_id": i} for i in sorted(fresh)],
    )
    f = feedback_events.c
    rows = []
    for send_id, kinds in sorted(fresh.items()):
        readers = sorted(set().union(*kinds.values()))
        before: set[tuple[str, int]] = set()
        for start in range(0, len(readers), _CHUNK):
            found = conn.execute(
                select(f.outcome, f.subscriber_id, f.id).where(
                    f.send_id == send_id,
                    f.outcome.in_(FEEDBACK),
                    f.counts.is_(True),
                    f.subscriber_id.in_(readers[start : start + _CHUNK]),
                )
            )
            before.update((_KIND[o], r) for o, r, i in found if i not in ids)
        added = {k: sum((k, r) not in before for r in got) for k, got in kinds.items()}
        rows.append({"sid": send_id, **{f"n_{k}": n for k, n in added.items()}})
    conn.execute(_SET_FEEDBACK, rows)

"""Keeping the admin pages' rollups (``list_daily``, ``send_totals``) where events are written.

The consent trail and the ledger grow with every subscriber and copy; the dashboard reads a
row per list and day, and a row per finished send, instead. Both are upserted in the very
transaction that writes the events, so they can never disagree with them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store.tables import deliveries, list_daily, send_totals

ACTIVE = "active"
COUNTED = ("unsubscribed", "bounced", "complained")  # columns of list_daily, by status
TOTALS = ("recipients", "sent", "deferred", "failed", "skipped", "abandoned")
_FIELDS = ("subscribed", "unsubscribed", "bounced", "complained", "net")


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

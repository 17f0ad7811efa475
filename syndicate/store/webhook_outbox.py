"""The webhooks' outbox as the ``webhooks`` commands see it: per-endpoint summaries, the
events listed (a pending one naming the event it waits behind), given-up events queued again,
and the events of an endpoint no longer configured moved to another or dropped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from syndicate.store.tables import webhook_events
from syndicate.store.webhooks import COLUMNS, EventRow, EventStatus, blocker, first_in_line, to_row

_w = webhook_events.c


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSummary:
    """What the outbox holds for one endpoint."""

    endpoint: str
    counts: dict[EventStatus, int]
    oldest_pending: datetime | None
    # the earliest next attempt of a pending event that is first in line (the others wait
    # behind an earlier event of their subscriber or send, whatever their own time says)
    next_attempt_at: datetime | None
    waiting: int  # pending events that wait behind an earlier one
    last_error: str | None
    last_error_at: datetime | None


def _pairs(rows: Iterable[Any]) -> dict[str, Any]:
    return {r[0]: r[1] for r in rows}


def summaries(conn: Connection) -> dict[str, EndpointSummary]:
    """Per endpoint named in the outbox: counts per status, the oldest pending event, the
    next attempt of one first in line, how many wait behind another, the newest error."""
    counts: dict[str, dict[EventStatus, int]] = {}
    for endpoint, status, n in conn.execute(
        select(_w.endpoint, _w.status, func.count()).group_by(_w.endpoint, _w.status)
    ):
        counts.setdefault(endpoint, {})[EventStatus(status)] = int(n)
    is_pending = _w.status == EventStatus.PENDING.value
    oldest = _pairs(
        conn.execute(
            select(_w.endpoint, func.min(_w.created_at)).where(is_pending).group_by(_w.endpoint)
        )
    )
    due = _pairs(
        conn.execute(
            select(_w.endpoint, func.min(_w.next_attempt_at))
            .where(is_pending, first_in_line())
            .group_by(_w.endpoint)
        )
    )
    waiting = _pairs(
        conn.execute(
            select(_w.endpoint, func.count())
            .where(is_pending, ~first_in_line())
            .group_by(_w.endpoint)
        )
    )
    out = {}
    for endpoint, by_status in counts.items():
        last = conn.execute(
            select(_w.last_error, _w.last_attempt_at)
            .where(_w.endpoint == endpoint, _w.last_error.is_not(None))
            .order_by(_w.last_attempt_at.desc(), _w.id.desc())
            .limit(1)
        ).first()
        out[endpoint] = EndpointSummary(
            endpoint=endpoint,
            counts=by_status,
            oldest_pending=oldest.get(endpoint),
            next_attempt_at=due.get(endpoint),
            waiting=int(waiting.get(endpoint, 0)),
            last_error=last[0] if last else None,
            last_error_at=last[1] if last else None,
        )
    return out


def iter_events(
    conn: Connection,
    *,
    status: EventStatus | None = None,
    endpoint: str | None = None,
    limit: int | None = None,
) -> Iterator[EventRow]:
    """Rows of the outbox, newest first, optionally of one status or endpoint; a pending
    row says which earlier row it waits behind."""
    stmt = select(*COLUMNS, blocker()).order_by(_w.id.desc())
    if status is not None:
        stmt = stmt.where(_w.status == status.value)
    if endpoint is not None:
        stmt = stmt.where(_w.endpoint == endpoint)
    if limit is not None:
        stmt = stmt.limit(limit)
    for r in conn.execute(stmt):
        yield to_row(r)


def get(conn: Connection, row_id: int) -> EventRow | None:
    """One row of the outbox by its number (None: no such row, or pruned)."""
    found = conn.execute(select(*COLUMNS, blocker()).where(_w.id == row_id)).first()
    return to_row(found) if found is not None else None


def move(conn: Connection, old: str, new: str, *, types: Sequence[str] | None) -> int:
    """Hand the pending and given-up rows of endpoint ``old`` to ``new`` (only those of
    ``types``; None: all), keeping their numbers and so their order; how many."""
    where = [
        _w.endpoint == old,
        _w.status.in_([EventStatus.PENDING.value, EventStatus.FAILED.value]),
    ]
    if types is not None:
        where.append(_w.type.in_(list(types)))
    done = conn.execute(update(webhook_events).where(*where).values(endpoint=new, lease=None))
    return int(done.rowcount or 0)


def drop(conn: Connection, endpoint: str) -> dict[EventStatus, int]:
    """Forget every row of ``endpoint`` (one no longer configured); how many per status."""
    gone: dict[EventStatus, int] = {}
    for status in EventStatus:
        done = conn.execute(
            delete(webhook_events).where(_w.endpoint == endpoint, _w.status == status.value)
        )
        if done.rowcount:
            gone[status] = int(done.rowcount)
    return gone


def requeue_failed(
    conn: Connection, *, now: datetime, endpoints: Sequence[str], row_id: int | None = None
) -> int:
    """Make given-up rows of ``endpoints`` pending again, due now, with a fresh retry
    window; how many."""
    where = [_w.status == EventStatus.FAILED.value, _w.endpoint.in_(list(endpoints))]
    if row_id is not None:
        where.append(_w.id == row_id)
    done = conn.execute(
        update(webhook_events)
        .where(*where)
        .values(
            status=EventStatus.PENDING.value,
            next_attempt_at=now,
            first_attempt_at=None,
            lease=None,
        )
    )
    return int(done.rowcount or 0)

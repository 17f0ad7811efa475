"""Repository functions for sends that wait: queued for a time, or for an editor's approval.

Every change of a row is one conditional update on its current status (and, while it is
being started, on who claimed it): whoever changes it first wins, any other process sees
nothing left to change. That is how two ``run`` processes never both start a queued send,
and how ``approve`` and a timeout never both decide one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, or_, select, update
from sqlalchemy.exc import IntegrityError

from syndicate.store.tables import queued_sends

_q = queued_sends.c
DETAIL_LIMIT = 500  # characters of a row's detail kept


class QueuedStatus(StrEnum):
    """Where a waiting send stands."""

    QUEUED = "queued"  # waits for its time (`send --at`)
    STARTING = "starting"  # claimed by a process that prepares or starts it
    AWAITING = "awaiting"  # prepared, preview mailed; waits for approve / reject / timeout
    APPROVED = "approved"  # approved; the next `run` tick starts it
    SENT = "sent"  # became the send of ``digest_id``
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # too late, timed out, nothing new: ``detail`` says why


OPEN = (
    QueuedStatus.QUEUED,
    QueuedStatus.STARTING,
    QueuedStatus.AWAITING,
    QueuedStatus.APPROVED,
)
WAITING = (QueuedStatus.AWAITING, QueuedStatus.APPROVED)


class Origin(StrEnum):
    """Where a waiting send came from."""

    AT = "at"  # `syndicate send LIST --at TIME`
    SCHEDULE = "schedule"  # the list's cron schedule fired (a list with approve = true)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedRow:
    """One waiting (or once waiting) send."""

    id: int
    list_name: str
    origin: Origin
    status: QueuedStatus
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    article_id: str | None = None
    note: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    digest_id: str | None = None
    prepared: str | None = None
    wait_until: datetime | None = None
    detail: str | None = None
    again: bool = False  # an article mailed to the list before is mailed again (--again)

    @property
    def is_open(self) -> bool:
        """Whether it may still be sent."""
        return self.status in OPEN


_COLUMNS = (
    _q.id,
    _q.list_name,
    _q.origin,
    _q.status,
    _q.due_at,
    _q.created_at,
    _q.updated_at,
    _q.article_id,
    _q.note,
    _q.claimed_by,
    _q.claimed_at,
    _q.digest_id,
    _q.prepared,
    _q.wait_until,
    _q.detail,
    _q.again,
)


def _select() -> Select[Any]:
    return select(*_COLUMNS)


def _row(r: Any) -> QueuedRow:
    return QueuedRow(
        id=r[0],
        list_name=r[1],
        origin=Origin(r[2]),
        status=QueuedStatus(r[3]),
        due_at=r[4],
        created_at=r[5],
        updated_at=r[6],
        article_id=r[7],
        note=r[8],
        claimed_by=r[9],
        claimed_at=r[10],
        digest_id=r[11],
        prepared=r[12],
        wait_until=r[13],
        detail=r[14],
        again=bool(r[15]),
    )


def _values(r: QueuedStatus | Iterable[QueuedStatus]) -> list[str]:
    return [r.value] if isinstance(r, QueuedStatus) else [s.value for s in r]


def queue(
    conn: Connection,
    list_name: str,
    *,
    due: datetime,
    now: datetime,
    article_id: str | None = None,
    again: bool = False,
    note: str | None = None,
) -> int:
    """Queue the list's next digest (or one article) for ``due``; the row's id."""
    result = conn.execute(
        queued_sends.insert().returning(_q.id),
        {
            "list_name": list_name,
            "origin": Origin.AT.value,
            "status": QueuedStatus.QUEUED.value,
            "due_at": due,
            "article_id": article_id,
            "again": again,
            "note": note,
            "created_at": now,
            "updated_at": now,
        },
    )
    return int(result.scalar_one())


def get(conn: Connection, row_id: int) -> QueuedRow | None:
    """One row by id."""
    found = conn.execute(_select().where(_q.id == row_id)).first()
    return _row(found) if found else None


def waiting(conn: Connection, list_name: str) -> QueuedRow | None:
    """The list's prepared digest that waits for approval (or was approved, not started)."""
    found = conn.execute(
        _select().where(_q.list_name == list_name, _q.status.in_(_values(WAITING)))
    ).first()
    return _row(found) if found else None


def queued_near(
    conn: Connection, list_name: str, due: datetime, *, within: timedelta
) -> QueuedRow | None:
    """A send of the list queued for a time less than ``within`` from ``due``, if any."""
    stmt = _select().where(
        _q.list_name == list_name,
        _q.status == QueuedStatus.QUEUED.value,
        _q.due_at > due - within,
        _q.due_at < due + within,
    )
    found = conn.execute(stmt.order_by(_q.due_at, _q.id)).first()
    return _row(found) if found else None


def with_status(
    conn: Connection, statuses: QueuedStatus | Iterable[QueuedStatus]
) -> list[QueuedRow]:
    """Every row in one of ``statuses``, due first."""
    stmt = _select().where(_q.status.in_(_values(statuses))).order_by(_q.due_at, _q.id)
    return [_row(r) for r in conn.execute(stmt)]


def listed(
    conn: Connection, list_name: str | None, *, closed_since: datetime | None, limit: int
) -> list[QueuedRow]:
    """What ``sends`` shows: every open row, and rows closed since ``closed_since`` (None:
    none), at most ``limit`` in all (the latest due): the open ones first, each group due
    first."""
    shown: ColumnElement[bool] = _q.status.in_(_values(OPEN))
    if closed_since is not None:
        shown = or_(shown, _q.updated_at >= closed_since)
    stmt = _select().where(shown)
    if list_name is not None:
        stmt = stmt.where(_q.list_name == list_name)
    stmt = stmt.order_by(_q.due_at.desc(), _q.id.desc()).limit(limit)
    found = list(reversed([_row(r) for r in conn.execute(stmt)]))
    return [r for r in found if r.is_open] + [r for r in found if not r.is_open]


def move(
    conn: Connection,
    row_id: int,
    *,
    from_: QueuedStatus | Iterable[QueuedStatus],
    to: QueuedStatus,
    now: datetime,
    claimed_by: str | None = None,
    detail: str | None = None,
    **values: Any,
) -> bool:
    """Change a row's status if it is still in ``from_`` (and, given ``claimed_by``, still
    claimed by that owner); whether this call changed it."""
    stmt = update(queued_sends).where(_q.id == row_id, _q.status.in_(_values(from_)))
    if claimed_by is not None:
        stmt = stmt.where(_q.claimed_by == claimed_by)
    if detail is not None:
        values["detail"] = detail[:DETAIL_LIMIT]
    result = conn.execute(stmt.values(status=to.value, updated_at=now, **values))
    return result.rowcount == 1


def claim(
    conn: Connection,
    row: QueuedRow,
    owner: str,
    *,
    now: datetime,
) -> bool:
    """Claim a queued or approved row (or one whose claimer died) for starting it."""
    stmt = update(queued_sends).where(_q.id == row.id, _q.status == row.status.value)
    if row.status is QueuedStatus.STARTING:  # taking over from a dead claimer
        stmt = stmt.where(_q.claimed_by == row.claimed_by)
    result = conn.execute(
        stmt.values(
            status=QueuedStatus.STARTING.value, claimed_by=owner, claimed_at=now, updated_at=now
        )
    )
    return result.rowcount == 1


def hold_for_approval(
    conn: Connection,
    *,
    list_name: str,
    row_id: int | None,
    owner: str | None,
    due: datetime,
    now: datetime,
    digest_id: str,
    prepared: str,
    wait_until: datetime,
) -> int | None:
    """Record a prepared digest as waiting for approval: the claimed row ``row_id`` (a
    queued send that came due), else a new row (the schedule fired). None when another
    digest of the list already waits (or the claim was lost)."""
    values = {
        "status": QueuedStatus.AWAITING.value,
        "digest_id": digest_id,
        "prepared": prepared,
        "wait_until": wait_until,
        "updated_at": now,
    }
    try:
        with conn.begin_nested():
            if row_id is not None:
                done = conn.execute(
                    update(queued_sends)
                    .where(
                        _q.id == row_id,
                        _q.status == QueuedStatus.STARTING.value,
                        _q.claimed_by == owner,
                    )
                    .values(**values)
                )
                return row_id if done.rowcount == 1 else None
            result = conn.execute(
                queued_sends.insert().returning(_q.id),
                {
                    **values,
                    "list_name": list_name,
                    "origin": Origin.SCHEDULE.value,
                    "due_at": due,
                    "created_at": now,
                },
            )
            return int(result.scalar_one())
    except IntegrityError:  # uq_queued_sends_waiting: one already waits
        return None


def frozen_of(conn: Connection, list_name: str, digest_id: str) -> str | None:
    """The frozen digest an approved send of ``digest_id`` was started from, if any."""
    found: str | None = conn.scalar(
        select(_q.prepared).where(
            _q.list_name == list_name,
            _q.digest_id == digest_id,
            _q.status == QueuedStatus.SENT.value,
            _q.prepared.is_not(None),
        )
    )
    return found


def due(conn: Connection, *, now: datetime) -> list[QueuedRow]:
    """What a look at the queue acts on: queued sends whose time came, approvals whose
    deadline passed, approved digests, and claims (of processes that may have died)."""
    stmt = (
        _select()
        .where(
            or_(
                (_q.status == QueuedStatus.QUEUED.value) & (_q.due_at <= now),
                (_q.status == QueuedStatus.AWAITING.value) & (_q.wait_until <= now),
                _q.status.in_(_values((QueuedStatus.APPROVED, QueuedStatus.STARTING))),
            )
        )
        .order_by(_q.due_at, _q.id)
    )
    return [_row(r) for r in conn.execute(stmt)]


def latest_approved(conn: Connection, list_name: str) -> QueuedRow | None:
    """The list's latest prepared digest that was approved and left the waiting states: being
    started (``starting``) or sent (``sent``), for ``approve``/``reject`` to say where it is."""
    found = conn.execute(
        _select()
        .where(
            _q.list_name == list_name,
            _q.prepared.is_not(None),
            _q.status.in_([QueuedStatus.STARTING.value, QueuedStatus.SENT.value]),
        )
        .order_by(_q.updated_at.desc(), _q.id.desc())
        .limit(1)
    ).first()
    return _row(found) if found else None


def of_digest(conn: Connection, digest_id: str) -> QueuedRow | None:
    """The latest row that prepared ``digest_id`` (``briefing-2``), if any."""
    found = conn.execute(
        _select().where(_q.digest_id == digest_id).order_by(_q.id.desc()).limit(1)
    ).first()
    return _row(found) if found else None

"""Repository functions for sends: one send of one digest to one list, and where it stands.

A send is *interrupted* while it still has rows that were never tried (a crash or Ctrl-C
while queueing or sending): the next send of the list resumes it first. Once every row was
tried, what is left is *retrying*: deferred copies tried again in the background (``run``'s
retry job, ``syndicate worker``, or any later ``send``) while the list's next digests go out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Select, exists, func, or_, select, update

from syndicate.store.deliveries import UNFINISHED, DeliveryStatus
from syndicate.store.rollups import count_send
from syndicate.store.tables import deliveries, digests, sends

ERROR_LIMIT = 500  # characters of a send's last error kept


class SendStatus(StrEnum):
    """Where a send stands: rows being queued, mail going out, finished, or given up."""

    PREPARING = "preparing"
    SENDING = "sending"
    DONE = "done"
    ABANDONED = "abandoned"


_OPEN = (SendStatus.PREPARING.value, SendStatus.SENDING.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRow:
    """One send of one digest to one list, with the last problem it met."""

    id: int
    list_name: str
    digest_id: str
    status: SendStatus
    created_at: datetime
    finished_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    topic_skipped: int | None = None  # readers passed over by their topics; None: not known


_s = sends.c
_COLUMNS = (
    _s.id,
    _s.list_name,
    _s.digest_id,
    _s.status,
    _s.created_at,
    _s.finished_at,
    _s.last_error,
    _s.last_error_at,
    _s.topic_skipped,
)


def _select() -> Select[Any]:
    return select(*_COLUMNS)


def _row(r: Any) -> SendRow:
    return SendRow(
        id=r[0],
        list_name=r[1],
        digest_id=r[2],
        status=SendStatus(r[3]),
        created_at=r[4],
        finished_at=r[5],
        last_error=r[6],
        last_error_at=r[7],
        topic_skipped=r[8],
    )


def create_send(conn: Connection, list_name: str, digest_id: str, *, now: datetime) -> int:
    """Start a send (in PREPARING until every ledger row is written)."""
    result = conn.execute(
        sends.insert().returning(_s.id),
        {
            "list_name": list_name,
            "digest_id": digest_id,
            "status": SendStatus.PREPARING.value,
            "created_at": now,
        },
    )
    return int(result.scalar_one())


def _untried() -> Any:
    """Whether a send still has a queued row (one never tried)."""
    d = deliveries.c
    return exists().where(d.send_id == _s.id, d.status == DeliveryStatus.QUEUED.value)


def interrupted_send(conn: Connection, list_name: str) -> SendRow | None:
    """The list's send a crash or a stop left with rows never tried, if any: resumed first."""
    row = conn.execute(
        _select()
        .where(
            _s.list_name == list_name,
            or_(
                _s.status == SendStatus.PREPARING.value,
                (_s.status == SendStatus.SENDING.value) & _untried(),
            ),
        )
        .order_by(_s.id.desc())
        .limit(1)
    ).first()
    return _row(row) if row is not None else None


def unfinished_sends(conn: Connection, list_name: str | None = None) -> list[SendRow]:
    """Sends still preparing or sending (interrupted or retrying), oldest first."""
    stmt = _select().where(_s.status.in_(_OPEN))
    if list_name is not None:
        stmt = stmt.where(_s.list_name == list_name)
    return [_row(r) for r in conn.execute(stmt.order_by(_s.id))]


def sends_in(conn: Connection, status: SendStatus) -> list[SendRow]:
    """Every send in ``status``, oldest first (workers drain SENDING ones)."""
    stmt = _select().where(_s.status == status.value).order_by(_s.id)
    return [_row(r) for r in conn.execute(stmt)]


def send_by_id(conn: Connection, send_id: int) -> SendRow | None:
    """One send by its row id."""
    row = conn.execute(_select().where(_s.id == send_id)).first()
    return _row(row) if row is not None else None


def find_send(conn: Connection, digest_id: str) -> SendRow | None:
    """The send of a digest (``weekly-3``), as people name it."""
    row = conn.execute(
        _select().where(_s.digest_id == digest_id).order_by(_s.id.desc()).limit(1)
    ).first()
    return _row(row) if row is not None else None


def digest_ids(conn: Connection, send_ids: Iterable[int]) -> dict[int, str]:
    """The digest (``weekly-3``) of each send id that exists: how a log line names a send."""
    wanted = sorted(set(send_ids))[:1000]
    if not wanted:
        return {}
    rows = conn.execute(select(_s.id, _s.digest_id).where(_s.id.in_(wanted)))
    return {send_id: digest for send_id, digest in rows}


def recent_sends(conn: Connection, list_name: str | None, limit: int = 10) -> list[SendRow]:
    """The latest sends, newest first."""
    stmt = _select().order_by(_s.id.desc()).limit(limit)
    if list_name is not None:
        stmt = stmt.where(_s.list_name == list_name)
    return [_row(r) for r in conn.execute(stmt)]


def finish_if_done(conn: Connection, send_id: int, *, now: datetime) -> bool:
    """Mark a send DONE (and its digest sent) once no row is queued or deferred."""
    return close_if_done(conn, send_id, now=now)[0]


def close_if_done(conn: Connection, send_id: int, *, now: datetime) -> tuple[bool, bool]:
    """:func:`finish_if_done`, and whether this call is the one that finished the send
    (what a ``send.finished`` event is recorded on, once)."""
    d = deliveries.c
    left = conn.scalar(select(func.count()).where(d.send_id == send_id, d.status.in_(UNFINISHED)))
    if left:
        return False, False
    changed = conn.execute(
        update(sends)
        .where(_s.id == send_id, _s.status.in_(_OPEN))
        .values(status=SendStatus.DONE.value, finished_at=now)
        .returning(_s.digest_id)
    ).first()
    if changed is not None:
        conn.execute(digests.update().where(digests.c.id == changed[0]).values(sent_at=now))
        count_send(conn, send_id, now=now)
    return True, changed is not None


def set_send_status(conn: Connection, send_id: int, status: SendStatus, *, now: datetime) -> None:
    """Move a send on; DONE records when it finished."""
    values: dict[str, object] = {"status": status.value}
    if status is SendStatus.DONE:
        values["finished_at"] = now
    conn.execute(update(sends).where(_s.id == send_id).values(**values))
    if status in (SendStatus.DONE, SendStatus.ABANDONED):
        count_send(conn, send_id, now=now)


def keep_topic_skipped(conn: Connection, send_id: int, readers: int) -> None:
    """Keep how many readers the send passed over by their topics (no ledger row says
    so); the first count stays: a preparation run again does not overwrite it."""
    conn.execute(
        update(sends)
        .where(_s.id == send_id, _s.topic_skipped.is_(None))
        .values(topic_skipped=readers)
    )


def send_started(conn: Connection, send_id: int) -> datetime | None:
    """When a send was created (retries stop ``retry_for`` after it)."""
    found: datetime | None = conn.scalar(select(_s.created_at).where(_s.id == send_id))
    return found


def record_error(conn: Connection, send_id: int, error: str, *, now: datetime) -> None:
    """Keep the last problem a send met (a server that cannot be reached, refused TLS...)."""
    conn.execute(
        update(sends)
        .where(_s.id == send_id)
        .values(last_error=error[:ERROR_LIMIT], last_error_at=now)
    )


def clear_error(conn: Connection, send_id: int) -> None:
    """Forget a send's last error (its server answered again)."""
    conn.execute(
        update(sends)
        .where(_s.id == send_id, _s.last_error.is_not(None))
        .values(last_error=None, last_error_at=None)
    )


def abandon(conn: Connection, send_id: int, *, now: datetime) -> int:
    """Stop a send for good: its queued and deferred rows become abandoned; how many."""
    d = deliveries.c
    changed = conn.execute(
        update(deliveries)
        .where(d.send_id == send_id, d.status.in_(UNFINISHED))
        .values(
            status=DeliveryStatus.ABANDONED.value,
            updated_at=now,
            lease_owner=None,
            lease_until=None,
        )
    )
    conn.execute(
        update(sends)
        .where(_s.id == send_id)
        .values(status=SendStatus.ABANDONED.value, finished_at=now)
    )
    count_send(conn, send_id, now=now)
    return int(changed.rowcount or 0)

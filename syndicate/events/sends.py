"""``send.started`` and ``send.finished``: recorded in the transaction that moves the send on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from syndicate.events.record import Hooks, iso, record, wanted_by
from syndicate.store import deliveries as ledger
from syndicate.store import sends as send_repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendRow


def _send(found: SendRow) -> dict[str, Any]:
    return {"id": found.id, "digest": found.digest_id, "list": found.list_name}


def send_started(conn: Connection, hooks: Hooks, send_id: int, *, now: datetime) -> None:
    """The send's ledger is written and mail starts going out (call it in the transaction
    that moves the send to SENDING)."""
    if not wanted_by(hooks, "send.started"):
        return
    found = send_repo.send_by_id(conn, send_id)
    if found is None:
        return
    counts = ledger.counts(conn, send_id)
    recipients = sum(n for status, n in counts.items() if status is not DeliveryStatus.SKIPPED)
    data = {"send": _send(found), "recipients": recipients}
    record(conn, hooks, "send.started", data, key=f"send:{send_id}", now=now)


def send_finished(conn: Connection, hooks: Hooks, send_id: int, *, now: datetime) -> None:
    """Every copy of the send has its final answer, or the send was abandoned (call it in
    the transaction that finished it)."""
    if not wanted_by(hooks, "send.finished"):
        return
    found = send_repo.send_by_id(conn, send_id)
    if found is None:
        return
    counts = {status.value: n for status, n in sorted(ledger.counts(conn, send_id).items())}
    data = {
        "send": _send(found),
        "status": found.status.value,
        "counts": counts,
        "started_at": iso(found.created_at),
        "finished_at": iso(found.finished_at or now),
    }
    record(conn, hooks, "send.finished", data, key=f"send:{send_id}", now=now)


def finish_send(conn: Connection, hooks: Hooks, send_id: int, *, now: datetime) -> bool:
    """:func:`syndicate.store.sends.finish_if_done`, recording ``send.finished`` when this
    call is the one that finished the send."""
    done, closed = send_repo.close_if_done(conn, send_id, now=now)
    if closed:
        send_finished(conn, hooks, send_id, now=now)
    return done

"""Where a send stands, in the words ``status``, ``sends``, ``report`` and the HTTP API use:
preparing or sending; interrupted (copies never tried and nobody at it: the next send resumes
it first); retrying (every copy was tried once; deferred ones are retried in the
background); done or abandoned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from syndicate.store import deliveries as ledger
from syndicate.store import locks
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendRow, SendStatus


def state_of(sent: SendRow, counts: dict[DeliveryStatus, int], *, busy: bool = True) -> str:
    """The send's state; ``busy``: some process holds the list's lock or leased rows of the
    send (:func:`is_busy`)."""
    if sent.status not in (SendStatus.PREPARING, SendStatus.SENDING):
        return sent.status.value
    if sent.status is SendStatus.SENDING and not counts.get(DeliveryStatus.QUEUED):
        return "retrying" if counts.get(DeliveryStatus.DEFERRED) else "sending"
    return sent.status.value if busy else "interrupted"


def is_busy(conn: Connection, sent: SendRow, *, now: datetime) -> bool:
    """Whether some process leased rows of the send or holds its list's lock."""
    held = ledger.lease_holders(conn, sent.id, now=now)
    return bool(held) or locks.lock_owner(conn, sent.list_name) is not None

"""Address-wide suppression: a bounce or a spam report is about the address, not one list
(:data:`~syndicate.models.ADDRESS_WIDE`), so no editor-driven path (``subscribers add`` /
``import``, the API's confirmed subscribe, the desk's Resubscribe) makes such an address
active on any list without the reader's confirmation mail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from syndicate.models import ADDRESS_WIDE, Status
from syndicate.store.sql import BATCH
from syndicate.store.tables import subscriptions


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """Why an address is not made active by hand: it bounced or complained on a list."""

    list_name: str
    status: Status  # bounced | complained
    since: datetime  # when the subscription took that status


def blocked_elsewhere(
    conn: Connection, ids: Sequence[int], *, besides: str | None = None
) -> dict[int, Block]:
    """The subscribers of ``ids`` that bounced or complained on some list (other than
    ``besides``), each with that list (the first by name, as the desk shows it).

    A bounce or a spam report is about the address (:data:`~syndicate.models.ADDRESS_WIDE`),
    so it blocks making the address active on *any* list without the reader's confirmation
    mail. One query per :data:`BATCH` ids, on the subscriptions' primary key
    (subscriber_id, list_name): an import asks once per batch, not once per row.
    """
    wanted = sorted(set(ids))
    found: dict[int, Block] = {}
    for start in range(0, len(wanted), BATCH):
        stmt = select(
            subscriptions.c.subscriber_id,
            subscriptions.c.list_name,
            subscriptions.c.status,
            subscriptions.c.updated_at,
        ).where(
            subscriptions.c.subscriber_id.in_(wanted[start : start + BATCH]),
            subscriptions.c.status.in_(sorted(s.value for s in ADDRESS_WIDE)),
        )
        if besides is not None:
            stmt = stmt.where(subscriptions.c.list_name != besides)
        for sid, name, status, since in conn.execute(stmt):
            if sid not in found or name < found[sid].list_name:
                found[sid] = Block(list_name=name, status=Status(status), since=since)
    return found

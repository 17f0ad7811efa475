"""Recording events into the webhooks' outbox, in the caller's transaction.

:func:`record` is the one entry: the change that causes an event and the event's row commit
or roll back together, so a crash neither loses an event nor invents one. With no
``[[webhooks]]`` endpoint wanting the event type it does nothing at all.

Every payload has the Standard Webhooks shape ``{"type", "timestamp", "data"}``; ``data``
per type is documented in the README (*Outgoing webhooks*) and built by the helpers here.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from syndicate.config.webhooks import EVENT_TYPES, Webhook
from syndicate.models import Status
from syndicate.store import subscribers as subscriber_repo
from syndicate.store import webhooks as repo
from syndicate.store.subscribers import Change

Hooks = Sequence[Webhook]


def message_id() -> str:
    """A new ``webhook-id``: ``msg_`` and 26 random base32 characters (128 bits)."""
    return "msg_" + base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def iso(when: datetime) -> str:
    """A time as every payload writes it: ISO 8601 in UTC, whole seconds, ``Z``."""
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(event_type: str, data: Mapping[str, Any], *, now: datetime) -> str:
    """The JSON body of one event (compact, UTF-8 text, keys in a stable order)."""
    doc = {"type": event_type, "timestamp": iso(now), "data": data}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def wanted_by(hooks: Hooks, event_type: str) -> list[str]:
    """The endpoints that subscribed to ``event_type``."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    return [h.key for h in hooks if h.wants(event_type)]


def record(
    conn: Connection,
    hooks: Hooks,
    event_type: str,
    data: Mapping[str, Any],
    *,
    key: str,
    now: datetime,
) -> None:
    """Queue one event for every endpoint that wants it, in ``conn``'s transaction.

    ``key`` orders delivery: events of one endpoint with the same key (``subscriber:17``,
    ``send:5``) arrive in the order recorded, a later one waiting while an earlier one fails.
    """
    record_many(conn, hooks, [(event_type, data, key)], now=now)


def record_many(
    conn: Connection,
    hooks: Hooks,
    events: Sequence[tuple[str, Mapping[str, Any], str]],
    *,
    now: datetime,
) -> None:
    """:func:`record` for several ``(type, data, key)`` events, in one insert."""
    rows = []
    for event_type, data, key in events:
        endpoints = wanted_by(hooks, event_type)
        if not endpoints:
            continue
        body, mid = payload(event_type, data, now=now), message_id()
        rows += [
            repo.NewEvent(message_id=mid, endpoint=e, type=event_type, order_key=key, body=body)
            for e in endpoints
        ]
    repo.insert(conn, rows, now=now)


_BY_STATUS = {
    Status.ACTIVE: "subscriber.confirmed",
    Status.UNSUBSCRIBED: "subscriber.unsubscribed",
    Status.BOUNCED: "subscriber.bounced",
    Status.COMPLAINED: "subscriber.complained",
}
_WITH_REASON = (Status.BOUNCED, Status.COMPLAINED)


def _types_of(change: Change) -> list[str]:
    found = ["subscriber.created"] if change.previous is None else []
    became = _BY_STATUS.get(change.status)
    if became is not None and change.status is not change.previous:
        found.append(became)
    return found


def record_changes(
    conn: Connection, hooks: Hooks, changes: Sequence[Change], *, now: datetime
) -> None:
    """The subscriber events of subscription changes just applied (``apply_changes``):
    ``subscriber.created`` for a subscription's first status, then ``confirmed``,
    ``unsubscribed``, ``bounced`` or ``complained`` for what it became."""
    typed = [(c, t) for c in changes for t in _types_of(c) if wanted_by(hooks, t)]
    if not typed:
        return
    who = subscriber_repo.contacts(conn, (c.subscriber_id for c, _ in typed))
    events = []
    for change, event_type in typed:
        email, name = who.get(change.subscriber_id, ("", None))
        data: dict[str, Any] = {
            "subscriber": {"id": change.subscriber_id, "email": email, "name": name},
            "list": change.list_name,
            "status": change.status.value,
            "previous": change.previous.value if change.previous else None,
            "source": change.source.value,
        }
        if change.status in _WITH_REASON:
            data["reason"] = change.detail or ""
        events.append((event_type, data, f"subscriber:{change.subscriber_id}"))
    record_many(conn, hooks, events, now=now)

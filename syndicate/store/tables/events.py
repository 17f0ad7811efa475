"""Outgoing webhook events and their marks."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from syndicate.store.tables.base import UTCDateTime, metadata

# Outgoing webhooks' outbox: one row per event and endpoint, written in the transaction of the
# change that caused it (events/record.py), sent by `syndicate run` (events/sender.py). Rows of
# one endpoint with the same ``order_key`` (one subscriber, one send) go out in ``id`` order:
# a later one waits while an earlier one is still pending. ``lease`` is the token of whoever
# claimed the row until ``next_attempt_at``; its outcome is written only under that token.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(40), nullable=False),  # webhook-id: the same on every retry
    Column("endpoint", String(100), nullable=False),  # [[webhooks]] name (or the URL's host)
    Column("type", String(40), nullable=False),
    Column("order_key", String(100), nullable=False),
    Column("body", Text, nullable=False),  # the JSON payload, as signed and sent
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease", String(32)),
    Column("first_attempt_at", UTCDateTime),
    Column("last_attempt_at", UTCDateTime),
    Column("last_code", Integer),  # the receiver's HTTP status (None: no answer)
    Column("last_error", Text),
    UniqueConstraint("message_id", "endpoint", name="uq_webhook_events_message"),
    Index("ix_webhook_events_due", "status", "next_attempt_at", "id"),
    Index("ix_webhook_events_order", "endpoint", "order_key", "status", "id"),
)

# Events derived from a look rather than a change: one mark per thing announced
# (``article:<id>`` for ``article.published``), set in the event's transaction by whoever
# inserts it first, so two looks never announce one thing twice.
webhook_marks = Table(
    "webhook_marks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)

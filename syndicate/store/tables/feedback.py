"""Bounce and complaint events and the provider webhook replay guard."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from syndicate.store.tables.base import UTCDateTime, metadata

# Every bounce, complaint, automatic reply and provider event taken in: recorded first
# (idempotent by ``event_id``), judged after (``processed_at``, ``effect``), Mailman-style, so
# a policy change never needs the mail again. Unmatched rows are kept for a while and listed.
feedback_events = Table(
    "feedback_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(100), nullable=False, unique=True),
    Column("source", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("recipient", Text),
    Column("original_recipient", Text),
    Column("status", String(16)),
    Column("diagnostic", Text, nullable=False),
    Column("message_id", Text),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="SET NULL")),
    Column("send_id", Integer, ForeignKey("sends.id", ondelete="SET NULL")),
    Column("matched_by", String(16), nullable=False),  # token | message-id | address | ""
    Column("counts", Boolean, nullable=False),  # may act on the subscriber (trust rules)
    Column("note", Text, nullable=False),  # how it was matched, or why not
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    Column("effect", Text),  # what judging it did
    Index("ix_feedback_subscriber", "subscriber_id", "received_at"),
    Index("ix_feedback_received", "received_at"),
    Index("ix_feedback_pending", "processed_at"),
    Index("ix_feedback_send", "send_id", "outcome"),  # per send in `status`
)

# Signed webhook values seen (a Mailgun token; a SendGrid timestamp and body digest), kept
# until their signature is stale anyway: a replay is refused across restarts and processes.
webhook_replays = Table(
    "webhook_replays",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 hex of scope and value
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_webhook_replays_expires", "expires_at"),
)

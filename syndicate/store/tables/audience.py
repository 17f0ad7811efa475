"""Subscribers, their subscriptions and consent trail, signups and welcome mails."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from syndicate.store.tables.base import UTCDateTime, metadata

# People. ``email_key`` (the address case-folded) makes addresses unique case-insensitively;
# rows are never deleted, so an address that left stays suppressed.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False),
    Column("email_key", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attributes", Text, nullable=False),  # JSON object
    # The name case-folded, for search (store/search.py); indexed, as ``email_key`` is, with
    # byte order ("C" collation on PostgreSQL) so a prefix is one index range: migration 0023.
    Column("name_key", Text),
)

# One row per subscriber and list: the current status, and the topics chosen on that list.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("list_name", String(63), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # JSON array of tags; [] (the default) means "everything the list sends".
    Column("topics", Text, nullable=False, server_default="[]"),
    Index("ix_subscriptions_list_status", "list_name", "status"),
    # Keyset pages of one list and status, in subscriber order (store/search.py).
    Index("ix_subscriptions_list_status_sub", "list_name", "status", "subscriber_id"),
)

# The consent trail: every status change, when, and where it came from.
subscription_events = Table(
    "subscription_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("list_name", String(63), nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous", String(16)),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("detail", Text),
    Index("ix_subscription_events_subscriber", "subscriber_id", "list_name"),
)

# Subscribe requests not yet looked at: the form only records one (the same cheap insert for
# every address, so its answer time tells nobody who is subscribed); the outbox sender then
# decides what the request changes and queues the confirmation mail, and deletes the row.
signups = Table(
    "signups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", Text, nullable=False),  # canonical (normalize_address)
    Column("name", Text),  # only ever given to a new subscriber
    Column("lists", Text, nullable=False),  # declared list names, space-separated
    Column("detail", String(200), nullable=False),  # for the consent trail: from where
    Column("created_at", UTCDateTime, nullable=False),
)

# Welcome mails: one row per subscriber and list, ever (the key), written in the transaction
# that made the subscription active. ``waiting`` until the outbox sender builds the mail and
# queues it in the outbox (``queued``, ``outbox_id`` names it), or ``skipped`` when the
# subscription was no longer active or the list no longer welcomes anyone by then.
welcomes = Table(
    "welcomes",
    metadata,
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("list_name", String(63), primary_key=True),
    Column("status", String(16), nullable=False),  # waiting | queued | skipped
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("outbox_id", Integer),
    Column("detail", Text),
    Index("ix_welcomes_status", "status", "created_at"),
)

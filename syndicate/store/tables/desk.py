"""Small rollups the admin pages read instead of the consent trail and the ledger."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from syndicate.store.tables.base import UTCDateTime, metadata
from syndicate.store.tables.feedback import feedback_events

# Per list and UTC day: status changes of that day, counted in the transaction that wrote
# them to ``subscription_events`` (so a year of a list is at most 366 rows to read). ``net``
# is the change in active subscribers; their number on a day is the sum of ``net`` up to it.
list_daily = Table(
    "list_daily",
    metadata,
    Column("list_name", String(63), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("subscribed", Integer, nullable=False, server_default="0"),  # became active
    Column("unsubscribed", Integer, nullable=False, server_default="0"),
    Column("bounced", Integer, nullable=False, server_default="0"),
    Column("complained", Integer, nullable=False, server_default="0"),
    Column("net", Integer, nullable=False, server_default="0"),
)

# Per finished send: its ledger counted once, when it finished or was abandoned (a finished
# send's rows no longer change). ``deferred``: copies deferred at least once on the way.
send_totals = Table(
    "send_totals",
    metadata,
    Column("send_id", Integer, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("recipients", Integer, nullable=False),
    Column("sent", Integer, nullable=False),
    Column("deferred", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("abandoned", Integer, nullable=False),
    Column("counted_at", UTCDateTime, nullable=False),
)

# The readers of a send with feedback, by kind, read from the index alone: a send of a
# million copies has thousands of bounces, counted on every dashboard view.
Index(
    "ix_feedback_send_readers",
    feedback_events.c.send_id,
    feedback_events.c.outcome,
    feedback_events.c.counts,
    feedback_events.c.subscriber_id,
)

# Per send: its readers with trusted feedback (a matched reader, ``counts``), each once per
# kind, as :func:`syndicate.store.desk.feedback_of` reads them. Counted in the transaction
# that records the events (store/rollups.py ``count_feedback``): feedback keeps arriving
# for days after a send finished, so it cannot be frozen with ``send_totals``.
send_feedback = Table(
    "send_feedback",
    metadata,
    Column("send_id", Integer, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("bounced", Integer, nullable=False, server_default="0"),  # hard or soft
    Column("complained", Integer, nullable=False, server_default="0"),
    Column("refused", Integer, nullable=False, server_default="0"),  # "ours"
)

# Refusals of ours in a window (the deliverability page and `syndicate status`): a range of
# one outcome by time, instead of every feedback event ever kept.
Index(
    "ix_feedback_outcome_received",
    feedback_events.c.outcome,
    feedback_events.c.received_at,
    feedback_events.c.counts,
    feedback_events.c.subscriber_id,
    feedback_events.c.send_id,
)

"""Digests, sends, the delivery ledger and its locks, the outbox, quota, ceilings, queued sends."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from syndicate.store.tables.base import UTCDateTime, metadata

# Digests: one row per issue of a list once it is rendered for sending; ``sent_at`` is set
# when delivery finishes. ``article_ids`` (JSON) answers "never already sent to this list".
digests = Table(
    "digests",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("list_name", String(63), nullable=False),
    Column("issue", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("article_ids", Text, nullable=False),
    Column("note", Text),  # the editor's note (Markdown source), if the issue has one
    # "digest", or "post": one article mailed on its own (``mode = "post"``, ``--article``)
    Column("kind", String(16), nullable=False, server_default="digest"),
    Column("title", Text),  # a post's article title, as status, sends and report show it
    # a post list's selection cursor: its next posts are those that appeared after this
    Column("since", UTCDateTime),
    UniqueConstraint("list_name", "issue", name="uq_digests_list_issue"),
)

# A send of one digest issue to one list.
sends = Table(
    "sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(63), nullable=False),
    Column("digest_id", String(100), nullable=False),
    Column("status", String(16), nullable=False),  # preparing | sending | done | abandoned
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # The last problem the send met (e.g. the server could not be reached), for `status`.
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    # Readers a digest send passed over: no new article matched their topics, so they have
    # no ledger row. NULL: not known (a post, or a send made before this was kept).
    Column("topic_skipped", Integer),
    Index("ix_sends_list_status", "list_name", "status"),
)

# The ledger: one row per recipient of a send, written before any mail leaves and updated
# only after the server answered. It, not a cursor, says who still needs the message.
deliveries = Table(
    "deliveries",
    metadata,
    Column("send_id", Integer, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("variant", Text, nullable=False),  # the topic set, as a sorted JSON list
    # queued | sent | deferred | failed | skipped | abandoned
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_code", Integer),
    Column("last_reply", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    # A row being delivered: by whom (host:pid) and until when; expired leases are free again.
    Column("lease_owner", Text),
    Column("lease_until", UTCDateTime),
    # Claims walk it in order: one status at a time, oldest due first, no sort.
    Index("ix_deliveries_due", "send_id", "status", "next_attempt_at", "subscriber_id"),
    # ``[smtp] daily_limit``: copies sent in the last 24 hours, and copies in flight (leased),
    # counted from small partial indexes rather than from the whole ledger.
    Index(
        "ix_deliveries_sent",
        "updated_at",
        postgresql_where=text("status = 'sent'"),
        sqlite_where=text("status = 'sent'"),
    ),
    Index(
        "ix_deliveries_leased",
        "lease_until",
        postgresql_where=text("lease_until IS NOT NULL"),
        sqlite_where=text("lease_until IS NOT NULL"),
    ),
)

# One sender per list at a time; a lock whose owner died is taken over.
send_locks = Table(
    "send_locks",
    metadata,
    Column("list_name", String(63), primary_key=True),
    Column("owner", Text, nullable=False),  # host:pid
    Column("heartbeat_at", UTCDateTime, nullable=False),
)

# Single mails that must leave even if the process dies (confirmations, welcomes): queued in
# the same transaction as the change that needs them, delivered and marked by the outbox
# sender. A queued row is claimed by pushing ``next_attempt_at`` ahead (a lease), so two
# processes never send it at once and a crashed sender's rows become due again.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recipient", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("data", LargeBinary, nullable=False),  # the complete RFC 5322 message
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # queued | sent | failed
    Column("last_code", Integer),
    Column("last_reply", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("lease_owner", Text),  # the process sending it now (host:pid:stamp), else None
    # A mail for one subscription (a welcome): sent only while that subscription is active.
    Column("subscriber_id", Integer),
    Column("list_name", String(63)),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_recipient", "recipient", "created_at"),
    Index(  # mails sent in the last 24 hours count against ``[smtp] daily_limit`` too
        "ix_outbox_sent",
        "updated_at",
        postgresql_where=text("status = 'sent'"),
        sqlite_where=text("status = 'sent'"),
    ),
)

# ``[smtp] daily_limit`` and ``warmup``, per sending domain: when its warm-up plan began (day
# 1, kept here so a restart or another machine on the same store continues the plan), and a
# row every claim under a limit updates first, so claims that count the allowance take turns.
send_quota = Table(
    "send_quota",
    metadata,
    Column("domain", String(253), primary_key=True),
    Column("started_at", UTCDateTime),
    Column("touched_at", UTCDateTime, nullable=False),
)

# ``[smtp] max_connections``: how many connections each relay (host:port and username) took
# before it pushed back (421, "too many connections", rate-limit replies), learned by a send
# and the starting point of the next one (``delivery.adaptive``).
relay_ceilings = Table(
    "relay_ceilings",
    metadata,
    Column("relay", String(600), primary_key=True),
    Column("ceiling", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Sends that wait: one-off sends queued for a time (`send LIST --at`), and prepared digests
# waiting for an editor's approval (`[lists.NAME] approve = true`). A row is claimed by one
# conditional update (``queued`` → ``starting``), so two processes never both start it; it
# becomes ``sent`` in the very transaction that records its digest. ``prepared`` freezes
# what the editors were shown (the articles as they were, the note, the issue number).
queued_sends = Table(
    "queued_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_name", String(63), nullable=False),
    Column("origin", String(16), nullable=False),  # at | schedule
    # queued | starting | awaiting | approved | sent | cancelled | rejected | skipped
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("article_id", String(64)),  # `send --article ID --at`: one article, not a digest
    Column("again", Boolean, nullable=False, server_default=false()),  # with --again
    Column("note", Text),  # the editor's note (Markdown source) given with --note
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("claimed_by", Text),  # host:pid of the process starting it
    Column("claimed_at", UTCDateTime),
    Column("digest_id", String(100)),  # the digest prepared for approval, or started
    Column("prepared", Text),  # JSON: the digest as prepared (digest/frozen.py)
    Column("wait_until", UTCDateTime),  # an approval's deadline: then on_timeout decides
    Column("detail", Text),  # what happened: who approved, why it was skipped
    Index("ix_queued_sends_due", "status", "due_at"),
    Index("ix_queued_sends_list", "list_name", "status"),
    # At most one prepared digest per list waits for approval: `approve LIST` names it.
    Index(
        "uq_queued_sends_waiting",
        "list_name",
        unique=True,
        postgresql_where=text("status IN ('awaiting', 'approved')"),
        sqlite_where=text("status IN ('awaiting', 'approved')"),
    ),
)

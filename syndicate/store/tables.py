"""Table definitions (SQLAlchemy Core). Migrations in ``migrations/`` must match these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

# Every article ever seen, from any source. ``first_seen`` never changes once written: it is
# the fallback publication date and the answer to "what is new since X".
articles = Table(
    "articles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(200), nullable=False),
    Column("key", Text, nullable=False),
    Column("guid", Text),
    Column("link", Text),
    Column("content_hash", String(64), nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("payload", Text, nullable=False),
    Column("html", Text, nullable=False),
    Index("ix_articles_source_key", "source", "key"),
    Index("ix_articles_first_seen", "first_seen"),
    Index("ix_articles_source_guid", "source", "guid"),
    Index("ix_articles_source_link", "source", "link"),
    Index("ix_articles_source_hash", "source", "content_hash"),
)

# The incremental cache of the content folder: a file whose size and mtime (then hash) are
# unchanged is not parsed again. A file that failed keeps its problem so it is re-reported.
content_files = Table(
    "content_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("parse_key", String(64), nullable=False),
    Column("article_id", String(64), ForeignKey("articles.id", ondelete="SET NULL")),
    Column("problem_line", Integer),
    Column("problem", Text),
)

# Conditional-GET state of each remote source.
remote_sources = Table(
    "remote_sources",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("url", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("fetched_at", UTCDateTime),
    Column("status", Integer),
)

# Every feed file ``syndicate build`` wrote, with the fingerprint of what it was made from: a
# page whose fingerprint, size and mtime are unchanged is neither rendered nor written again.
feed_files = Table(
    "feed_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
)

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

# WebSub pings not yet accepted by the hub, one per feed URL: written after a build changed
# the feed, deleted once the hub answered 2xx, retried with backoff by `syndicate run`.
websub_pings = Table(
    "websub_pings",
    metadata,
    Column("url", Text, primary_key=True),
    Column("hub", Text, nullable=False),
    Column("queued_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
)


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

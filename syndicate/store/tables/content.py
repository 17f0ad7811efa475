"""Articles, content files, remote sources, built feeds and WebSub pings."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from syndicate.store.tables.base import UTCDateTime, metadata

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

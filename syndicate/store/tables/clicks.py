"""Click counts: the content links of each send, and (only with ``[analytics]
per_subscriber``) who clicked them."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from syndicate.store.tables.base import UTCDateTime, metadata

# One row per content link of a send (``[lists.NAME] count_clicks``), written when the
# send's mail is built. ``/c/<signed id>`` redirects only to ``url`` of the row it names;
# ``clicks`` is its count. No address, IP or user agent is kept here.
click_links = Table(
    "click_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("send_id", Integer, ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
    Column("url_hash", String(64), nullable=False),  # sha256 of url: long URLs, one key
    Column("url", Text, nullable=False),
    Column("clicks", Integer, nullable=False, server_default="0"),
    UniqueConstraint("send_id", "url_hash", name="uq_click_links_send_url"),
)

# Who clicked what: written only when ``[analytics] per_subscriber = true``.
subscriber_clicks = Table(
    "subscriber_clicks",
    metadata,
    Column("link_id", Integer, ForeignKey("click_links.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("clicks", Integer, nullable=False),
    Column("first_at", UTCDateTime, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
)

"""Table definitions (SQLAlchemy Core), one module per area. Migrations in ``migrations/``
must match these; a new area gets a module here and one import line below."""

from syndicate.store.tables.admin import admin_sessions, admin_users
from syndicate.store.tables.api import api_tokens
from syndicate.store.tables.audience import (
    signups,
    subscribers,
    subscription_events,
    subscriptions,
    welcomes,
)
from syndicate.store.tables.base import UTCDateTime, metadata
from syndicate.store.tables.clicks import click_links, subscriber_clicks
from syndicate.store.tables.content import (
    articles,
    content_files,
    feed_files,
    remote_sources,
    websub_pings,
)
from syndicate.store.tables.desk import list_daily, send_feedback, send_totals
from syndicate.store.tables.events import webhook_events, webhook_marks
from syndicate.store.tables.feedback import feedback_events, webhook_replays
from syndicate.store.tables.sending import (
    deliveries,
    digests,
    outbox,
    queued_sends,
    relay_ceilings,
    send_locks,
    send_quota,
    sends,
)

__all__ = [
    "UTCDateTime",
    "admin_sessions",
    "admin_users",
    "api_tokens",
    "articles",
    "click_links",
    "content_files",
    "deliveries",
    "digests",
    "feed_files",
    "feedback_events",
    "list_daily",
    "metadata",
    "outbox",
    "queued_sends",
    "relay_ceilings",
    "remote_sources",
    "send_feedback",
    "send_locks",
    "send_quota",
    "send_totals",
    "sends",
    "signups",
    "subscriber_clicks",
    "subscribers",
    "subscription_events",
    "subscriptions",
    "webhook_events",
    "webhook_marks",
    "webhook_replays",
    "websub_pings",
    "welcomes",
]

"""Outgoing webhooks: events recorded with the change that causes them, sent signed.

``record`` (and the helpers per kind of event) write into the outbox in the caller's
transaction; ``sender.WebhookSender`` (imported on its own: it loads httpx) delivers them
from ``syndicate run``. Floor: below content, subscribers, feedback, delivery and web (all
of which record events); imports only the store, the config and the models.
"""

from __future__ import annotations

from syndicate.events.articles import announce_articles
from syndicate.events.record import Hooks, record, record_changes, record_many
from syndicate.events.sends import finish_send, send_finished, send_started

__all__ = [
    "Hooks",
    "announce_articles",
    "finish_send",
    "record",
    "record_changes",
    "record_many",
    "send_finished",
    "send_started",
]

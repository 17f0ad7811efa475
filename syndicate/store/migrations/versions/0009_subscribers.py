"""Topics belong to a subscription (one set per list), not to the subscriber.

Each subscriber's topics are copied into every one of their subscriptions, so nothing stored
is lost; then ``subscribers.topics`` is dropped, so no code can read the old, list-blind
value by mistake. Downgrade puts back one set per subscriber (the union of their lists').

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _topics() -> sa.Column[str]:
    """The topics column: a JSON array of tags, [] meaning everything."""
    return sa.Column("topics", sa.Text, nullable=False, server_default="[]")


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch copy: SQLite would rebuild ``subscribers`` by dropping
    # it, and with foreign keys on that cascades into every subscription and delivery.
    op.add_column("subscriptions", _topics())
    op.execute(
        "UPDATE subscriptions SET topics = (SELECT s.topics FROM subscribers s"
        " WHERE s.id = subscriptions.subscriber_id)"
    )
    op.drop_column("subscribers", "topics")  # SQLite 3.35+ drops a column in place


def downgrade() -> None:
    op.add_column("subscribers", _topics())
    conn = op.get_bind()
    union: dict[int, dict[str, str]] = {}
    for sid, raw in conn.execute(sa.text("SELECT subscriber_id, topics FROM subscriptions")):
        for topic in json.loads(raw):
            union.setdefault(sid, {}).setdefault(topic.casefold(), topic)
    for sid, topics in union.items():
        conn.execute(
            sa.text("UPDATE subscribers SET topics = :t WHERE id = :sid"),
            {"t": json.dumps(sorted(topics.values()), ensure_ascii=False), "sid": sid},
        )
    op.drop_column("subscriptions", "topics")

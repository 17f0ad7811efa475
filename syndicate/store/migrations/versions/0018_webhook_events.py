"""Outgoing webhooks: the webhook_events outbox and the webhook_marks of things announced.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("order_key", sa.String(100), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease", sa.String(32)),
        sa.Column("first_attempt_at", UTCDateTime),
        sa.Column("last_attempt_at", UTCDateTime),
        sa.Column("last_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("message_id", "endpoint", name="uq_webhook_events_message"),
    )
    op.create_index("ix_webhook_events_due", "webhook_events", ["status", "next_attempt_at", "id"])
    op.create_index(
        "ix_webhook_events_order", "webhook_events", ["endpoint", "order_key", "status", "id"]
    )
    op.create_table(
        "webhook_marks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_marks")
    op.drop_index("ix_webhook_events_order", "webhook_events")
    op.drop_index("ix_webhook_events_due", "webhook_events")
    op.drop_table("webhook_events")

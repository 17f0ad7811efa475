"""Feedback events: bounces, complaints and provider events, recorded then judged.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False, unique=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("recipient", sa.Text),
        sa.Column("original_recipient", sa.Text),
        sa.Column("status", sa.String(16)),
        sa.Column("diagnostic", sa.Text, nullable=False),
        sa.Column("message_id", sa.Text),
        sa.Column(
            "subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id", ondelete="SET NULL")
        ),
        sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="SET NULL")),
        sa.Column("matched_by", sa.String(16), nullable=False),
        sa.Column("counts", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("processed_at", UTCDateTime),
        sa.Column("effect", sa.Text),
    )
    op.create_index("ix_feedback_subscriber", "feedback_events", ["subscriber_id", "received_at"])
    op.create_index("ix_feedback_received", "feedback_events", ["received_at"])
    op.create_index("ix_feedback_pending", "feedback_events", ["processed_at"])
    op.create_index("ix_feedback_send", "feedback_events", ["send_id", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_feedback_send", "feedback_events")
    op.drop_index("ix_feedback_pending", "feedback_events")
    op.drop_index("ix_feedback_received", "feedback_events")
    op.drop_index("ix_feedback_subscriber", "feedback_events")
    op.drop_table("feedback_events")

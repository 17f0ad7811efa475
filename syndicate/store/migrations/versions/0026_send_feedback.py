"""``send_feedback``: per send, its readers with trusted feedback (bounced, complained,
refused), backfilled from the feedback already stored, so the dashboard, the sends list and
the deliverability page read a row per send instead of every event of the newest sends; an
index for refusals in a window (one outcome by time).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# As store/rollups.py's feedback_counts: distinct matched readers per kind, trusted only.
_BACKFILL = """
INSERT INTO send_feedback (send_id, bounced, complained, refused)
SELECT send_id,
  COUNT(DISTINCT CASE WHEN outcome IN ('hard', 'soft') THEN subscriber_id END),
  COUNT(DISTINCT CASE WHEN outcome = 'complaint' THEN subscriber_id END),
  COUNT(DISTINCT CASE WHEN outcome = 'ours' THEN subscriber_id END)
FROM feedback_events
WHERE send_id IS NOT NULL AND subscriber_id IS NOT NULL AND counts = {true}
  AND outcome IN ('hard', 'soft', 'complaint', 'ours')
GROUP BY send_id
"""


def upgrade() -> None:
    op.create_table(
        "send_feedback",
        sa.Column(
            "send_id",
            sa.Integer,
            sa.ForeignKey("sends.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        *(
            sa.Column(name, sa.Integer, nullable=False, server_default="0")
            for name in ("bounced", "complained", "refused")
        ),
    )
    op.create_index(
        "ix_feedback_outcome_received",
        "feedback_events",
        ["outcome", "received_at", "counts", "subscriber_id", "send_id"],
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(_BACKFILL.format(true="true" if postgres else "1"))


def downgrade() -> None:
    op.drop_index("ix_feedback_outcome_received", table_name="feedback_events")
    op.drop_table("send_feedback")

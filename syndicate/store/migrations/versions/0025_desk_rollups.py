"""The admin pages' rollups: ``list_daily`` (status changes per list and UTC day) and
``send_totals`` (a finished send's ledger, counted once), backfilled from the consent trail
and the ledgers already stored; an index counting a send's readers with feedback.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_LIST_DAILY = """
INSERT INTO list_daily (list_name, day, subscribed, unsubscribed, bounced, complained, net)
SELECT list_name, {day},
  SUM(CASE WHEN status = 'active' AND COALESCE(previous, '') <> 'active' THEN 1 ELSE 0 END),
  SUM(CASE WHEN status = 'unsubscribed' AND COALESCE(previous, '') <> status THEN 1 ELSE 0 END),
  SUM(CASE WHEN status = 'bounced' AND COALESCE(previous, '') <> status THEN 1 ELSE 0 END),
  SUM(CASE WHEN status = 'complained' AND COALESCE(previous, '') <> status THEN 1 ELSE 0 END),
  SUM(CASE WHEN status = 'active' AND COALESCE(previous, '') <> 'active' THEN 1
           WHEN previous = 'active' AND status <> 'active' THEN -1 ELSE 0 END)
FROM subscription_events
GROUP BY list_name, {day}
"""

_SEND_TOTALS = """
INSERT INTO send_totals
  (send_id, recipients, sent, deferred, failed, skipped, abandoned, counted_at)
SELECT s.id, COUNT(d.send_id),
  SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END),
  SUM(CASE WHEN d.status = 'deferred' OR d.attempts > 1 THEN 1 ELSE 0 END),
  SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN d.status = 'skipped' THEN 1 ELSE 0 END),
  SUM(CASE WHEN d.status = 'abandoned' THEN 1 ELSE 0 END),
  COALESCE(s.finished_at, s.created_at)
FROM sends s JOIN deliveries d ON d.send_id = s.id
WHERE s.status IN ('done', 'abandoned')
GROUP BY s.id, s.finished_at, s.created_at
"""


def upgrade() -> None:
    count = sa.Column
    op.create_table(
        "list_daily",
        sa.Column("list_name", sa.String(63), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        *(
            count(name, sa.Integer, nullable=False, server_default="0")
            for name in ("subscribed", "unsubscribed", "bounced", "complained", "net")
        ),
    )
    op.create_table(
        "send_totals",
        sa.Column(
            "send_id",
            sa.Integer,
            sa.ForeignKey("sends.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        *(
            count(name, sa.Integer, nullable=False)
            for name in ("recipients", "sent", "deferred", "failed", "skipped", "abandoned")
        ),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_feedback_send_readers",
        "feedback_events",
        ["send_id", "outcome", "counts", "subscriber_id"],
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if postgres else "substr(at, 1, 10)"
    op.execute(_LIST_DAILY.format(day=day))
    op.execute(_SEND_TOTALS)


def downgrade() -> None:
    op.drop_index("ix_feedback_send_readers", table_name="feedback_events")
    op.drop_table("send_totals")
    op.drop_table("list_daily")

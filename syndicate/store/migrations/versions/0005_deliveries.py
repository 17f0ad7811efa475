"""Sends, the per-recipient delivery ledger, and per-list send locks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sends",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("list_name", sa.String(63), nullable=False),
        sa.Column("digest_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("ix_sends_list_status", "sends", ["list_name", "status"])
    op.create_table(
        "deliveries",
        sa.Column(
            "send_id", sa.Integer, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_code", sa.Integer),
        sa.Column("last_reply", sa.Text),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["send_id", "status", "next_attempt_at"])
    op.create_table(
        "send_locks",
        sa.Column("list_name", sa.String(63), primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("send_locks")
    op.drop_table("deliveries")
    op.drop_table("sends")

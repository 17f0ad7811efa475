"""Webhook replay guard: signed values seen, until their signature is stale anyway.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_replays",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_webhook_replays_expires", "webhook_replays", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_replays_expires", "webhook_replays")
    op.drop_table("webhook_replays")

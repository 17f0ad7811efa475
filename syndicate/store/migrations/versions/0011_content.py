"""WebSub pings waiting to reach the hub (content and feeds, issue 12).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTCDateTime = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "websub_pings",
        sa.Column("url", sa.Text, primary_key=True),
        sa.Column("hub", sa.Text, nullable=False),
        sa.Column("queued_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("websub_pings")

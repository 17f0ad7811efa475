"""Daily limit and warm-up: the send_quota table, and indexes that count sent and leased copies.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UTCDateTime = sa.DateTime(timezone=True)
SENT = sa.text("status = 'sent'")
LEASED = sa.text("lease_until IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "send_quota",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("started_at", UTCDateTime),
        sa.Column("touched_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_deliveries_sent", "deliveries", ["updated_at"], postgresql_where=SENT, sqlite_where=SENT
    )
    op.create_index(
        "ix_deliveries_leased",
        "deliveries",
        ["lease_until"],
        postgresql_where=LEASED,
        sqlite_where=LEASED,
    )
    op.create_index(
        "ix_outbox_sent", "outbox", ["updated_at"], postgresql_where=SENT, sqlite_where=SENT
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_sent", "outbox")
    op.drop_index("ix_deliveries_leased", "deliveries")
    op.drop_index("ix_deliveries_sent", "deliveries")
    op.drop_table("send_quota")

"""Welcome mails: the welcomes table (one per subscriber and list, ever), and outbox rows that
name the subscription they are for (checked at send time) and the process holding their lease.

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("lease_owner", sa.Text))
        batch.add_column(sa.Column("subscriber_id", sa.Integer))
        batch.add_column(sa.Column("list_name", sa.String(63)))
    op.create_table(
        "welcomes",
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("list_name", sa.String(63), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outbox_id", sa.Integer),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_welcomes_status", "welcomes", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_welcomes_status", table_name="welcomes")
    op.drop_table("welcomes")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("list_name")
        batch.drop_column("subscriber_id")
        batch.drop_column("lease_owner")

"""One-off scheduled sends and approvals: the queued_sends table.

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

WAITING = "status IN ('awaiting', 'approved')"


def upgrade() -> None:
    op.create_table(
        "queued_sends",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("list_name", sa.String(63), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("article_id", sa.String(64)),
        sa.Column("again", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.Text),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("digest_id", sa.String(100)),
        sa.Column("prepared", sa.Text),
        sa.Column("wait_until", sa.DateTime(timezone=True)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_queued_sends_due", "queued_sends", ["status", "due_at"])
    op.create_index("ix_queued_sends_list", "queued_sends", ["list_name", "status"])
    op.create_index(
        "uq_queued_sends_waiting",
        "queued_sends",
        ["list_name"],
        unique=True,
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_table("queued_sends")

"""Digests rendered for sending, with their issue numbers and articles.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("list_name", sa.String(63), nullable=False),
        sa.Column("issue", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("article_ids", sa.Text, nullable=False),
        sa.UniqueConstraint("list_name", "issue", name="uq_digests_list_issue"),
    )


def downgrade() -> None:
    op.drop_table("digests")

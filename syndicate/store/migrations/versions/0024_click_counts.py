"""Click counts: click_links (a send's content links and their counts) and
subscriber_clicks (who clicked, only with ``[analytics] per_subscriber``).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "click_links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "send_id",
            sa.Integer,
            sa.ForeignKey("sends.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("url_hash", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("clicks", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("send_id", "url_hash", name="uq_click_links_send_url"),
    )
    op.create_table(
        "subscriber_clicks",
        sa.Column(
            "link_id",
            sa.Integer,
            sa.ForeignKey("click_links.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("clicks", sa.Integer, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscriber_clicks")
    op.drop_table("click_links")

"""Articles seen, the content-folder cache and remote-source state.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTCDateTime = sa.DateTime(timezone=True)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("guid", sa.Text),
        sa.Column("link", sa.Text),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
    )
    op.create_index("ix_articles_source_key", "articles", ["source", "key"])
    op.create_index("ix_articles_first_seen", "articles", ["first_seen"])
    op.create_index("ix_articles_source_guid", "articles", ["source", "guid"])
    op.create_index("ix_articles_source_link", "articles", ["source", "link"])
    op.create_index("ix_articles_source_hash", "articles", ["source", "content_hash"])
    op.create_table(
        "content_files",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("parse_key", sa.String(64), nullable=False),
        sa.Column(
            "article_id",
            sa.String(64),
            sa.ForeignKey("articles.id", ondelete="SET NULL"),
        ),
        sa.Column("problem_line", sa.Integer),
        sa.Column("problem", sa.Text),
    )
    op.create_table(
        "remote_sources",
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("fetched_at", UTCDateTime),
        sa.Column("status", sa.Integer),
    )


def downgrade() -> None:
    op.drop_table("remote_sources")
    op.drop_table("content_files")
    op.drop_table("articles")

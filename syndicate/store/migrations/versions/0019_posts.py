"""Full-article mails (``mode = "post"``): what kind of mail a digest row is, its title, and
where a post list's next selection starts.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_COLUMNS = ("kind", "title", "since")


def _present() -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns("digests")}


def upgrade() -> None:
    present = _present()
    with op.batch_alter_table("digests") as batch:
        if "kind" not in present:
            batch.add_column(
                sa.Column("kind", sa.String(16), nullable=False, server_default="digest")
            )
        if "title" not in present:
            batch.add_column(sa.Column("title", sa.Text, nullable=True))
        if "since" not in present:
            batch.add_column(sa.Column("since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    present = _present()
    with op.batch_alter_table("digests") as batch:
        for name in _COLUMNS:
            if name in present:
                batch.drop_column(name)

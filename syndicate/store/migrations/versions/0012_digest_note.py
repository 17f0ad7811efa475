"""The editor's note of a digest (``send --note``), kept so a resumed send shows it too.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _has_note() -> bool:
    return "note" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("digests")}


def upgrade() -> None:
    if _has_note():  # a store whose recorded version was set back already has it
        return
    with op.batch_alter_table("digests") as batch:
        batch.add_column(sa.Column("note", sa.Text, nullable=True))


def downgrade() -> None:
    if not _has_note():
        return
    with op.batch_alter_table("digests") as batch:
        batch.drop_column("note")

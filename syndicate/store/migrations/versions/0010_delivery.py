"""Each send keeps its last error (a server that cannot be reached, refused TLS or login).

Sends may also be ``abandoned`` (``syndicate sends abandon``), and so may ledger rows: both
fit the existing status columns, so only the two error columns are new.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("last_error", sa.Text))
        batch.add_column(sa.Column("last_error_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")

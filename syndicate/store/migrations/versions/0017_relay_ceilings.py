"""Adaptive concurrency: the relay_ceilings table (connections each relay tolerated).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_ceilings",
        sa.Column("relay", sa.String(600), primary_key=True),
        sa.Column("ceiling", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("relay_ceilings")

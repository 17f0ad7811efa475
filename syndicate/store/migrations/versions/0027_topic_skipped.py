"""``sends.topic_skipped``: how many readers a digest send passed over because no new article
matched their topics (they get no ledger row, so only this count says so afterwards). NULL
for sends made before: not known, not zero.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sends", sa.Column("topic_skipped", sa.Integer, nullable=True))


def downgrade() -> None:
    # A plain ALTER TABLE (SQLite 3.35+), not a batch copy of the table: dropping ``sends``
    # to rebuild it would cascade to every send's ledger while foreign keys are on.
    op.drop_column("sends", "topic_skipped")

"""The HTTP API: its bearer tokens (hashed), and what subscriber search needs at a million
rows: a case-folded name, byte-ordered indexes for address and name prefixes, and an index
for keyset pages of one list and status.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_BATCH = 5000


def _backfill_names() -> None:
    """Case-fold the names already stored (Python's casefold: SQL lower() on SQLite only
    knows ASCII), in batches so a large store is not read at once."""
    conn = op.get_bind()
    subscribers = sa.table(
        "subscribers", sa.column("id", sa.Integer), sa.column("name"), sa.column("name_key")
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(subscribers.c.id, subscribers.c.name)
            .where(subscribers.c.id > last, subscribers.c.name.is_not(None))
            .order_by(subscribers.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        conn.execute(
            sa.update(subscribers)
            .where(subscribers.c.id == sa.bindparam("sid"))
            .values(name_key=sa.bindparam("key")),
            [{"sid": r[0], "key": r[1].casefold()} for r in rows],
        )
        last = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    # In place, as 0009 does (SQLite 3.35+): a batch rebuild of subscribers would drop the
    # old table, and its ON DELETE CASCADE would empty subscriptions.
    op.add_column("subscribers", sa.Column("name_key", sa.Text))
    _backfill_names()
    if op.get_bind().dialect.name == "postgresql":
        # A prefix is one index range only in byte order; the database's own collation
        # (en_US and the like) orders by other rules.
        op.execute('CREATE INDEX ix_subscribers_email_key_c ON subscribers (email_key COLLATE "C")')
        op.execute('CREATE INDEX ix_subscribers_name_key ON subscribers (name_key COLLATE "C")')
    else:  # SQLite compares bytes already (the unique index on email_key serves)
        op.create_index("ix_subscribers_name_key", "subscribers", ["name_key"])
    op.create_index(
        "ix_subscriptions_list_status_sub",
        "subscriptions",
        ["list_name", "status", "subscriber_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_list_status_sub", table_name="subscriptions")
    op.drop_index("ix_subscribers_name_key", table_name="subscribers")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_subscribers_email_key_c", table_name="subscribers")
    op.drop_column("subscribers", "name_key")  # in place: see upgrade()
    op.drop_table("api_tokens")

"""Admin accounts of the web desk and their server-side sessions."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from syndicate.store.tables.base import UTCDateTime, metadata

# One row per editor who may sign in at /admin/. ``password_hash`` is an Argon2id PHC string
# (argon2-cffi); ``totp_secret`` is the TOTP key sealed with AES-GCM under a key derived from
# SYNDICATE_SECRET (accounts/sealing.py), never the plain key; ``totp_last_step`` is the
# 30-second step of the last code accepted, so a code is never accepted twice.
admin_users = Table(
    "admin_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("last_sign_in_at", UTCDateTime),
    Column("totp_secret", Text),
    Column("totp_last_step", Integer),
)

# A signed-in browser. ``id_hash`` is the SHA-256 (hex) of the random session id in the
# cookie: a copy of the store cannot be replayed as a cookie.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "user_id",
        Integer,
        ForeignKey("admin_users.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("client", String(64)),  # the address it signed in from (shown to the editor)
    Index("ix_admin_sessions_user", "user_id"),
)

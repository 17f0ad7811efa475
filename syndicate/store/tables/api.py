"""Bearer tokens of the HTTP API (web/api/)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text

from syndicate.store.tables.base import UTCDateTime, metadata

# Only the SHA-256 of each token is kept (tokens are 256 random bits: a fast hash is right,
# a password hash would only slow every request); rows stay after revocation, for the list.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("digest", String(64), nullable=False, unique=True),  # hex SHA-256 of the token
    Column("scopes", Text, nullable=False),  # space-separated, sorted
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

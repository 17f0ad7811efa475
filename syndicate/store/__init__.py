"""The state store: SQLAlchemy tables, Alembic migrations and small repository functions."""

from syndicate.store.engine import open_store

__all__ = ["open_store"]

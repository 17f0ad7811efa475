"""SQL helpers shared by the repository modules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, Connection, Table, delete
from sqlalchemy.dialects import postgresql, sqlite

BATCH = 500


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keep: set[str]) -> None:
    """Insert rows, or update every column except the key and those in ``keep``."""
    if not rows:
        return
    stmt = _upsert(conn.dialect.name == "postgresql", table, frozenset(keep))
    for start in range(0, len(rows), BATCH):
        conn.execute(stmt, rows[start : start + BATCH])


@lru_cache(maxsize=64)
def _upsert(postgres: bool, table: Table, keep: frozenset[str]) -> Any:
    """The upsert statement, built once: callers that upsert a row at a time (the feedback
    intake, per bounce) spent more on building it than on running it."""
    stmt = (postgresql.insert if postgres else sqlite.insert)(table)
    pk = [c.name for c in table.primary_key]
    update = {
        c.name: stmt.excluded[c.name]
        for c in table.columns
        if c.name not in pk and c.name not in keep
    }
    return stmt.on_conflict_do_update(index_elements=pk, set_=update)


def delete_in(conn: Connection, table: Table, column: Column[Any], values: Iterable[Any]) -> None:
    """Delete the rows whose ``column`` is one of ``values``, in bounded batches."""
    items = list(values)
    for start in range(0, len(items), BATCH):
        conn.execute(delete(table).where(column.in_(items[start : start + BATCH])))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows whose key is not there yet; the others are left exactly as they are."""
    if not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for start in range(0, len(rows), BATCH):
        conn.execute(insert(table).on_conflict_do_nothing(), rows[start : start + BATCH])

"""Repository functions for what each relay tolerated: its connection ceiling.

A relay is named by host, port and username (``relay_key``): the same host reached with
another account may have another limit, as providers count connections per account.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store.tables import relay_ceilings

KEY_LIMIT = 600


def relay_key(host: str, port: int, username: str | None) -> str:
    """``host:port`` and the username (if any), as the table keys a relay."""
    key = f"{host.lower()}:{port}" + (f" {username}" if username else "")
    return key[:KEY_LIMIT]


def ceiling(conn: Connection, relay: str) -> int | None:
    """The connections ``relay`` tolerated on the last send that learned it, if any."""
    found: int | None = conn.scalar(
        select(relay_ceilings.c.ceiling).where(relay_ceilings.c.relay == relay)
    )
    return found


def remember(conn: Connection, relay: str, connections: int, *, now: datetime) -> None:
    """Keep ``connections`` as what ``relay`` tolerates (the latest send's word wins)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(relay_ceilings).values(relay=relay, ceiling=connections, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["relay"], set_={"ceiling": connections, "updated_at": now}
        )
    )

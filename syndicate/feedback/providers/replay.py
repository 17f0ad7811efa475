"""The replay guard ``syndicate run`` gives the signed providers: kept in the database.

Why a table, not only the intake's event ids: Mailgun's HMAC covers the timestamp and the
token, not the body. A captured signature (from a log, a proxy) is valid for any body
within the 5-minute freshness window, and a made-up body carries made-up event ids, so
the intake's idempotency would record it as new and act on it. The in-memory guard
(:class:`~syndicate.feedback.providers.base.ReplayGuard`) stops that only in the process
that saw the token, and forgets it on a restart; this one is shared by every process on
the database and survives restarts. (SendGrid signs the body: a replay carries the same
events under the same ids and changes nothing anyway; it uses this guard too so a
replay is answered 403 the same way everywhere.)

A value is claimed in its own short transaction before the events are taken: if taking
them then fails, the provider's retry is a new request (Mailgun retries after 5 minutes
and more, past the freshness window, so each retry is signed anew) and is not refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Engine

from syndicate.feedback.providers.base import MAX_SKEW
from syndicate.store import replays


class StoredReplayGuard:
    """Signed values seen within the freshness window, in ``webhook_replays``."""

    def __init__(self, engine: Engine, scope: str, window: int = MAX_SKEW) -> None:
        self.engine, self.scope, self.window = engine, scope, window

    def first_time(self, value: str, now: datetime) -> bool:
        """Record ``value``; False when it was already seen within the window."""
        data = f"{self.scope}\x00{value}".encode("utf-8", "surrogatepass")
        key = hashlib.sha256(data).hexdigest()
        # Both sides of the skew: a value signed up to ``window`` ahead stays fresh that long.
        expires = now + timedelta(seconds=2 * self.window)
        with self.engine.begin() as conn:
            return replays.claim(conn, key, expires_at=expires, now=now)

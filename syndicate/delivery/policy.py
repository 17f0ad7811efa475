"""How a send behaves: concurrency, leases and retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from syndicate.delivery.quota import Quota


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Retries and bounces, per RFC 5321: 4xx and lost connections are retried with backoff.

    ``connections`` is the total across ``processes``: the delivery work of a send may be
    spread over that many local processes (each with its share of the connections), which is
    what lets one machine use more than one core. ``lease``: how long a claimed ledger row is
    reserved for its claimer; a claimer that dies frees its rows when the lease runs out (or
    at once, when it was a process on this machine). ``quota``: ``[smtp] daily_limit`` and
    ``warmup``, checked by every claim (see ``delivery.quota``). ``max_connections``: the
    ceiling adaptive concurrency may grow ``connections`` to (``None``: a fixed pool);
    ``relay``: the key its learned ceiling is stored under (``store.relays.relay_key``).
    """

    connections: int = 4
    max_connections: int | None = None
    relay: str | None = None
    processes: int = 1
    batch: int = 500
    lease: timedelta = timedelta(minutes=5)
    retry_base: timedelta = timedelta(seconds=30)
    retry_max_delay: timedelta = timedelta(hours=1)
    retry_for: timedelta = timedelta(days=1)
    wait_for_retries: timedelta = timedelta(minutes=2)
    bounce_after: int = 2  # consecutive sends failing permanently make an address bounced
    quota: Quota | None = None

    def claim_size(self, connections: int) -> int:
        """Rows claimed at a time by a claimer with ``connections`` connections."""
        return max(1, min(self.batch, connections * 25))

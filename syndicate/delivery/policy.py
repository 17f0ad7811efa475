"""How a send behaves: concurrency, leases and retries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

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


# A wake that found the same retry still not due waits at least this long: the loop can
# never spin, whatever the clock or the store does with the time.
MIN_REWAIT = 0.5


def retry_wait(retry: datetime, now: datetime, *, again: bool) -> float:
    """Seconds to wait for a deferred copy due at ``retry``, by a clock that said ``now``.

    The CLI and service clocks drop the fraction of a second, while retry times keep it: the
    real time may be up to a second past ``now``, so ``retry - now`` would wake early, find
    nothing due, and wait a few milliseconds again until the clock's second ticked over.
    With such a clock the wait is rounded up to whole seconds (once it ends, the clock reads
    ``retry`` or later). ``again``: the last wake was for this same retry and found it not due.
    """
    wait = max(0.0, (retry - now).total_seconds())
    if now.microsecond == 0:  # a whole-second clock
        wait = float(math.ceil(wait))
    return max(wait, MIN_REWAIT) if again else wait

"""A per-client token bucket in memory: how often one address may post the subscribe form.

Clients are keyed by IP address; IPv6 addresses by their /64 network, since one host
usually holds a whole /64. Memory is bounded: past ``max_clients`` buckets, full ones
(clients that have been quiet long enough) are forgotten first, then the least recent.
Behind a reverse proxy the client address must come from it (``X-Forwarded-For`` from one of
``[web] trusted_proxies``, read by web/proxy.py), or every visitor shares the proxy's bucket.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable


def client_key(host: str) -> str:
    """The bucket of a client address: the address, or its /64 network for IPv6."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """At most ``capacity`` requests per client in any ``period`` seconds, refilled evenly."""

    def __init__(
        self,
        capacity: int = 5,
        period: float = 600.0,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity < 1 or period <= 0 or max_clients < 1:
            raise ValueError("capacity, period and max_clients must be positive")
        self.capacity, self.period, self.max_clients = capacity, period, max_clients
        self._rate = capacity / period  # tokens per second
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def acquire(self, client: str) -> float | None:
        """Take one token for ``client``: None if allowed, else seconds until one is free."""
        key = client_key(client)
        now = self._clock()
        tokens, updated = self._buckets.pop(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - updated) * self._rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            self._prune(now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self._rate

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= self.max_clients:
            return
        for key, (tokens, updated) in list(self._buckets.items()):
            if tokens + (now - updated) * self._rate >= self.capacity:
                del self._buckets[key]
        keep = self.max_clients * 9 // 10  # headroom: the next scan is far away
        while len(self._buckets) > keep:
            self._buckets.popitem(last=False)

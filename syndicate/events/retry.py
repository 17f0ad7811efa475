"""When a failed webhook attempt is tried again: exponential backoff with jitter.

Without jitter the waits are 30 s, 1, 2, 4, 8, 16 and 32 min, 1 h 4 min, 2 h 8 min, then
every 4 h; each is drawn from ±25 % of that, so endpoints that failed together do not come
back together. The last attempt is made ``retry_for`` after the first (3 days by default,
about 26 attempts); if that fails too, the event is given up (``failed``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

FIRST = timedelta(seconds=30)
CAP = timedelta(hours=4)
JITTER = 0.25


def backoff(attempts: int, *, draw: Callable[[], float] = random.random) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based)."""
    plain: timedelta = min(FIRST * 2 ** min(max(0, attempts - 1), 20), CAP)
    return plain * (1 - JITTER + 2 * JITTER * draw())


def retry_at(
    attempts: int,
    *,
    first_attempt: datetime,
    now: datetime,
    retry_for: timedelta,
    draw: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after ``attempts`` failures; None: give up (``retry_for`` since
    the first attempt has passed)."""
    last = first_attempt + retry_for
    if now >= last:
        return None
    return min(now + backoff(attempts, draw=draw), last)

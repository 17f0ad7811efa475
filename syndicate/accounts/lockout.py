"""Sign-in backoff: after a few failures, each further failure doubles the wait before the
next try is heard (bounded), per account name and per client address.

Kept in memory by the ``syndicate run`` process (a restart forgets it; bounded in size).
Names are counted whether or not an account of that name exists, so the answers give no
hint which names are real. Time is a parameter (seconds on any monotonic-enough scale).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """``free`` failures cost nothing; then the wait is ``base`` seconds, doubled by each
    further failure up to ``ceiling``; failures are forgotten after ``forget`` quiet seconds."""

    free: int = 5
    base: float = 2.0
    ceiling: float = 900.0
    forget: float = 6 * 3600.0

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row."""
        if failures < self.free:
            return 0.0
        return min(self.ceiling, self.base * 2.0 ** min(failures - self.free, 30))


ACCOUNT = Backoff()
ADDRESS = Backoff(free=20)  # several editors may share an office address


class Lockout:
    """Failure counts per key, with the wait each imposes."""

    def __init__(self, policy: Backoff, *, max_keys: int = 10_000) -> None:
        self.policy, self.max_keys = policy, max_keys
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again (0: now)."""
        found = self._failures.get(key)
        if found is None:
            return 0.0
        failures, last = found
        if now - last >= self.policy.forget:
            del self._failures[key]
            return 0.0
        return max(0.0, last + self.policy.delay(failures) - now)

    def failed(self, key: str, now: float) -> None:
        """One more failure of ``key``."""
        failures, last = self._failures.pop(key, (0, now))
        if now - last >= self.policy.forget:
            failures = 0
        self._failures[key] = (failures + 1, now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """``key`` signed in: its failures are forgotten."""
        self._failures.pop(key, None)

    def forgive(self, key: str) -> None:
        """Take back one failure of ``key`` (the attempt counted in advance succeeded)."""
        found = self._failures.get(key)
        if found is not None:
            if found[0] <= 1:
                del self._failures[key]
            else:
                self._failures[key] = (found[0] - 1, found[1])

    def failures(self, key: str) -> int:
        """How many failures ``key`` has on record."""
        return self._failures.get(key, (0, 0.0))[0]

"""At most one log line per key per interval, in bounded memory: the desk's refused
sign-ins and refused posts are logged for the operator (and fail2ban), but a guessing run
of thousands of attempts must neither flood the log nor grow a table without end."""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_KEYS = 4096


class Throttle:
    """``allow(key, now)`` is True for a key's first call, then again only once
    ``every`` seconds have passed since the last allowed one. The oldest keys are forgotten
    past ``max_keys`` (a forgotten key is simply allowed again: one more line)."""

    def __init__(self, every: float = 60.0, *, max_keys: int = MAX_KEYS) -> None:
        self.every, self.max_keys = every, max_keys
        self._last: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> bool:
        """Whether a line for ``key`` may be written at ``now`` (seconds)."""
        with self._lock:
            last = self._last.get(key)
            if last is not None and 0 <= now - last < self.every:
                return False
            self._last.pop(key, None)
            self._last[key] = now
            while len(self._last) > self.max_keys:
                self._last.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._last)

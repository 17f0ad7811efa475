"""``[smtp] warmup``: how many messages a new sending domain may send on each day.

Providers and mailbox hosts trust a new domain slowly, so its volume ramps up: either a
list of figures (``warmup = [200, 500, 1000]``: day 1, 2, 3; after the last day only
``daily_limit`` applies) or a start and a growth factor (``warmup = { start = 200, factor
= 1.5 }``: 200, 300, 450, ... until ``daily_limit`` is reached, or for ever without one).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_DAYS = 366  # a plan longer than a year is a typo
MAX_FIGURE = 10**9  # messages a day past which "unlimited" is meant


class Warmup(BaseModel):
    """A warm-up plan, validated: per-day figures, or a start and a factor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[int, ...] = ()
    start: int = 0
    factor: float = 0.0

    def figure(self, day: int) -> int | None:
        """Messages allowed on plan day ``day`` (1-based); None once the plan is over."""
        if day < 1:
            day = 1
        if self.days:
            return self.days[day - 1] if day <= len(self.days) else None
        grown = math.log(self.start) + (day - 1) * math.log(self.factor)
        if grown >= math.log(MAX_FIGURE):
            return None
        return math.floor(self.start * self.factor ** (day - 1))

    def length(self) -> int | None:
        """How many days the plan lasts (None: a factor, until ``daily_limit`` or never)."""
        return len(self.days) if self.days else None


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number of messages, got {value!r}")
    if value < 1:
        raise ValueError(f"{what} must be at least 1 message, got {value!r}")
    if value > MAX_FIGURE:
        raise ValueError(f"{what} must be at most {MAX_FIGURE:,}, got {value!r}")
    return value


def parse_warmup(value: Any) -> Any:
    """``warmup = [200, 500, ...]`` or ``{ start = 200, factor = 1.5 }`` into a Warmup."""
    if isinstance(value, Warmup):
        return value
    if isinstance(value, list):
        if not value:
            raise ValueError(
                "must list at least one day's figure, e.g. [200, 500, 1000]; "
                "remove warmup for no plan"
            )
        if len(value) > MAX_DAYS:
            raise ValueError(f"must list at most {MAX_DAYS} days, got {len(value)}")
        days = tuple(_whole(v, f"day {i + 1} (entry [{i}])") for i, v in enumerate(value))
        return Warmup(days=days)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"start", "factor"})
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}: use start and factor")
        if "start" not in value or "factor" not in value:
            raise ValueError("needs both start and factor, e.g. { start = 200, factor = 1.5 }")
        start = _whole(value["start"], "start")
        factor = value["factor"]
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise ValueError(f"factor must be a number, got {factor!r}")
        if not factor > 1 or not math.isfinite(factor):
            raise ValueError(f"factor must be greater than 1 (e.g. 1.5), got {factor!r}")
        if factor > 10:
            raise ValueError(f"factor must be at most 10, got {factor!r}")
        return Warmup(start=start, factor=float(factor))
    raise ValueError(
        f"must be a list of messages per day ([200, 500, 1000]) or "
        f"{{ start = 200, factor = 1.5 }}, got {value!r}"
    )

"""How the desk's pages show figures: rates as percentages, counts with separators, times
in UTC. Jinja filters, registered on the admin renderer's environment."""

from __future__ import annotations

from datetime import UTC, datetime

from jinja2 import Environment


def percent(value: float | None, digits: int = 1) -> str:
    """0.0123 → "1.2 %"; None (nothing to count yet) → "–"."""
    if value is None:
        return "–"
    shown = f"{value * 100:.{digits}f}"
    if value > 0 and float(shown) == 0:
        return f"< {10**-digits:g} %"
    return f"{shown} %"


def count(value: int | None) -> str:
    """12345 → "12,345"."""
    return "–" if value is None else f"{value:,}"


def when(moment: datetime | None) -> str:
    """A moment as the desk shows it: UTC, to the minute."""
    if moment is None:
        return "–"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def register(env: Environment) -> None:
    """Add the filters (``percent``, ``thousands``, ``when``) to a Jinja environment."""
    env.filters["percent"] = percent
    env.filters["thousands"] = count
    env.filters["when"] = when

"""How the desk's pages show figures: rates as percentages (one rule for every rate),
counts with separators, times to the minute with their zone's name: the list's zone where
a list is known (what the CLI and the run log show), else UTC; addresses as people read
them (Unicode domain, as the CLI prints them). Jinja filters, registered on the admin
renderer's environment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo

from jinja2 import Environment

from syndicate.config import Settings
from syndicate.service.scheduler import list_timezone
from syndicate.subscribers.address import display_address
from syndicate.text import plural


def percent(value: float | None, digits: int | None = None) -> str:
    """A rate as the desk shows it, one rule for all of them (the CLI's rule for click
    rates, service.clickrate.rate_text): two decimals under 1 %, where bounce and complaint
    rates live and one decimal would not tell 0.05 % from 0.14 % (0.0035 → "0.35 %", 0 →
    "0.00 %", a rate too small for two decimals "< 0.01 %"), one from 1 % up (0.2 → "20.0 %");
    None (nothing to count yet) → "–". ``digits`` fixes the decimals instead (progress:
    ``percent(0)``)."""
    if value is None:
        return "–"
    if digits is None:
        digits = 2 if round(value * 100, 2) < 1 else 1  # 0.999 % rounds to "1.0 %", not "1.00 %"
    shown = f"{value * 100:.{digits}f}"
    if value > 0 and float(shown) == 0:
        return f"< {10**-digits:g} %"
    return f"{shown} %"


def count(value: int | None) -> str:
    """12345 → "12,345"."""
    return "–" if value is None else f"{value:,}"


def when(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """A moment as the desk shows it: to the minute, with the zone's name (UTC unless a
    zone is given)."""
    if moment is None:
        return "–"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def zones(settings: Settings) -> Callable[[str | None], tzinfo]:
    """A list's time zone by name (its own, else the publication's); UTC for no list or
    one no longer declared."""

    def zone(list_name: str | None) -> tzinfo:
        if list_name is None or list_name not in settings.config.lists:
            return UTC
        return list_timezone(settings, list_name)

    return zone


def register(env: Environment, settings: Settings | None = None) -> None:
    """Add the filters (``percent``, ``thousands``, ``when``, ``plural``, ``click_rate``,
    ``address``) to a Jinja environment; with ``settings``, ``when(list_name)`` shows a time
    in that list's zone."""
    zone = zones(settings) if settings is not None else (lambda _name: UTC)
    env.filters["percent"] = percent
    env.filters["thousands"] = count
    env.filters["when"] = lambda moment, list_name=None: when(moment, zone(list_name))
    env.filters["plural"] = plural
    env.filters["click_rate"] = percent  # readers who clicked: a rate like the others
    env.filters["address"] = display_address  # stored ASCII domain → Unicode, as the CLI

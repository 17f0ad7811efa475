"""How many messages the provider still allows: ``[smtp] daily_limit`` and ``warmup``.

Providers such as SES count messages over a rolling 24 hours for the whole account, so the
count is the store's, not a process's: copies whose server answered "sent" in the last 24
hours (``deliveries``), plus mails the outbox sent (confirmations, welcomes: the provider
counts those too, though they are never held back: someone is waiting for them, and they
are few), plus copies leased right now (on the wire, or about to be). A courier computes
the allowance inside its claim transaction after taking its turn on the domain's quota row
(a row lock on PostgreSQL, the write lock on SQLite), and claims no more rows than are
left: any number of couriers, processes and workers together stay within the figure.

A copy whose answer was lost in a crash (the process died between the server's "250" and
the commit) is sent again on resume and counted once here but twice by the provider: the
only overshoot, at most one message per connection that was on the wire at the crash.

Warm-up: day 1 is when the first copy was claimed under a plan, stored per sending domain
(``send_quota``), so a restart, another machine on the same store or a later process
continues the plan; a new From domain starts a plan of its own. Day N runs from
``started + (N-1) x 24 h``. The figure is ``min(daily_limit, plan's figure for the day)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from syndicate.config.warmup import Warmup
from syndicate.store import quota as quota_repo

DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """What ``[smtp]`` allows: per rolling 24 h, and the warm-up plan of the From domain."""

    domain: str
    daily_limit: int | None = None
    warmup: Warmup | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Allowance:
    """Where the day's allowance stands at one moment."""

    figure: int | None  # messages per 24 h allowed now; None: no limit today
    used: int  # sent in the last 24 h + in flight
    day: int | None = None  # warm-up day (1-based), when a plan is set
    days: int | None = None  # how long the plan lasts (None: a factor)
    resumes_at: datetime | None = None  # when a used-up allowance grows again

    @property
    def left(self) -> int | None:
        """Messages that may still be claimed now; None: unlimited."""
        return None if self.figure is None else max(0, self.figure - self.used)

    @property
    def used_up(self) -> bool:
        """Whether nothing more may be claimed now."""
        return self.left == 0

    def words(self) -> str:
        """``daily limit of 1,000 reached (warm-up day 2 of 5)``."""
        text = f"daily limit of {self.figure or 0:,} reached"
        if self.day is not None and (self.days is None or self.day <= self.days):
            plan = f" of {self.days}" if self.days is not None else ""
            text += f" (warm-up day {self.day}{plan})"
        return text

    def sentence(self) -> str:
        """``daily limit of 1,000 reached (warm-up day 2 of 5); continues at 2026-12-02
        09:14 UTC``."""
        when = "soon"
        if self.resumes_at is not None:
            when = f"{self.resumes_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        return f"{self.words()}; continues at {when}"

    def doc(self) -> dict[str, Any]:
        """For ``--json``."""
        return {
            "reason": "daily_limit",
            "limit": self.figure,
            "used": self.used,
            "warmup_day": self.day,
            "warmup_days": self.days,
            "continues_at": self.resumes_at.isoformat() if self.resumes_at else None,
        }


def warmup_day(started: datetime | None, now: datetime) -> int:
    """Which plan day ``now`` falls on (day 1 before anything was sent)."""
    if started is None or now <= started:
        return 1
    return int((now - started) / DAY) + 1


def _figure(quota: Quota, day: int) -> int | None:
    figures = [quota.daily_limit]
    if quota.warmup is not None:
        figures.append(quota.warmup.figure(day))
    known = [f for f in figures if f is not None]
    return min(known) if known else None


def allowance(
    conn: Connection, quota: Quota, *, now: datetime, take_turn: bool = False
) -> Allowance:
    """The allowance now. ``take_turn``: lock the quota row first (inside a claim's
    transaction, so the claim is counted before the next claimer counts)."""
    if take_turn:
        started = quota_repo.take_turn(conn, quota.domain, now=now)
    else:
        started = quota_repo.warmup_started(conn, quota.domain)
    day = warmup_day(started, now) if quota.warmup is not None else None
    figure = _figure(quota, day or 1)
    if figure is None:
        return Allowance(figure=None, used=0, day=day, days=_days(quota))
    used = quota_repo.usage(conn, now=now, up_to=figure)
    found = Allowance(figure=figure, used=used.sent + used.in_flight, day=day, days=_days(quota))
    if not found.used_up:
        return found
    moments = []
    if used.sent >= figure and used.oldest is not None:
        moments.append(used.oldest + quota_repo.WINDOW)  # the first message leaves the window
    elif used.sent < figure:
        moments.append(now)  # held by copies in flight: free again as soon as they are answered
    if day is not None and started is not None:
        later = _figure(quota, day + 1)
        if later is None or later > figure:
            moments.append(started + day * DAY)  # the next plan day allows more
    return Allowance(
        figure=figure,
        used=found.used,
        day=day,
        days=found.days,
        resumes_at=min(moments) if moments else now + DAY,
    )


def _days(quota: Quota) -> int | None:
    return quota.warmup.length() if quota.warmup is not None else None


def mark_started(conn: Connection, quota: Quota, *, now: datetime) -> None:
    """The plan's day 1 is now, if it had not begun (called once copies were claimed)."""
    if quota.warmup is not None:
        quota_repo.start_warmup(conn, quota.domain, now=now)

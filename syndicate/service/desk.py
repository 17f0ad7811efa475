"""The admin dashboard's figures, shaped from the store's rollups: per list an active-readers
series and weekly changes, the last sends with their rates, the sends in progress.

Pure shaping over :mod:`syndicate.store.desk`; the pages only render what this returns.
Click counts come from :mod:`syndicate.store.clicks`: a send has a click figure when its mail
carried counted links (its list had ``count_clicks = true`` then; off by default), whatever
the list's setting is now, so a send that never counted shows none rather than 0 %.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from syndicate.service.clickrate import ClickFigure, figures
from syndicate.store import desk
from syndicate.store.desk import Day, SendSummary

SERIES_DAYS = 90  # the active-readers chart: the last 90 days
WEEKS = 12  # the weekly changes chart: the last 12 weeks
SENDS_SHOWN = 10
LIVE_SECONDS = 5.0  # a running send's progress is recounted at most this often


@dataclass(frozen=True, slots=True, kw_only=True)
class Week:
    """One list's changes in one week (Monday to Sunday, UTC)."""

    start: str  # YYYY-MM-DD, a Monday
    subscribed: int
    unsubscribed: int
    bounced: int
    complained: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ListView:
    """One list on the dashboard."""

    name: str
    title: str
    active: int
    series: list[tuple[str, int]]  # (day, active readers at its end), a point per day
    weeks: list[Week]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendView:
    """One send with its rates (fractions of 1; None where nothing can be counted yet)."""

    send: SendSummary
    delivered: float | None
    deferred: float | None
    failed: float | None
    bounced: float | None
    complained: float | None
    clicks: int | None  # total clicks, None when click counting is not there
    click: ClickFigure | None  # the clicks as told (service.clickrate), None likewise
    progress: float | None  # a running send: share of copies with a final answer


@dataclass(frozen=True, slots=True, kw_only=True)
class Dashboard:
    """Everything the dashboard shows."""

    lists: list[ListView]
    sends: list[SendView]
    running: list[SendView]


def send_views(
    conn: Connection, found: Sequence[SendSummary], *, per_subscriber: bool = False
) -> list[SendView]:
    """:func:`send_view` of each send, with its clicks (two queries for them all;
    ``per_subscriber``: ``[analytics] per_subscriber`` is on)."""
    clicks = figures(conn, [(s.id, s.totals.sent) for s in found], per_subscriber=per_subscriber)
    return [send_view(s, clicks.get(s.id)) for s in found]


class LiveCounts:
    """A running send's ledger counted at most every ``seconds`` per process: counting it is
    one range of an index, but a send to half a million readers is half a million entries,
    and the dashboard refreshes itself while a send runs (progress is for the eye)."""

    def __init__(self, seconds: float = LIVE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int], tuple[float, desk.Totals]] = {}

    def __call__(self, conn: Connection, send_id: int) -> desk.Totals:
        key = (str(conn.engine.url), send_id)
        moment = time.monotonic()
        with self._lock:
            found = self._seen.get(key)
        if found is not None and moment - found[0] < self.seconds:
            return found[1]
        totals = desk.live_totals(conn, send_id)
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if moment - v[0] < self.seconds}
            self._seen[key] = (moment, totals)
        return totals


LIVE = LiveCounts()


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


def send_view(send: SendSummary, clicks: ClickFigure | None = None) -> SendView:
    """A send's rates: delivery outcomes over the copies tried (skipped ones left out),
    bounces and complaints over the copies delivered; ``clicks`` (None: the send counted
    none) as :mod:`syndicate.service.clickrate` tells them (a count is not a rate)."""
    t, f = send.totals, send.feedback
    tried = t.recipients - t.skipped
    return SendView(
        send=send,
        delivered=_share(t.sent, tried),
        deferred=_share(t.deferred, tried),
        failed=_share(t.failed, tried),
        bounced=_share(f.bounced, t.sent),
        complained=_share(f.complained, t.sent),
        clicks=clicks.clicks if clicks is not None else None,
        click=clicks,
        progress=_share(t.settled, t.recipients) if send.running else None,
    )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def series(
    days: Sequence[Day], *, today: date, length: int = SERIES_DAYS, base: int | None = None
) -> list[tuple[str, int]]:
    """Active readers at the end of each of the last ``length`` days (gaps carried over);
    ``base``: the number before the first of ``days`` (default: worked out from it)."""
    start = today - timedelta(days=length - 1)
    active = base if base is not None else (days[0].active - days[0].net if days else 0)
    found: list[tuple[str, int]] = []
    by_day = iter(days)
    nxt = next(by_day, None)
    for n in range(length):
        day = start + timedelta(days=n)
        key = day.isoformat()
        while nxt is not None and nxt.day <= key:
            active = nxt.active
            nxt = next(by_day, None)
        found.append((key, active))
    return found


def weeks(days: Sequence[Day], *, today: date, count: int = WEEKS) -> list[Week]:
    """Subscribes, unsubscribes, bounces and complaints per week, the last ``count`` weeks."""
    first = _monday(today) - timedelta(weeks=count - 1)
    sums: dict[str, list[int]] = {
        (first + timedelta(weeks=n)).isoformat(): [0, 0, 0, 0] for n in range(count)
    }
    for d in days:
        key = _monday(date.fromisoformat(d.day)).isoformat()
        if key in sums:
            row = sums[key]
            row[0] += d.subscribed
            row[1] += d.unsubscribed
            row[2] += d.bounced
            row[3] += d.complained
    return [
        Week(start=k, subscribed=v[0], unsubscribed=v[1], bounced=v[2], complained=v[3])
        for k, v in sums.items()
    ]


def list_view(
    conn: Connection, name: str, title: str, *, now: datetime, days: Sequence[Day] | None = None
) -> ListView:
    """One list's figures (``days``: its days of the window, when read already)."""
    today = now.astimezone(UTC).date()
    if days is None:
        days = desk.days(conn, name, since=window_start(today).isoformat())
    total = 0 if days else desk.days_active(conn, name)
    return ListView(
        name=name,
        title=title,
        active=days[-1].active if days else total,
        series=series(days, today=today, base=None if days else total),
        weeks=weeks(days, today=today),
    )


def window_start(today: date) -> date:
    """The first day the dashboard's two charts need."""
    return min(today - timedelta(days=SERIES_DAYS - 1), _monday(today) - timedelta(weeks=WEEKS))


def dashboard(
    conn: Connection,
    titles: dict[str, str],
    *,
    now: datetime,
    sends: int = SENDS_SHOWN,
    live: desk.LiveCount = LIVE,
    per_subscriber: bool = False,
) -> Dashboard:
    """The dashboard: every declared list (``titles``: name → title) and every list the
    store knows, the last ``sends`` sends, and the sends in progress."""
    today = now.astimezone(UTC).date()
    by_list = desk.days_of_lists(conn, since=window_start(today).isoformat())
    names = sorted(set(titles) | set(desk.list_names(conn)))
    recent = send_views(
        conn, desk.last_sends(conn, limit=sends, live=live), per_subscriber=per_subscriber
    )
    shown = {v.send.id: v for v in recent}
    running: list[SendView] = []
    for send_id in desk.running_ids(conn):
        found = shown.get(send_id)
        if found is None and (summary := desk.send_summary(conn, send_id, live=live)) is not None:
            found = send_views(conn, [summary], per_subscriber=per_subscriber)[0]
        if found is not None:
            running.append(found)
    return Dashboard(
        lists=[list_view(conn, n, titles.get(n, n), now=now, days=by_list.get(n)) for n in names],
        sends=recent,
        running=running,
    )

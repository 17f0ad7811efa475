"""WebSub: tell the hub (``[feeds] hub``) which feeds changed, so subscribers get them now.

After a build that changed a subscription feed (the main feeds and the tag feeds; archive
pages never change once full), one ``hub.mode=publish`` POST per changed feed URL goes to
the hub. Pings are queued in the store first: one the hub did not accept (network error,
5xx, 429) is retried with backoff by the next build or by ``syndicate run``'s poll, and
given up after a day. A failed ping is a warning, never a failed build. Each request is
bounded (10 s a network step, 20 s in all, a 2 KB reply read at most: a hub that drips
its headers or its answer is cut off), and the first network failure ends the round: the hub is
down, the rest would only wait for it too. The hub's reply is shown as one plain line
(control and bidi characters removed): it is someone else's text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine

from syndicate import __version__
from syndicate.config import Settings
from syndicate.feeds.pages import ARCHIVE, FORMATS
from syndicate.store import pings as repo
from syndicate.text import one_line

if TYPE_CHECKING:  # loaded only for sites with a hub
    import httpx

TIMEOUT = 10.0
MAX_REPLY = 2048
PER_ROUND = 200  # pings sent in one round at most; the rest wait for the next
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)
GIVE_UP = timedelta(days=1)
USER_AGENT = f"syndicate/{__version__} (+https://github.com/syndicate)"


@dataclass(slots=True)
class PingReport:
    """What one round of pings did: feed URLs the hub accepted, and failures (as text)."""

    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    pending: int = 0


def shown_hub(hub: str) -> str:
    """The hub's URL as messages and logs show it: without user, password or query (where
    hubs that want a key take it)."""
    parts = urlsplit(hub)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def changed_feeds(settings: Settings, written: Iterable[str]) -> list[str]:
    """The public URLs of the subscription feeds among files a build wrote."""
    urls = []
    for rel in written:
        folder, _, name = rel.rpartition("/")
        if name in FORMATS and not (folder == ARCHIVE or folder.startswith(f"{ARCHIVE}/")):
            urls.append(f"{settings.feeds_url}/{rel}")
    return sorted(urls)


def queue_pings(
    settings: Settings, engine: Engine, written: Iterable[str], *, now: datetime
) -> int:
    """Queue a ping for each changed subscription feed (none without a hub); how many."""
    hub = settings.config.feeds.hub
    urls = changed_feeds(settings, written) if hub else []
    if hub and urls:
        with engine.begin() as conn:
            repo.queue(conn, hub, urls, now=now)
    return len(urls)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, doubling, at most an hour."""
    wait: timedelta = FIRST_RETRY * 2 ** min(attempts, 20)
    return min(wait, LAST_RETRY)


def send_pings(settings: Settings, engine: Engine, *, now: datetime) -> PingReport:
    """Send the pings that are due; never raises for the hub's sake. The caller shows the
    failures (``report.failed``) as warnings."""
    report = PingReport()
    hub = settings.config.feeds.hub
    with engine.connect() as conn:
        due = repo.due(conn, now=now, limit=PER_ROUND)
    if not due:
        return report
    dropped = []
    shown = shown_hub(hub) if hub else ""
    for ping in due:
        if hub is None or ping.hub != hub:  # the hub was changed or removed since
            dropped.append(ping.url)
        elif now - ping.queued_at > GIVE_UP:
            report.failed.append(
                f"WebSub hub {shown} never took {ping.url} in a day; gave up ({ping.last_error})"
            )
            dropped.append(ping.url)
    if dropped:
        with engine.begin() as conn:
            repo.done(conn, dropped)
    due = [p for p in due if p.url not in dropped]
    if not due or hub is None:
        return report
    for ping in due:
        error, retry = asyncio.run(_post(hub, ping.url))
        with engine.begin() as conn:
            if error is None:
                repo.done(conn, [ping.url])
                report.sent.append(ping.url)
            elif retry:
                repo.retry(conn, ping, at=now + backoff(ping.attempts), error=error)
            else:
                repo.done(conn, [ping.url])  # the hub refused it: asking again won't help
        if error is not None:
            later = " (will retry)" if retry else ""
            report.failed.append(f"WebSub hub {shown} did not take {ping.url}: {error}{later}")
            if retry and error.startswith("cannot reach"):
                break  # the hub is down: the others would only wait for it too
    with engine.connect() as conn:
        report.pending = len(repo.pending(conn))
    return report


async def _post(hub: str, url: str) -> tuple[str | None, bool]:
    """One publish ping: (None, _) when accepted, else (why, whether to retry).

    Each network step is bounded by TIMEOUT and the whole exchange by twice that: a hub
    that drips its headers or its reply a byte at a time cannot hold the build (or run's
    poll) for hours. Async only for that overall deadline (``asyncio.timeout``).
    """
    import httpx

    headers = {"User-Agent": USER_AGENT}
    response: httpx.Response | None = None
    reply = b""
    try:
        async with (
            asyncio.timeout(2 * TIMEOUT),
            httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, headers=headers) as http,
            http.stream("POST", hub, data={"hub.mode": "publish", "hub.url": url}) as response,
        ):
            async for chunk in response.aiter_bytes():
                reply += chunk
                if len(reply) >= MAX_REPLY:
                    break
    except TimeoutError:
        return f"cannot reach the hub: no whole answer within {2 * TIMEOUT:g} s", True
    except httpx.HTTPError as exc:
        why = str(exc).replace(hub, shown_hub(hub))  # some errors name the URL
        return one_line(f"cannot reach the hub ({type(exc).__name__}: {why})", 300), True
    assert response is not None
    if 200 <= response.status_code < 300:
        return None, False
    text = one_line(reply[:MAX_REPLY].decode("utf-8", "replace"), 200)
    why = f"HTTP {response.status_code}" + (f": {text}" if text else "")
    # 5xx, 408 and 429 pass; any other answer is the hub's final word on this URL.
    return why, response.status_code >= 500 or response.status_code in (408, 429)

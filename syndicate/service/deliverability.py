"""The deliverability page's figures: bounce and complaint rates per send over time, the
lists' weekly removals for bounces and complaints, refusals for the sender's reputation or
policy (feedback ``ours``, as feedback/classify.py judges them), and the alerts ``syndicate
status`` shows (the same counts, the same window)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from syndicate.service import desk
from syndicate.store import desk as desk_store
from syndicate.store import feedback_views
from syndicate.store import outbox as outbox_repo
from syndicate.text import plural

ALERT_WINDOW = timedelta(days=7)  # as `syndicate status` (cli/feedback_view.py)
REFUSALS_WINDOW = timedelta(days=90)
SENDS = 50  # sends on the rates chart


@dataclass(frozen=True, slots=True, kw_only=True)
class Deliverability:
    """Everything the deliverability page shows."""

    sends: list[desk.SendView]  # oldest first
    weeks: list[desk.Week]  # all lists together
    refusals: list[tuple[str, str, int]]  # (week, the server's words, copies)
    alerts: list[str]


def alerts(conn: Connection, *, now: datetime) -> list[str]:
    """The alerts of ``syndicate status`` (the same counts, the same window), worded for the
    desk: sentences that point at the page's tables below."""
    found = feedback_views.refusals(conn, since=now - ALERT_WINDOW)
    days = ALERT_WINDOW.days
    lines = []
    if found.copies:
        lines.append(
            f"Deliverability alert: {plural(found.copies, 'copy', 'copies')} refused for the "
            f"sender's reputation or policy in the last {days} days. The refusals table "
            "below shows what the servers said (the command syndicate bounces list has each one)."
        )
    if found.unmatched:
        lines.append(
            f"{plural(found.unmatched, 'report')} of refusals for the sender in the last "
            f"{days} days matched no copy of ours (anyone can mail the bounce address; "
            "the command syndicate bounces list shows them)."
        )
    failed = outbox_repo.failures_since(conn, now - ALERT_WINDOW)
    if failed.count:
        mails = plural(failed.count, "confirmation, welcome or preview mail")
        lines.append(
            f"{mails} could not be delivered in the last {days} days (given up after "
            f"retrying; the last server reply: {failed.last_reply or 'none'})."
        )
    return lines


def deliverability(
    conn: Connection, lists: list[str], *, now: datetime, per_subscriber: bool = False
) -> Deliverability:
    """The page's figures."""
    recent = desk_store.last_sends(conn, limit=SENDS, live=desk.LIVE)
    finished = [s for s in reversed(recent) if not s.running]
    views = desk.send_views(conn, finished, per_subscriber=per_subscriber)
    today = now.date()
    names = sorted(set(lists) | set(desk_store.list_names(conn)))
    since = (today - timedelta(weeks=27)).isoformat()
    by_list = desk_store.days_of_lists(conn, since=since)  # one query for every list
    per_list = [desk.weeks(by_list.get(n, []), today=today, count=26) for n in names]
    weeks = [
        desk.Week(
            start=group[0].start,
            subscribed=sum(w.subscribed for w in group),
            unsubscribed=sum(w.unsubscribed for w in group),
            bounced=sum(w.bounced for w in group),
            complained=sum(w.complained for w in group),
        )
        for group in zip(*per_list, strict=True)
    ]
    return Deliverability(
        sends=views,
        weeks=weeks,
        refusals=desk_store.refused_since(conn, since=now - REFUSALS_WINDOW),
        alerts=alerts(conn, now=now),
    )

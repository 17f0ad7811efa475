"""Where each send stands, as ``status``, ``sends`` and ``report`` show it (in words and as
JSON), and the lookups they share.

A send is named by its digest id (``weekly-3``), the name every other command shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from syndicate.cli.base import Context
from syndicate.cli.base import now as wall_clock
from syndicate.cli.feedback_view import (
    feedback_doc,
    feedback_lines,
)
from syndicate.delivery.quota import Allowance, allowance
from syndicate.delivery.setup import make_quota
from syndicate.errors import SyndicateError
from syndicate.service import sendstate
from syndicate.service.sendstate import state_of as state_of
from syndicate.store import deliveries as ledger
from syndicate.store import digests as digest_repo
from syndicate.store import open_store
from syndicate.store import sends as send_repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendRow, SendStatus
from syndicate.text import one_line


def iso_time(moment: datetime | None) -> str | None:
    """A time for ``--json``: ISO 8601 with its offset, or None."""
    return moment.isoformat() if moment else None


def shown_time(moment: datetime | str | None) -> str:
    """A time as the text output writes it for people: ``2026-12-01 08:58:18 UTC`` (no
    microseconds, no ISO ``T``; ``--json`` keeps ISO 8601)."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def is_busy(conn: Connection, sent: SendRow) -> bool:
    """Whether some process leased rows of the send or holds its list's lock."""
    return sendstate.is_busy(conn, sent, now=wall_clock())


def send_doc(
    conn: Connection, sent: SendRow, *, allowance: Allowance | None = None
) -> dict[str, Any]:
    """One send as ``status``, ``sends`` and their ``--json`` show it. ``allowance``: the
    day's, when it is used up (a send with copies due then says it is paused)."""
    counts = ledger.counts(conn, sent.id)
    retry = ledger.next_retry(conn, sent.id)
    open_ = sent.status in (SendStatus.PREPARING, SendStatus.SENDING)
    waiting = open_ and allowance is not None and allowance.used_up
    if waiting:
        waiting = bool(ledger.due_count(conn, sent.id, now=wall_clock(), limit=1))
    kind, title = digest_repo.digest_kind(conn, sent.digest_id)
    return {
        "digest": sent.digest_id,
        "list": sent.list_name,
        "kind": kind,
        "title": title,
        "status": "paused" if waiting else state_of(sent, counts, busy=is_busy(conn, sent)),
        "started": iso_time(sent.created_at),
        "finished": iso_time(sent.finished_at),
        "counts": {k.value: v for k, v in sorted(counts.items())},
        "next_retry": iso_time(retry),
        "last_error": sent.last_error,
        "last_error_at": iso_time(sent.last_error_at),
        "feedback": feedback_doc(conn, sent.id, counts.get(DeliveryStatus.SENT, 0)),
        "paused": allowance.doc() if waiting and allowance is not None else None,
    }


def open_for(ctx: Context, list_name: str | None) -> Engine:
    """The store, once ``list_name`` (if given) is checked to be a configured list."""
    settings = ctx.settings
    if list_name is not None:
        settings.mailing_list(list_name)
    return open_store(settings.database_url)


def paused_words(paused: dict[str, Any]) -> str:
    """``daily limit 1,000 reached (warm-up day 2 of 5); continues at 2026-12-02 09:14 UTC``."""
    text = f"daily limit {paused['limit']:,} reached"
    day, days = paused["warmup_day"], paused["warmup_days"]
    if day is not None and (days is None or day <= days):
        text += f" (warm-up day {day}" + (f" of {days})" if days is not None else ")")
    when = paused["continues_at"]
    moment = (
        f"{datetime.fromisoformat(when).astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else "soon"
    )
    return f"{text}; continues at {moment}"


def used_allowance(ctx: Context, conn: Connection) -> Allowance | None:
    """The day's allowance when ``[smtp] daily_limit`` / ``warmup`` is set and used up."""
    quota = make_quota(ctx.settings)
    if quota is None:
        return None
    found = allowance(conn, quota, now=wall_clock())
    return found if found.used_up else None


def named(digest_id: str, title: str | None) -> str:
    """``weekly-3``, or for a post ``weekly-3 'Its article's title'`` (one bounded line)."""
    return digest_id if title is None else f"{digest_id} {one_line(title, 120)!r}"


def send_lines(doc: dict[str, Any]) -> list[str]:
    """One send (its :func:`send_doc`) in words: a line, then its pause, error, feedback."""
    counts = ", ".join(f"{n:,} {k}" for k, n in doc["counts"].items()) or "no recipients"
    later = f"; next retry {shown_time(doc['next_retry'])}" if doc["next_retry"] else ""
    started = shown_time(doc["started"])
    name = named(doc["digest"], doc.get("title"))
    lines = [f"{name} ({doc['status']}, started {started}): {counts}{later}"]
    if doc.get("paused"):
        lines.append(f"  paused: {paused_words(doc['paused'])}")
    if doc["last_error"] and doc["status"] not in ("done", "abandoned"):
        lines.append(f"  last error ({shown_time(doc['last_error_at'])}): {doc['last_error']}")
    return lines + feedback_lines(doc["feedback"])


def find_named(conn: Connection, name: str) -> SendRow:
    """The send people name by its digest id, or an error saying how to name one."""
    found = send_repo.find_send(conn, name)
    if found is None:
        raise SyndicateError(
            f"no send of {name!r}; name a send by its digest id (`syndicate sends` lists them)"
        )
    return found

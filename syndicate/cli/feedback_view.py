"""The feedback of sends as ``status`` and ``report`` show it: counts, rates, warnings, who.

Counts are distinct readers whose feedback may act (see :mod:`syndicate.store.feedback_views`):
a reader with a soft and then a hard bounce is one bounced reader, shown as hard, and the
rate is bounced readers over copies sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from syndicate.store import feedback_views as views
from syndicate.subscribers.address import display_address
from syndicate.text import one_line, plural

# Past these a send hurts the sender's reputation (Gmail and Yahoo's bulk sender rules ask
# for complaints under 0.3 %; 2 % bounces is where lists are judged unkept).
BOUNCE_WARNING = 0.02
COMPLAINT_WARNING = 0.001
ALERT_WINDOW = timedelta(days=7)  # refusals of ours counted for the deliverability alert


def _time(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def feedback_doc(conn: Connection, send_id: int, sent: int) -> dict[str, Any]:
    """What came back about one send: bounced and complaining readers, refusals of ours,
    with rates over the copies sent."""
    found = views.per_send(conn, send_id)
    bounces, complaints = found.bounced, found.complained
    doc: dict[str, Any] = {
        "bounces": bounces,
        "hard_bounces": found.hard,
        "soft_bounces": found.soft,
        "complaints": complaints,
        "ours": found.ours,
        "bounce_rate": round(bounces / sent, 4) if sent else None,
        "complaint_rate": round(complaints / sent, 5) if sent else None,
        "warnings": [],
    }
    if sent and bounces / sent > BOUNCE_WARNING:
        doc["warnings"].append(f"bounces above {BOUNCE_WARNING:.0%}: clean the list")
    if sent and complaints / sent > COMPLAINT_WARNING:
        doc["warnings"].append(f"complaints above {COMPLAINT_WARNING:.1%}: mail only who asked")
    return doc


def feedback_lines(doc: dict[str, Any]) -> list[str]:
    """The feedback of a send in words (nothing when nothing came back):
    ``feedback: 3 bounces (60.0%: 2 hard, 1 soft), 0 complaints (0.00%)``."""
    if not (doc["bounces"] or doc["complaints"] or doc["ours"]):
        return []
    parts = [plural(doc["bounces"], "bounce"), plural(doc["complaints"], "complaint")]
    kinds = f"{doc['hard_bounces']:,} hard, {doc['soft_bounces']:,} soft"
    if doc["bounce_rate"] is not None:
        parts[0] += f" ({doc['bounce_rate']:.1%}" + (f": {kinds})" if doc["bounces"] else ")")
        parts[1] += f" ({doc['complaint_rate']:.2%})"
    elif doc["bounces"]:
        parts[0] += f" ({kinds})"
    if doc["ours"]:
        parts.append(f"{doc['ours']:,} refused for the sender (deliverability)")
    return [f"  feedback: {', '.join(parts)}"] + [f"  warning: {w}" for w in doc["warnings"]]


def reader_doc(row: views.ReaderFeedback) -> dict[str, Any]:
    """One reader's feedback as a line of ``report --json``."""
    return {
        "kind": "feedback",
        "email": row.email,
        "outcome": row.outcome,
        "dsn_status": row.status,
        "diagnostic": row.diagnostic,
        "matched_by": row.matched_by,
        "at": row.received_at.isoformat(),
        "effect": row.effect,
    }


_WORDS = {"hard": "bounced", "soft": "bounced", "complaint": "complained", "ours": "refused"}


def reader_line(row: views.ReaderFeedback) -> str:
    """``  bounced    x1@example.org: hard 5.1.1 at 2026-12-01 14:20 UTC; bounced on news``."""
    code = f" {row.status}" if row.status else ""
    effect = f"; {one_line(row.effect, 200)}" if row.effect else ""
    who = display_address(row.email)
    when = _time(row.received_at)
    return f"  {_WORDS[row.outcome]:<10} {who}: {row.outcome}{code} at {when}{effect}"


def alert_doc(conn: Connection, *, now: datetime) -> dict[str, Any]:
    """``status``'s deliverability alert: copies refused for the sender in the window, and
    (never counted as copies) reports of such refusals that match no copy of ours."""
    found = views.refusals(conn, since=now - ALERT_WINDOW)
    return {"days": ALERT_WINDOW.days, "ours": found.copies, "unmatched": found.unmatched}


def alert_lines(alert: dict[str, Any]) -> list[str]:
    """The alert in words: nothing when nothing was refused."""
    lines = []
    days = alert["days"]
    if alert["ours"]:
        lines.append(
            f"deliverability alert: {plural(alert['ours'], 'copy', 'copies')} refused for the "
            f"sender's reputation or policy in {days} days (syndicate bounces list)"
        )
    if alert["unmatched"]:
        lines.append(
            f"deliverability: {plural(alert['unmatched'], 'unmatched report')} of refusals for "
            f"the sender in {days} days, matching no copy of ours (anyone can mail the bounce "
            "address; syndicate bounces list)"
        )
    return lines

"""What ``run`` logs of the feedback it takes: one line per bounce, one per webhook request.

A line names the subscriber and the send by id (``bounces list`` and ``report`` show the
address), never a token: the VERP token of a bounce is as good as the reader's, and the
log filter (``syndicate/redact.py``) would only be the second line of defence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sqlalchemy import Engine

from syndicate.feedback.intake import Taken, TakeResult
from syndicate.feedback.match import CONFIRMATION
from syndicate.feedback.report import Outcome
from syndicate.store.sends import digest_ids
from syndicate.text import plural

_WHAT = {
    Outcome.HARD: "hard bounce",
    Outcome.SOFT: "soft bounce",
    Outcome.OURS: "refusal of the sender",
    Outcome.COMPLAINT: "complaint",
    Outcome.DELAYED: "delay notice",
    Outcome.AUTOREPLY: "automatic reply",
    Outcome.DELIVERED: "delivery report",
}


def taken_line(taken: Taken, digests: Mapping[int, str]) -> str | None:
    """``soft bounce (4.2.2) for subscriber 17 on send weekly-3: 1 of 3``; None when the
    item was taken before (nothing done). ``digests``: digest id by send id."""
    if taken.effect is None:
        return None
    item, match = taken.item, taken.match
    code = f" ({item.status})" if item.status else ""
    line = f"{_WHAT[item.outcome]}{code}"
    if match is not None and match.subscriber_id is not None:
        line += f" for subscriber {match.subscriber_id}"
        if match.send_id is not None:
            line += f" on send {digests.get(match.send_id, match.send_id)}"
        elif match.by == CONFIRMATION:
            line += " (its confirmation mail)"
    effect = taken.effect
    if item.outcome is Outcome.SOFT and effect.startswith("soft bounce "):
        effect = effect.removeprefix("soft bounce ")  # "1 of 3": said once
    return f"{line}: {effect}"


def webhook_line(provider: str, result: TakeResult) -> str:
    """``postmark: 2 events taken (1 hard, 1 delivered)``, and those seen before."""
    outcomes = Counter(t.item.outcome.value for t in result.taken if t.effect is not None)
    counts = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
    line = f"{provider}: {plural(result.new, 'event')} taken"
    if counts:
        line += f" ({counts})"
    if result.duplicates:
        line += f", {result.duplicates} seen before"
    return line


def taken_lines(engine: Engine, result: TakeResult) -> list[str]:
    """One line per item ``result`` took now (none for those taken before)."""
    sends = {t.match.send_id for t in result.taken if t.match and t.match.send_id is not None}
    digests: dict[int, str] = {}
    if sends:
        with engine.connect() as conn:
            digests = digest_ids(conn, sends)
    return [line for t in result.taken if (line := taken_line(t, digests)) is not None]

"""The one processor every input feeds: record each piece of feedback, then judge it.

``take`` is what the mailbox import, a polled Maildir and the provider webhooks call. Each
item is recorded (idempotent by ``event_id``: taking the same feedback twice changes
nothing), matched, and judged in the same transaction, so a crash leaves every item either
wholly taken or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.config.mailhost import mail_host
from syndicate.feedback import policy
from syndicate.feedback.match import Match, Matcher
from syndicate.feedback.report import Feedback, Outcome
from syndicate.store import feedback as repo
from syndicate.subscribers.tokens import site_signer
from syndicate.subscribers.verp import Verp, site_verp


@dataclass(frozen=True, slots=True, kw_only=True)
class Taken:
    """One item as taken: its match and what judging it did (None: seen before)."""

    item: Feedback
    match: Match | None
    effect: str | None


@dataclass(slots=True, kw_only=True)
class TakeResult:
    """What one ``take`` did."""

    taken: list[Taken] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        """New items of one outcome."""
        return sum(1 for t in self.taken if t.effect is not None and t.item.outcome is outcome)

    @property
    def new(self) -> int:
        """Items recorded now (not seen before)."""
        return sum(1 for t in self.taken if t.effect is not None)

    @property
    def duplicates(self) -> int:
        """Items whose event id was recorded before: nothing done."""
        return sum(1 for t in self.taken if t.effect is None)

    @property
    def matched(self) -> int:
        """New items matched to a subscriber."""
        return sum(
            1 for t in self.taken if t.match is not None and t.match.subscriber_id is not None
        )

    @property
    def unmatched(self) -> list[Taken]:
        """New bounces and complaints matching no subscriber."""
        ignored = (Outcome.AUTOREPLY, Outcome.DELAYED, Outcome.DELIVERED)
        return [
            t
            for t in self.taken
            if t.match is not None
            and t.match.subscriber_id is None
            and t.item.outcome not in ignored
        ]

    def merge(self, other: TakeResult) -> None:
        """Add another take's items."""
        self.taken.extend(other.taken)


def matcher(settings: Settings, *, now: datetime) -> Matcher:
    """The site's matcher at ``now``."""
    bounces = settings.config.bounces or policy.DEFAULTS
    verp: Verp | None = None
    if settings.config.bounces is not None:
        verp = site_verp(settings, site_signer(settings))
    return Matcher(
        verp=verp,
        host=mail_host(settings),
        window=timedelta(days=bounces.trust_window_days),
        now=now,
    )


def prune(engine: Engine, settings: Settings, *, now: datetime) -> int:
    """Forget the events kept only for a while, in one cheap statement each (both use the
    ``received_at`` index): unmatched ones after ``[bounces] unmatched_days``, confirmed
    deliveries once older than the soft-bounce window (an older one precedes every soft
    bounce still counted; provider delivery webhooks record one per copy, so without this
    the table would grow with every send). ``bounces import`` and ``run`` (hourly) call it.
    Returns how many unmatched events went."""
    bounces = settings.config.bounces or policy.DEFAULTS
    with engine.begin() as conn:
        gone = repo.prune_unmatched(conn, before=now - timedelta(days=bounces.unmatched_days))
        repo.prune_deliveries(conn, before=now - timedelta(days=bounces.soft_window_days))
    return gone


def take(
    engine: Engine,
    settings: Settings,
    items: Sequence[Feedback],
    *,
    trusted: bool,
    now: datetime | None = None,
    matching: Matcher | None = None,
) -> TakeResult:
    """Record, match and judge ``items`` in one transaction. ``trusted``: a provider event
    whose signature verified (acts on the address it names); mail from the bounce address is
    never trusted (acts through a verified token, or on a copy sent in the trust window)."""
    now = now or datetime.now(UTC)
    found = matching or matcher(settings, now=now)
    result = TakeResult()
    if not items:
        return result
    with engine.begin() as conn:
        known = repo.seen(conn, [i.event_id for i in items])
        slots: list[Taken | None] = []
        fresh: list[tuple[int, Feedback]] = []
        for item in items:
            if item.event_id in known:
                slots.append(Taken(item=item, match=None, effect=None))
                continue
            known.add(item.event_id)
            fresh.append((len(slots), item))
            slots.append(None)
        matches = found.match_all(conn, [item for _, item in fresh], trusted=trusted)
        segment: list[tuple[int, Feedback, Match, dict[str, Any], str | None]] = []
        subs = policy.Subscriptions(conn, settings.config.webhooks)
        marks: list[tuple[int, str]] = []

        def flush() -> None:
            """Record the segment in one statement, then judge what acts on someone, in
            order. A soft bounce's score counts its subscriber's events recorded before it
            (and itself): so a segment ends before a later event of a subscriber with a
            soft bounce in it, and the score is exactly what taking one at a time gives.
            Judging the others reads and writes subscriptions only, in the same order."""
            ids = repo.record_many(conn, [row for *_, row, _ in segment])
            subs.load(m.subscriber_id for _, _, m, _, q in segment if q is None and m.subscriber_id)
            for slot, item, match, row, quick in segment:
                event_id = ids.get(row["event_id"])
                if event_id is None:  # another process took it just now
                    slots[slot] = Taken(item=item, match=None, effect=None)
                    continue
                effect = quick
                if effect is None:
                    event = repo.Event(id=event_id, **row)
                    effect = policy.judge(
                        conn, event, settings.config.bounces, now=now, subscriptions=subs
                    )
                    marks.append((event_id, effect))
                slots[slot] = Taken(item=item, match=match, effect=effect)
            segment.clear()

        scored: set[int] = set()  # subscribers with a soft bounce to judge in the segment
        for (slot, item), match in zip(fresh, matches, strict=True):
            if match.subscriber_id in scored:
                flush()
                scored.clear()
            quick = policy.settled(
                item.outcome, match.subscriber_id, match.counts, match.note, match.by
            )
            row = _row(item, match, now)
            if quick is not None:  # recorded judged: the effect needs no store
                row["processed_at"], row["effect"] = now, quick[:500]
            elif item.outcome is Outcome.SOFT and match.subscriber_id is not None:
                scored.add(match.subscriber_id)
            segment.append((slot, item, match, row, quick))
        flush()
        subs.write(now=now)
        repo.mark_processed_many(conn, marks, now=now)
    result.taken = [t for t in slots if t is not None]
    return result


def _row(item: Feedback, match: Match, now: datetime) -> dict[str, Any]:
    """The ``feedback_events`` row of one item, not yet judged."""
    return {
        "event_id": item.event_id[:100],
        "source": item.source[:32],
        "outcome": item.outcome.value,
        "recipient": item.recipient,
        "original_recipient": item.original_recipient,
        "status": item.status,
        "diagnostic": item.diagnostic[:1000],
        "message_id": (item.message_id or None) and item.message_id[:500],
        "subscriber_id": match.subscriber_id,
        "send_id": match.send_id,
        "matched_by": match.by,
        "counts": match.counts,
        "note": match.note[:500],
        "received_at": now,
        "processed_at": None,
        "effect": None,
    }

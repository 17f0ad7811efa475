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
        for item in items:
            if item.event_id in known:
                result.taken.append(Taken(item=item, match=None, effect=None))
                continue
            known.add(item.event_id)
            match = found.match(conn, item, trusted=trusted)
            row: dict[str, Any] = {
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
            }
            event_id = repo.record(conn, row)
            if event_id is None:  # another process took it just now
                result.taken.append(Taken(item=item, match=None, effect=None))
                continue
            event = repo.Event(id=event_id, processed_at=None, effect=None, **row)
            effect = policy.judge(conn, event, settings.config.bounces, now=now)
            result.taken.append(Taken(item=item, match=match, effect=effect))
    return result

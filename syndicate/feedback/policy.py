"""Judging recorded feedback: what happens to the subscriber (defaults in ``[bounces]``).

- hard bounce → ``bounced`` on every list at once (the address does not exist);
- soft bounce → scored: ``bounced`` once ``soft_limit`` distinct sends bounced softly within
  ``soft_window_days``; a later successful delivery starts the count again: one a provider
  or a DSN confirmed (``delivered``, matched to the reader's copy), or a clean copy (sent,
  settled for :data:`SETTLE`, no feedback at all);
- delivered → nothing but that reset;
- ours (reputation, policy, authentication, rate limits) → never the reader's: counted as a
  deliverability alert for ``status``;
- complaint → ``complained`` on every list at once;
- a hard bounce of a confirmation mail (matched by its return path's token, or by the
  Message-ID of a confirmation the outbox shows was accepted for the address in the trust
  window; never by the address alone) → ``bounced`` on the *pending* lists only: no more
  confirmation mails to a dead address; anything else about a confirmation mail changes
  nothing;
- any other bounce leaves *pending* lists alone: they got no mail it could refer to (a
  forged DSN, or a provider event naming only the address, must not end them);
- delays and automatic replies → nothing.

Every change goes to the consent trail with its source (``bounce``, ``complaint`` or the
provider) and the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from syndicate.config import Bounces
from syndicate.events import Hooks, record_changes
from syndicate.feedback.match import CONFIRMATION
from syndicate.feedback.report import Outcome
from syndicate.models import Source, Status
from syndicate.store import feedback as repo
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.subscribers import Change


class Subscriptions:
    """Subscribers' lists as judging sees them during one intake: read in one query,
    changed here, written in one go (:meth:`write`, in the same transaction, with the
    webhook events of ``hooks``). Judging a later bounce of the same reader sees what an
    earlier one changed, as if each change were written at once."""

    def __init__(self, conn: Connection, hooks: Hooks = ()) -> None:
        self._conn, self._hooks = conn, hooks
        self._lists: dict[int, dict[str, Status]] = {}
        self._changes: list[Change] = []

    def load(self, ids: Iterable[int]) -> None:
        """Read the lists of these subscribers (those not read yet) in one query."""
        missing = {sid for sid in ids if sid not in self._lists}
        if missing:
            self._lists.update(subscriber_repo.subscriptions_of_many(self._conn, missing))

    def of(self, subscriber_id: int) -> dict[str, Status]:
        """A subscriber's lists and statuses, with the changes made since."""
        self.load([subscriber_id])
        return self._lists[subscriber_id]

    def apply(self, changes: list[Change]) -> None:
        for change in changes:
            self._lists.setdefault(change.subscriber_id, {})[change.list_name] = change.status
        self._changes.extend(changes)

    def write(self, *, now: datetime) -> None:
        """Store the changes (statuses and the consent trail), in the order made."""
        subscriber_repo.apply_changes(self._conn, self._changes, now=now)
        record_changes(self._conn, self._hooks, self._changes, now=now)
        self._changes = []


SETTLE = timedelta(days=2)  # a copy with no bounce this long after it was sent arrived
# The defaults of every setting but the address, for a site without [bounces].
DEFAULTS = Bounces.model_construct(address="")
_PROVIDERS = {s.value: s for s in (Source.SES, Source.POSTMARK, Source.MAILGUN, Source.SENDGRID)}


def _source(source: str, outcome: Outcome) -> Source:
    provider = _PROVIDERS.get(source.partition(":")[0])
    if provider is not None:
        return provider
    return Source.COMPLAINT if outcome is Outcome.COMPLAINT else Source.BOUNCE


def _detail(event: repo.Event) -> str:
    code = f" {event.status}" if event.status else ""
    text = f"{event.outcome}{code} ({event.source}): {event.diagnostic}"
    return text[:200]


def judge(
    conn: Connection,
    event: repo.Event,
    config: Bounces | None,
    *,
    now: datetime,
    subscriptions: Subscriptions | None = None,
) -> str:
    """Apply the policy to one recorded event; what it did. Alone (no ``subscriptions``)
    it stores the changes and marks the event processed; with them, the caller writes the
    changes (:meth:`Subscriptions.write`) and marks the event, many at once."""
    subs = subscriptions or Subscriptions(conn)
    effect = _effect(conn, subs, event, config or DEFAULTS, now=now)
    if subscriptions is None:
        subs.write(now=now)
        repo.mark_processed(conn, event.id, effect, now=now)
    return effect


def _confirmation(
    subs: Subscriptions, event: repo.Event, outcome: Outcome, *, now: datetime
) -> str:
    """A confirmation mail's feedback: a hard bounce ends the *pending* subscriptions (no
    more confirmation mails to a dead address: the form keeps a bounced one); active
    lists are left to their own copies' bounces, and nothing else changes anything."""
    assert event.subscriber_id is not None
    if outcome is not Outcome.HARD:
        return f"{outcome.value} of a confirmation mail: nothing to do"
    lists = subs.of(event.subscriber_id)
    changes = [
        Change(
            subscriber_id=event.subscriber_id,
            list_name=name,
            status=Status.BOUNCED,
            previous=previous,
            source=_source(event.source, outcome),
            detail=("confirmation mail " + _detail(event))[:200],
        )
        for name, previous in sorted(lists.items())
        if previous is Status.PENDING
    ]
    subs.apply(changes)
    if not changes:
        return "confirmation mail bounced: nothing pending"
    return "bounced on " + ", ".join(c.list_name for c in changes) + " (pending)"


def settled(
    outcome: Outcome, subscriber_id: int | None, counts: bool, note: str, matched_by: str
) -> str | None:
    """The effect of feedback that changes nobody (ours, delays, replies, unmatched, not
    trusted, confirmed deliveries): known without the store, so the intake records it
    judged in one go. None: it must be judged (:func:`judge`)."""
    if outcome is Outcome.OURS:
        return "deliverability alert: refused for the sender, not the reader"
    if outcome in (Outcome.DELAYED, Outcome.AUTOREPLY):
        return "ignored: not a bounce"
    if subscriber_id is None:
        return "unmatched"
    if not counts:
        return "not trusted: " + note
    if matched_by == CONFIRMATION:
        return None
    if outcome is Outcome.DELIVERED:
        return "delivered: soft bounces before it no longer count"
    return None


def _effect(
    conn: Connection, subs: Subscriptions, event: repo.Event, config: Bounces, *, now: datetime
) -> str:
    outcome = Outcome(event.outcome)
    quick = settled(outcome, event.subscriber_id, event.counts, event.note, event.matched_by)
    if quick is not None:
        return quick
    if event.subscriber_id is None:  # settled() answered; for the type checker
        return "unmatched"
    if event.matched_by == CONFIRMATION:
        return _confirmation(subs, event, outcome, now=now)
    if outcome is Outcome.SOFT:
        score = repo.soft_score(
            conn,
            event.subscriber_id,
            since=now - timedelta(days=config.soft_window_days),
            settled_before=now - SETTLE,
        )
        if score < config.soft_limit:
            return f"soft bounce {score} of {config.soft_limit}"
    status = Status.COMPLAINED if outcome is Outcome.COMPLAINT else Status.BOUNCED
    lists = subs.of(event.subscriber_id)
    # A complaint ends every subscription; a bounce ends the ones being mailed: a pending
    # one got no copy (its confirmation mail's own bounce ends it, see _confirmation).
    keep = (
        {Status.COMPLAINED}
        if status is Status.COMPLAINED
        else {
            Status.PENDING,
            Status.UNSUBSCRIBED,
            Status.BOUNCED,
            Status.COMPLAINED,
        }
    )
    changes = [
        Change(
            subscriber_id=event.subscriber_id,
            list_name=name,
            status=status,
            previous=previous,
            source=_source(event.source, outcome),
            detail=_detail(event),
        )
        for name, previous in sorted(lists.items())
        if previous not in keep
    ]
    subs.apply(changes)
    if not changes and status is Status.BOUNCED and Status.PENDING in lists.values():
        return "bounce of no confirmation mail: pending lists unchanged"
    if not changes:
        return f"{status.value} already"
    return f"{status.value} on " + ", ".join(c.list_name for c in changes)

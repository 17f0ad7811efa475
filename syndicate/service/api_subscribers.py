"""What the HTTP API changes about subscribers (web/api/), each in one transaction.

Consent rules, as on the subscriber pages (web/actions.py): a double opt-in request is only
recorded (``signups``), and the outbox sender carries it out exactly as it does the web
form's: pending, a confirmation mail, the same webhook events. A ``confirmed`` subscribe
says consent was given elsewhere: it needs a source, kept in the consent trail with the
token's name, and it never overrides a reader who left or whose mail bounced or complained
(those must confirm by mail again), nor adds to another list an address that bounced or
complained anywhere. Records are never deleted: unsubscribing keeps the row,
so the address stays suppressed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Engine

from syndicate.events import Hooks, record_changes
from syndicate.models import SUPPRESSED, Source, Status
from syndicate.service import subscriber_actions as actions
from syndicate.service.subscriber_actions import Actor, unsubscribe_changes
from syndicate.store import signups, welcomes
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change, Event, NewSubscriber
from syndicate.store.suppression import blocked_elsewhere

# Trail entries an answer carries (the newest; ``syndicate subscribers show`` has them all):
# a reader re-imported daily for years must not make every answer about them megabytes.
TRAIL = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership:
    """A subscriber's subscription to one list."""

    list_name: str
    status: Status
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberView:
    """A subscriber, their lists and their consent trail."""

    id: int
    email: str
    name: str | None
    created_at: datetime
    lists: tuple[Membership, ...]
    trail: tuple[Event, ...]  # the newest TRAIL entries, oldest first
    older: int = 0  # entries older than ``trail``, not included


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a write did: the subscriber now, what changed per list, what waits for a mail."""

    subscriber: SubscriberView
    results: dict[str, str]  # list -> active | already | suppressed | pending | unsubscribed
    to_confirm: tuple[str, ...] = ()


def view(conn: Connection, key: str) -> SubscriberView | None:
    """The subscriber with case-folded address ``key``, or None."""
    found = repo.subscriber_by_key(conn, key)
    if found is None:
        return None
    statuses = repo.subscriptions_of(conn, found.id)
    topics = repo.topics_of(conn, found.id)
    trail = repo.recent_events(conn, found.id, limit=TRAIL)
    older = repo.count_events(conn, found.id) - TRAIL if len(trail) == TRAIL else 0
    return SubscriberView(
        id=found.id,
        email=found.email,
        name=found.name,
        created_at=found.created_at,
        lists=tuple(
            Membership(list_name=n, status=s, topics=topics.get(n, ()))
            for n, s in sorted(statuses.items())
        ),
        trail=tuple(reversed(trail)),
        older=older,
    )


def _actor(token: str) -> Actor:
    return Actor(source=Source.API, name=f"api token {token}")


def _detail(token: str, what: str) -> str:
    return _actor(token).detail(what)


def request_opt_in(
    engine: Engine, *, email: str, name: str | None, lists: Sequence[str], token: str, now: datetime
) -> None:
    """Record a double opt-in request, as the subscribe form does (one insert, whatever the
    address): the outbox sender makes it pending and mails the confirmation."""
    with engine.begin() as conn:
        signups.add(
            conn, email=email, name=name, lists=lists, detail=_detail(token, "subscribe"), now=now
        )


def subscribe_confirmed(
    engine: Engine,
    *,
    email: str,
    key: str,
    name: str | None,
    lists: Sequence[str],
    source: str,
    token: str,
    now: datetime,
    welcome: Collection[str] = (),
    hooks: Hooks = (),
) -> Outcome:
    """Make ``lists`` active at once for consent given elsewhere (``source``, recorded);
    suppressed subscriptions (unsubscribed, bounced, complained) stay as they are, and an
    address that bounced or complained on any list is made active on none
    (``"suppressed"``: a bounce or a spam report is about the address)."""
    with engine.begin() as conn:
        found = repo.subscriber_by_key(conn, key)
        if found is None:
            new = NewSubscriber(email=email, key=key, name=name, attributes=())
            sid = repo.insert_subscribers(conn, [new], now=now)[key]
        else:
            sid = found.id
        current = repo.subscriptions_of(conn, sid)
        blocked = found is not None and bool(blocked_elsewhere(conn, [sid]))
        results: dict[str, str] = {}
        changes = []
        for list_name in lists:
            status = current.get(list_name)
            if status is Status.ACTIVE:
                results[list_name] = "already"
            elif status in SUPPRESSED or blocked:
                results[list_name] = "suppressed"
            else:
                results[list_name] = "active"
                changes.append(
                    Change(
                        subscriber_id=sid,
                        list_name=list_name,
                        status=Status.ACTIVE,
                        previous=status,
                        source=Source.API,
                        detail=_detail(token, f"confirmed; consent: {source}"),
                    )
                )
        repo.apply_changes(conn, changes, now=now)
        welcomes.queue_for(conn, changes, welcome, now=now)
        record_changes(conn, hooks, changes, now=now)
        shown = view(conn, key)
    assert shown is not None
    return Outcome(subscriber=shown, results=results)


def update(
    engine: Engine,
    key: str,
    *,
    name: tuple[str | None] | None,
    topics: Mapping[str, Sequence[str]] | None,
    lists: Collection[str] | None,
    token: str,
    now: datetime,
    hooks: Hooks = (),
) -> Outcome | None:
    """Change a subscriber (None: no such address). ``name``: a 1-tuple to set (None
    clears); ``topics``: per list they have a subscription on; ``lists``: the lists they
    should be on — active or pending ones left out are unsubscribed, new ones need their
    consent by mail (a double opt-in request; bounced and complained ones stay)."""
    with engine.begin() as conn:
        found = repo.subscriber_by_key(conn, key)
        if found is None:
            return None
        if name is not None and name[0] != found.name:
            repo.update_subscribers(conn, [replace(found, name=name[0])])
        current = repo.subscriptions_of(conn, found.id)
        results: dict[str, str] = {}
        to_confirm: list[str] = []
        if lists is not None:
            changes = unsubscribe_changes(
                found.id, current, set(current) - set(lists), actor=_actor(token)
            )
            for c in changes:
                results[c.list_name] = "unsubscribed"
            for n in sorted(lists):
                status = current.get(n)
                if status in (Status.ACTIVE, Status.PENDING):
                    results[n] = "already"
                elif status in (Status.BOUNCED, Status.COMPLAINED):
                    results[n] = "suppressed"
                else:
                    results[n] = "pending"
                    to_confirm.append(n)
            repo.apply_changes(conn, changes, now=now)
            record_changes(conn, hooks, changes, now=now)
            if to_confirm:
                signups.add(
                    conn,
                    email=found.email,
                    name=None,
                    lists=to_confirm,
                    detail=_detail(token, "subscribe (update)"),
                    now=now,
                )
        for list_name, chosen in (topics or {}).items():
            if list_name in current:
                repo.set_topics(conn, list_name, [(found.id, tuple(chosen))])
        shown = view(conn, key)
    assert shown is not None
    return Outcome(subscriber=shown, results=results, to_confirm=tuple(to_confirm))


def unsubscribe(
    engine: Engine,
    key: str,
    *,
    list_name: str | None,
    token: str,
    now: datetime,
    hooks: Hooks = (),
) -> Outcome | None:
    """Unsubscribe from ``list_name`` (None: from every list); the record stays, so the
    address is suppressed. None when there is no such address."""
    with engine.begin() as conn:
        found = repo.subscriber_by_key(conn, key)
        if found is None:
            return None
        done = actions.unsubscribe(
            conn, found.id, list_name, actor=_actor(token), now=now, hooks=hooks
        )
        shown = view(conn, key)
    assert shown is not None
    return Outcome(subscriber=shown, results=done.results)

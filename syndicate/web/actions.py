"""What the subscriber pages change in the store, each in one transaction (synchronous:
the pages run these in a worker thread).

Consent rules: a web subscription is only ever *pending* until its confirm link is used;
bounced and complained addresses stay suppressed whatever the form says; someone who
unsubscribed may ask again (pending, then active on confirm: their own consent), but a
confirm link issued before they unsubscribed no longer works. A preferences token proves
the address of a current reader, so joining a new list there makes it active at once; coming
back to a list they left (or joining one when they get none) needs a new confirmation mail.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Connection, Engine, select

from syndicate.events import Hooks, record_changes
from syndicate.models import SUPPRESSED, Source, Status, Subscriber
from syndicate.store import signups, welcomes
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change
from syndicate.store.tables import subscribers
from syndicate.subscribers.address import Address
from syndicate.subscribers.signup import KEPT as _KEPT
from syndicate.subscribers.tokens import TokenClaims


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeRequest:
    """A valid subscribe form: who, which declared lists, and from where."""

    address: Address
    name: str | None
    lists: tuple[str, ...]
    client: str


class Confirmed(Enum):
    """What a confirm link did."""

    ACTIVATED = "activated"
    ALREADY = "already"  # was active already: the same good news
    LEFT = "left"  # unsubscribed since the link was sent
    REFUSED = "refused"  # bounced, complained, or never asked for this list


def subscriber_by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    """One subscriber by id."""
    key = conn.execute(
        select(subscribers.c.email_key).where(subscribers.c.id == subscriber_id)
    ).scalar()
    return None if key is None else repo.subscriber_by_key(conn, key)


def subscribe(engine: Engine, request: SubscribeRequest, *, now: datetime) -> None:
    """Record the request, and nothing else: the same one insert for every address.

    The outbox sender carries it out (:class:`syndicate.subscribers.signup.Signups`): what
    changes, and whether a mail is sent, is decided after the answer, where its time
    tells nobody who is subscribed."""
    with engine.begin() as conn:
        signups.add(
            conn,
            email=request.address.email,
            name=request.name,
            lists=request.lists,
            detail=f"subscribe form from {request.client}",
            now=now,
        )


def confirm(
    engine: Engine,
    claims: TokenClaims,
    lists: Sequence[str],
    *,
    now: datetime,
    welcome: Collection[str] = (),
    hooks: Hooks = (),
) -> dict[str, Confirmed]:
    """Use a confirm link for each of ``lists`` (those of the token still declared), in one
    transaction: pending becomes active, unless they left after the link was sent. Each
    list activated that is in ``welcome`` gets its welcome mail queued, in that transaction."""
    sid = claims.subscriber_id
    # Token times are whole seconds: an event in the token's own second is not "after".
    after = claims.issued_at + timedelta(seconds=1)
    results: dict[str, Confirmed] = {}
    with engine.begin() as conn:
        current = repo.subscriptions_of(conn, sid)
        trail = repo.events_of(conn, sid) if Status.PENDING in current.values() else []
        changes = []
        for list_name in lists:
            status = current.get(list_name)
            left = any(
                e.list_name == list_name and e.status in SUPPRESSED and e.at >= after for e in trail
            )
            if status is Status.ACTIVE:
                results[list_name] = Confirmed.ALREADY
            elif status is Status.UNSUBSCRIBED or (status is Status.PENDING and left):
                results[list_name] = Confirmed.LEFT
            elif status is not Status.PENDING:
                results[list_name] = Confirmed.REFUSED
            else:
                results[list_name] = Confirmed.ACTIVATED
                changes.append(
                    Change(
                        subscriber_id=sid,
                        list_name=list_name,
                        status=Status.ACTIVE,
                        previous=status,
                        source=Source.WEB,
                        detail="confirmed by email link",
                    )
                )
        repo.apply_changes(conn, changes, now=now)
        welcomes.queue_for(conn, changes, welcome, now=now)
        record_changes(conn, hooks, changes, now=now)
    return results


def unsubscribe(
    engine: Engine, claims: TokenClaims, *, now: datetime, detail: str, hooks: Hooks = ()
) -> bool:
    """Leave the token's list (any status; suppressed ones stay as they are).

    False when the subscriber does not exist; repeats change nothing and return True.
    """
    sid, list_name = claims.subscriber_id, claims.list_name
    with engine.begin() as conn:
        if subscriber_by_id(conn, sid) is None:
            return False
        status = repo.statuses(conn, [sid], list_name).get(sid)
        if status in SUPPRESSED:
            return True
        change = Change(
            subscriber_id=sid,
            list_name=list_name,
            status=Status.UNSUBSCRIBED,
            previous=status,
            source=Source.WEB,
            detail=detail,
        )
        repo.apply_changes(conn, [change], now=now)
        record_changes(conn, hooks, [change], now=now)
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Preferences:
    """What the preferences page shows: the person, their lists, and topics per list."""

    subscriber: Subscriber
    statuses: dict[str, Status]
    topics: dict[str, tuple[str, ...]]  # by list; absent or empty: everything
    to_confirm: tuple[str, ...] = ()  # lists chosen that wait for a confirmation mail


def load_preferences(engine: Engine, subscriber_id: int) -> Preferences:
    """A subscriber, their lists and the topics on each; LookupError if there is no such
    subscriber."""
    with engine.connect() as conn:
        found = subscriber_by_id(conn, subscriber_id)
        if found is None:
            raise LookupError(subscriber_id)
        return Preferences(
            subscriber=found,
            statuses=repo.subscriptions_of(conn, subscriber_id),
            topics=repo.topics_of(conn, subscriber_id),
        )


def save_preferences(
    engine: Engine,
    subscriber_id: int,
    *,
    topics: Mapping[str, Sequence[str]],
    lists: Collection[str],
    declared: Collection[str],
    client: str,
    now: datetime,
    welcome: Collection[str] = (),
    hooks: Hooks = (),
) -> Preferences:
    """Store list choices and each list's topics (of the ``declared`` lists); the result.

    A checked list the reader never had becomes active at once while they get another
    list (the token proves the address of a current reader). Any other checked list that
    is not active (unsubscribed, pending, or new for someone who gets nothing) needs their
    consent again: a subscribe request is recorded, so the outbox sender makes it pending
    and mails a confirmation; a preferences link from before an unsubscribe cannot undo it.
    Bounced and complained lists stay; unchecked active (or pending) ones become
    unsubscribed (the page shows pending lists checked). ``topics``
    of a list apply to that list only, and only where there is a subscription to keep them.
    """
    with engine.begin() as conn:
        found = subscriber_by_id(conn, subscriber_id)
        if found is None:
            raise LookupError(subscriber_id)
        current = repo.subscriptions_of(conn, subscriber_id)
        reader = Status.ACTIVE in current.values()
        changes, to_confirm = [], []
        for list_name in declared:
            status = current.get(list_name)
            wanted = status
            if list_name in lists and status not in _KEPT:
                if status is None and reader:
                    wanted = Status.ACTIVE
                else:
                    to_confirm.append(list_name)
            elif list_name not in lists and status in (Status.ACTIVE, Status.PENDING):
                wanted = Status.UNSUBSCRIBED  # a pending one: the request is withdrawn
            if wanted is not status and wanted is not None:
                changes.append(
                    Change(
                        subscriber_id=subscriber_id,
                        list_name=list_name,
                        status=wanted,
                        previous=status,
                        source=Source.WEB,
                        detail="preferences page",
                    )
                )
                current[list_name] = wanted
        repo.apply_changes(conn, changes, now=now)
        welcomes.queue_for(conn, changes, welcome, now=now)  # a list joined at once
        record_changes(conn, hooks, changes, now=now)
        if to_confirm:
            signups.add(
                conn,
                email=found.email,
                name=None,
                lists=to_confirm,
                detail=f"preferences page from {client}",
                now=now,
            )
        stored = repo.topics_of(conn, subscriber_id)
        for name in declared:
            chosen = tuple(topics.get(name, ()))
            if name in current and chosen != stored.get(name, ()):
                repo.set_topics(conn, name, [(subscriber_id, chosen)])
                stored[name] = chosen
        # What the page shows: the lists to confirm are pending once the request is handled.
        shown = {**current, **dict.fromkeys(to_confirm, Status.PENDING)}
        return Preferences(
            subscriber=found, statuses=shown, topics=stored, to_confirm=tuple(to_confirm)
        )

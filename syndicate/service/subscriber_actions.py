"""Changing one subscriber's subscriptions by hand: unsubscribe (from one list or all) and
resubscribe, for the HTTP API (web/api/) and the editor's desk (web/admin/).

Every change goes into the consent trail with its source and a detail naming who made it
(``api token site: unsubscribed``, ``admin ed: resubscribed; reason: …``), and raises the
same webhook events as any other change (``record_changes``), in the caller's transaction.

The rules are those of consent: unsubscribing only ends an active or pending subscription
(a bounced or complained one stays as it is: it says more). Resubscribing is only for
someone who unsubscribed and asked to come back, and needs the reason (where that consent
was given); a bounced or complained address, or a pending one, must confirm by mail again
(the subscribe form), which no editor can do for them. A bounce or a spam report is about
the address, not one list: it blocks a resubscribe to *every* list (:func:`blocked_by`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from syndicate.errors import SyndicateError
from syndicate.events import Hooks, record_changes
from syndicate.models import ADDRESS_WIDE, Source, Status
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change
from syndicate.text import one_line

MAX_DETAIL = 500
MAX_REASON = 300
ENDABLE = (Status.ACTIVE, Status.PENDING)  # what an unsubscribe ends


class ActionRefused(SyndicateError):
    """A change that consent rules (or a missing reason) do not allow; nothing changed."""

    def __init__(self, list_name: str, reason: str) -> None:
        super().__init__(reason)
        self.list_name, self.reason = list_name, reason


class BadReason(ActionRefused):
    """A reason that cannot be kept: missing where one is required, or too long."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who makes a change: the trail's source, and the name its detail starts with
    (``api token site``, ``admin ed``)."""

    source: Source
    name: str

    def detail(self, what: str, reason: str | None = None) -> str:
        """The trail's detail: ``NAME: WHAT`` and ``; reason: REASON`` when there is one."""
        said = f"{self.name}: {what}" + (f"; reason: {reason}" if reason else "")
        return said[:MAX_DETAIL]


def clean_reason(text: str | None, list_name: str = "") -> str | None:
    """A reason as the trail keeps it: one line (no control characters), trimmed; None
    when empty. Longer than :data:`MAX_REASON` characters is refused rather than cut."""
    if text is None:
        return None
    found = one_line(text, len(text))
    if len(found) > MAX_REASON:
        raise BadReason(list_name, f"The reason is longer than {MAX_REASON} characters.")
    return found or None


def unsubscribe_changes(
    subscriber_id: int,
    current: Mapping[str, Status],
    names: Collection[str],
    *,
    actor: Actor,
    reason: str | None = None,
) -> list[Change]:
    """The changes that unsubscribe ``names``: only active or pending subscriptions."""
    return [
        Change(
            subscriber_id=subscriber_id,
            list_name=n,
            status=Status.UNSUBSCRIBED,
            previous=current[n],
            source=actor.source,
            detail=actor.detail("unsubscribed", reason),
        )
        for n in sorted(names)
        if current.get(n) in ENDABLE
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribed:
    """What an unsubscribe did: per list asked for that they are on, ``unsubscribed`` or
    the status it stays in (``unsubscribed``, ``bounced`` …); ``ended``: the lists whose
    subscription it ended just now."""

    results: dict[str, str]
    ended: tuple[str, ...]


def unsubscribe(
    conn: Connection,
    subscriber_id: int,
    list_name: str | None,
    *,
    actor: Actor,
    now: datetime,
    hooks: Hooks = (),
    reason: str | None = None,
) -> Unsubscribed:
    """Unsubscribe from ``list_name`` (None: from every list they are on). The record
    stays, so the address is suppressed."""
    reason = clean_reason(reason, list_name or "")
    current = repo.subscriptions_of(conn, subscriber_id, for_update=True)
    names = set(current) if list_name is None else {list_name} & set(current)
    changes = unsubscribe_changes(subscriber_id, current, names, actor=actor, reason=reason)
    repo.apply_changes(conn, changes, now=now)
    record_changes(conn, hooks, changes, now=now)
    ended = tuple(c.list_name for c in changes)
    results = {n: "unsubscribed" if n in ended else current[n].value for n in sorted(names)}
    return Unsubscribed(results=results, ended=ended)


# The desk never overrides a bounce or complaint; the command line can, on the editor's
# word (``--resubscribe``, written into the consent trail), and the text says so.
_OVERRIDE = (
    " (If they asked you directly, `syndicate subscribers add LIST EMAIL --resubscribe` "
    "does it, and the consent trail records it.)"
)
REFUSED = {
    Status.BOUNCED: (
        "Their mail bounced: resubscribing cannot make an address work again. They must "
        "subscribe again with the form and confirm by mail." + _OVERRIDE
    ),
    Status.COMPLAINED: (
        "They reported a mail as spam: only they can undo that, by subscribing again with "
        "the form and confirming by mail." + _OVERRIDE
    ),
    Status.PENDING: (
        "They have not confirmed yet: the confirmation mail (or a new one from the "
        "subscribe form) is how they join."
    ),
    Status.ACTIVE: "They are already subscribed.",
}


BLOCKING = ADDRESS_WIDE  # on any list: no resubscribe to any list (as add/import/API)


def blocked_by(current: Mapping[str, Status]) -> tuple[str, Status] | None:
    """The list (first by name) on which the address bounced or complained, with that
    status, when there is one: a dead or complaining address is not made active by hand."""
    for name in sorted(current):
        if current[name] in BLOCKING:
            return name, current[name]
    return None


def blocked_reason(name: str, status: Status) -> str:
    """Why a resubscribe is refused because of ``status`` on list ``name``."""
    return (
        f"{REFUSED[status]} (This was on {name}: a bounce or a spam report is about the "
        "address, so no list can be resubscribed on the desk.)"
    )


def resubscribe(
    conn: Connection,
    subscriber_id: int,
    list_name: str,
    *,
    actor: Actor,
    reason: str | None,
    now: datetime,
    hooks: Hooks = (),
) -> Change:
    """Make an unsubscribed subscription active again, for consent given elsewhere:
    ``reason`` (required) says where, and is kept in the trail. Anything but
    ``unsubscribed`` is refused (:class:`ActionRefused`, nothing changed), and so is any
    list of an address that bounced or complained on some list (:func:`blocked_by`)."""
    reason = clean_reason(reason, list_name)
    if reason is None:
        raise BadReason(
            list_name, "A resubscribe needs a reason: say where they asked to come back."
        )
    every = repo.subscriptions_of(conn, subscriber_id, for_update=True)
    current = every.get(list_name)
    if current is None:
        raise ActionRefused(list_name, f"They were never subscribed to {list_name}.")
    if current is not Status.UNSUBSCRIBED:
        raise ActionRefused(list_name, REFUSED[current])
    blocked = blocked_by(every)
    if blocked is not None:
        raise ActionRefused(list_name, blocked_reason(*blocked))
    change = Change(
        subscriber_id=subscriber_id,
        list_name=list_name,
        status=Status.ACTIVE,
        previous=current,
        source=actor.source,
        detail=actor.detail("resubscribed", reason),
    )
    repo.apply_changes(conn, [change], now=now)
    record_changes(conn, hooks, [change], now=now)
    return change

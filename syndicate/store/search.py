"""Subscriber search for the HTTP API and the admin pages: a prefix of the address or of the
name, a list and a status, one keyset page at a time (in id order: a walk sees every row once,
and rows added meanwhile come at its end).

Fast at a million subscribers on SQLite and PostgreSQL because every filter is one index
range (migration 0023): a prefix is ``key >= p AND key < p + U+10FFFF`` in byte order (the
"C" collation on PostgreSQL), a list and status page is a range of
``ix_subscriptions_list_status_sub``. No ``LIKE '%…%'``: a substring needs a full scan.
``bench/subscriber_search.py`` measures it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import idna
from sqlalchemy import ColumnElement, Connection, and_, exists, func, literal, or_, select

from syndicate.models import Status
from syndicate.store.subscribers import subscriptions_of_many
from syndicate.store.tables import subscribers, subscriptions

MAX_LIMIT = 100
DENSE = 2000  # matches of a prefix from which it is filtered rather than looked up
MAX_TEXT = 254  # the longest address; anything longer matches nothing anyway
_PG_MAX_ID = 2**31 - 1  # the largest INTEGER of PostgreSQL
_TOP = "\U0010ffff"  # the greatest code point: every string that starts with p is < p + it
_CURSOR_PREFIX = "s1."
# Every text of this shape is a cursor (what the API's document says a cursor looks like);
# 15 hex digits stay below 2**63, which both databases compare without overflow.
CURSOR_PATTERN = re.compile(r"s1\.[0-9a-f]{1,15}")


class CursorError(ValueError):
    """A cursor that this module did not make (cut off, edited, or from another version)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cursor:
    """Where the next page starts: after subscriber ``after_id``."""

    after_id: int

    def encode(self) -> str:
        """The opaque text form (for a ``cursor=`` query parameter)."""
        return f"{_CURSOR_PREFIX}{self.after_id:x}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The cursor :meth:`encode` made; :class:`CursorError` for anything else."""
        if CURSOR_PATTERN.fullmatch(text) is None:
            raise CursorError("not a cursor from this API")
        return cls(after_id=int(text.removeprefix(_CURSOR_PREFIX), 16))


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberRow:
    """One subscriber found, with their status on each list they are on."""

    id: int
    email: str
    name: str | None
    created_at: datetime
    lists: tuple[tuple[str, Status], ...]  # by list name


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberPage:
    """One page of results; ``next`` is None on the last page."""

    items: tuple[SubscriberRow, ...]
    next: Cursor | None


def search_key(text: str) -> str:
    """What a search text is compared with: case-folded like ``email_key`` and ``name_key``."""
    return text.strip().casefold()


def _label(label: str) -> str:
    """A complete domain label in its stored (IDNA) form; as it is when it has none."""
    if label.isascii():
        return label
    try:
        return idna.alabel(label).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return label  # no stored address has it: it matches nothing, as it should


def address_keys(text: str) -> tuple[str, ...]:
    """The prefixes of stored address keys that a search text with an ``@`` can mean.

    Addresses are stored with the domain in IDNA form (``zoë@xn--exmple-cua.de``), so the
    part after the ``@`` is encoded as an address's would be: labels followed by a dot
    whole; the last, perhaps unfinished, label cannot be (the Punycode of ``exä`` is no
    prefix of that of ``exämple``), but the encoding starts with ``xn--`` and the label's
    ASCII letters in order, so that prefix finds it, and the label as typed finds ASCII
    domains. Without ``@`` (or with one the encoding leaves as it was): the key alone."""
    key = search_key(text)
    local, at, domain = text.strip().rpartition("@")
    if not at or len(key) > MAX_TEXT:
        return (key,)
    local = unicodedata.normalize("NFC", local).casefold()  # as email-validator stores it
    try:
        domain = idna.uts46_remap(domain, std3_rules=False, transitional=False)
    except (idna.IDNAError, UnicodeError):
        return (key,)
    *whole, last = domain.split(".")
    head = "".join(f"{_label(w)}." for w in whole)
    found = [f"{local}@{head}{last}"] if last.isascii() else []
    if last and not last.startswith("xn--"):
        basic = "".join(c for c in last if c.isascii())
        found.append(f"{local}@{head}xn--{basic}")
    return tuple(dict.fromkeys(k.casefold() for k in found))


def _prefix(column: Any, key: str, postgres: bool, *, indexed: bool = True) -> ColumnElement[bool]:
    # coalesce() hides the column from the planner: the prefix is then a filter on rows
    # met in id order, not an index range (see _dense).
    col = column if indexed else func.coalesce(column, "")
    col = col.collate("C") if postgres else col
    return and_(col >= key, col < key + _TOP)


def _dense(conn: Connection, key: str, emails: tuple[str, ...], postgres: bool) -> bool:
    """Whether at least :data:`DENSE` addresses or names start with ``key`` (two index
    ranges, each read no further than that).

    A rare prefix is best found by its index ranges, the matches then sorted by id (at
    most 2 × DENSE of them). A common one ("a", "el") would sort a large part of the table
    for one page: then the rows are read in id order (or in the list's index order) and
    the prefix filters them, which finds a page after about limit × N / DENSE rows at
    worst."""
    found = 0
    ranges = [(subscribers.c.email_key, e) for e in emails] + [(subscribers.c.name_key, key)]
    for column, prefix in ranges:
        first = select(literal(1)).where(_prefix(column, prefix, postgres)).limit(DENSE)
        found += conn.execute(select(func.count()).select_from(first.subquery())).scalar_one()
    return found >= DENSE


def search_subscribers(
    conn: Connection,
    *,
    text: str | None,
    list_name: str | None,
    status: str | None,
    after: Cursor | None,
    limit: int,
) -> SubscriberPage:
    """Subscribers whose address or name starts with ``text`` (case-insensitive), on
    ``list_name`` and/or in ``status`` there (without a list: on any list), after ``after``;
    at most ``limit`` (1..:data:`MAX_LIMIT`)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}, not {limit}")
    s, sub = subscribers.c, subscriptions.c
    postgres = conn.dialect.name == "postgresql"
    if list_name is not None:
        # One subscription per subscriber and list: the join adds no duplicates, and the
        # (list, status, subscriber) index gives the rows in page order.
        order: Any = sub.subscriber_id
        stmt = select(s.id, s.email, s.name, s.created_at).join(
            subscriptions, sub.subscriber_id == s.id
        )
        stmt = stmt.where(sub.list_name == list_name)
        if status is not None:
            stmt = stmt.where(sub.status == status)
    else:
        order = s.id
        stmt = select(s.id, s.email, s.name, s.created_at)
        if status is not None:
            stmt = stmt.where(exists().where(sub.subscriber_id == s.id, sub.status == status))
    if text is not None and (key := search_key(text)):
        if len(key) > MAX_TEXT:
            return SubscriberPage(items=(), next=None)
        emails = address_keys(text)
        indexed = not _dense(conn, key, emails, postgres)
        stmt = stmt.where(
            or_(
                *(_prefix(s.email_key, e, postgres, indexed=indexed) for e in emails),
                _prefix(s.name_key, key, postgres, indexed=indexed),
            )
        )
    if after is not None:
        if postgres and after.after_id >= _PG_MAX_ID:  # ids are int4 there: none is greater
            return SubscriberPage(items=(), next=None)
        # On both sides of the join: PostgreSQL does not carry a range across an equality,
        # and would otherwise merge-join subscribers from the first id.
        stmt = stmt.where(order > after.after_id, s.id > after.after_id)
    rows = conn.execute(stmt.order_by(order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    lists = subscriptions_of_many(conn, [r[0] for r in rows])
    items = tuple(
        SubscriberRow(
            id=r[0],
            email=r[1],
            name=r[2],
            created_at=r[3],
            lists=tuple(sorted(lists[r[0]].items())),
        )
        for r in rows
    )
    return SubscriberPage(items=items, next=Cursor(after_id=rows[-1][0]) if more else None)

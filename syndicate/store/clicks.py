"""Click counts per send and link: the links a send's mail holds, where each leads, and
how often it was followed (per subscriber only with ``[analytics] per_subscriber``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from syndicate.store.tables import click_links, deliveries, sends, subscriber_clicks, subscribers

_l = click_links.c
_sc = subscriber_clicks.c


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClicks:
    """One content link of a send and how often it was followed."""

    url: str
    clicks: int
    link_id: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriberClick:
    """Who followed a link (kept only with ``[analytics] per_subscriber = true``)."""

    link_id: int
    url: str
    subscriber_id: int
    email: str
    clicks: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a link of a send leads, and since when the send is out."""

    url: str
    send_started: datetime


def url_hash(url: str) -> str:
    """The key a link's URL is stored under (URLs may be long)."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def register_links(conn: Connection, send_id: int, urls: Iterable[str]) -> dict[str, int]:
    """The link id of each URL of a send, adding those not there yet (several processes
    building the same send agree: one row per send and URL)."""
    wanted = {url_hash(u): u for u in dict.fromkeys(urls)}
    if not wanted:
        return {}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert(click_links).on_conflict_do_nothing(),
        [{"send_id": send_id, "url_hash": h, "url": u, "clicks": 0} for h, u in wanted.items()],
    )
    found: dict[str, int] = {}
    keys = list(wanted)
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            select(_l.url_hash, _l.id).where(
                _l.send_id == send_id, _l.url_hash.in_(keys[start : start + 500])
            )
        )
        for key, link_id in rows:
            found[wanted[key]] = link_id
    return found


def target(conn: Connection, send_id: int, link_id: int) -> Target | None:
    """Where a link of a send leads; None when either is not (or no longer) recorded."""
    row = conn.execute(
        select(_l.url, sends.c.created_at)
        .join(sends, sends.c.id == _l.send_id)
        .where(_l.id == link_id, _l.send_id == send_id)
    ).first()
    return None if row is None else Target(url=row[0], send_started=row[1])


def delivered_at(conn: Connection, send_id: int, subscriber_id: int) -> datetime | None:
    """When a subscriber's copy of a send was last updated in the ledger (its delivery)."""
    d = deliveries.c
    found: datetime | None = conn.scalar(
        select(d.updated_at).where(d.send_id == send_id, d.subscriber_id == subscriber_id)
    )
    return found


def count_click(
    conn: Connection, link_id: int, *, subscriber_id: int | None, now: datetime
) -> None:
    """Count one click of a link: one row updated (and, per subscriber, one upserted)."""
    conn.execute(update(click_links).where(_l.id == link_id).values(clicks=_l.clicks + 1))
    if subscriber_id is None:
        return
    exists = conn.scalar(select(subscribers.c.id).where(subscribers.c.id == subscriber_id))
    if exists is None:  # erased since: the count stays, nobody is named
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(subscriber_clicks).values(
        link_id=link_id, subscriber_id=subscriber_id, clicks=1, first_at=now, last_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[_sc.link_id, _sc.subscriber_id],
            set_={"clicks": _sc.clicks + 1, "last_at": now},
        )
    )


def click_counts(conn: Connection, send_id: int) -> list[LinkClicks]:
    """Every counted link of a send, most clicked first (then in the order of the mail)."""
    rows = conn.execute(
        select(_l.id, _l.url, _l.clicks)
        .where(_l.send_id == send_id)
        .order_by(_l.clicks.desc(), _l.id)
    )
    return [LinkClicks(link_id=i, url=u, clicks=c) for i, u, c in rows]


def send_clicks(conn: Connection, send_id: int) -> list[LinkClicks] | None:
    """A send's links with their clicks, or None when its mail carried no counted link (its
    list did not count clicks then): a send that never counted shows no figure, not 0."""
    return click_counts(conn, send_id) or None


def subscriber_clicks_of(conn: Connection, send_id: int) -> list[SubscriberClick]:
    """Who followed which link of a send (empty unless ``per_subscriber`` was on)."""
    s = subscribers.c
    rows = conn.execute(
        select(_sc.link_id, _l.url, _sc.subscriber_id, s.email, _sc.clicks, _sc.first_at)
        .add_columns(_sc.last_at)
        .join(click_links, _l.id == _sc.link_id)
        .join(subscribers, s.id == _sc.subscriber_id)
        .where(_l.send_id == send_id)
        .order_by(_sc.link_id, _sc.subscriber_id)
    )
    return [
        SubscriberClick(
            link_id=r[0],
            url=r[1],
            subscriber_id=r[2],
            email=r[3],
            clicks=r[4],
            first_at=r[5],
            last_at=r[6],
        )
        for r in rows
    ]


def link_totals(conn: Connection, send_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(total clicks, counted links) of each of ``send_ids`` whose mail carried counted
    links, in one query (a send missing from the answer counted none)."""
    if not send_ids:
        return {}
    stmt = (
        select(_l.send_id, func.sum(_l.clicks), func.count())
        .where(_l.send_id.in_(list(send_ids)))
        .group_by(_l.send_id)
    )
    return {int(i): (int(total or 0), int(n)) for i, total, n in conn.execute(stmt)}


def clicker_totals(conn: Connection, send_ids: Sequence[int]) -> dict[int, int]:
    """Distinct readers who followed a link of each of ``send_ids`` (only where
    ``[analytics] per_subscriber`` recorded them; a send missing from the answer has none)."""
    if not send_ids:
        return {}
    stmt = (
        select(_l.send_id, func.count(func.distinct(_sc.subscriber_id)))
        .join(click_links, _l.id == _sc.link_id)
        .where(_l.send_id.in_(list(send_ids)))
        .group_by(_l.send_id)
    )
    return {int(i): int(n) for i, n in conn.execute(stmt)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Clicker:
    """One reader who followed links of a send (``per_subscriber`` only), all links summed."""

    subscriber_id: int
    email: str
    clicks: int
    links: int
    first_at: datetime


def readers_who_clicked(conn: Connection, send_id: int, *, limit: int) -> list[Clicker]:
    """Up to ``limit`` readers who clicked in a send, most clicks first (then by first
    click): what the desk's report lists (``syndicate report`` prints every row)."""
    s = subscribers.c
    clicks = func.sum(_sc.clicks)
    first = func.min(_sc.first_at)
    rows = conn.execute(
        select(_sc.subscriber_id, s.email, clicks, func.count(), first)
        .join(click_links, _l.id == _sc.link_id)
        .join(subscribers, s.id == _sc.subscriber_id)
        .where(_l.send_id == send_id)
        .group_by(_sc.subscriber_id, s.email)
        .order_by(clicks.desc(), first, _sc.subscriber_id)
        .limit(limit)
    )
    return [
        Clicker(subscriber_id=r[0], email=r[1], clicks=int(r[2]), links=int(r[3]), first_at=r[4])
        for r in rows
    ]

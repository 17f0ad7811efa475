"""Repository functions for subscribers, subscriptions and the consent trail."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from syndicate.models import Source, Status, Subscriber
from syndicate.store.rollups import count_changes
from syndicate.store.sql import BATCH, upsert
from syndicate.store.tables import subscribers, subscription_events, subscriptions

_COLUMNS = (
    subscribers.c.id,
    subscribers.c.email,
    subscribers.c.name,
    subscribers.c.created_at,
    subscriptions.c.topics,  # of the list read for; NULL (outer join, no list): none
    subscribers.c.attributes,
    subscribers.c.email_key,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class NewSubscriber:
    """A subscriber to insert."""

    email: str
    key: str
    name: str | None
    attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One status change of one subscription, for the consent trail."""

    subscriber_id: int
    list_name: str
    status: Status
    previous: Status | None
    source: Source
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A recorded status change."""

    list_name: str
    status: Status
    previous: Status | None
    at: datetime
    source: Source
    detail: str | None


def _subscriber(row: Sequence[Any]) -> Subscriber:
    return Subscriber(
        id=row[0],
        email=row[1],
        name=row[2],
        created_at=row[3],
        topics=tuple(json.loads(row[4] or "[]")),
        attributes=tuple(tuple(p) for p in json.loads(row[5])),
    )


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def name_key(name: str | None) -> str | None:
    """What subscriber search matches a name by (store/search.py): the name case-folded."""
    return None if name is None else name.casefold()


def _from(list_name: str | None) -> Any:
    """``subscribers`` with the subscription to ``list_name`` (if any) alongside."""
    return subscribers.outerjoin(
        subscriptions,
        (subscriptions.c.subscriber_id == subscribers.c.id)
        & (subscriptions.c.list_name == (list_name or "")),
    )


def find_subscribers(
    conn: Connection, keys: Sequence[str], list_name: str | None = None
) -> dict[str, Subscriber]:
    """Stored subscribers by case-folded address; ``topics`` are those chosen on
    ``list_name`` (empty without one: topics belong to a list, not a person)."""
    found: dict[str, Subscriber] = {}
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        stmt = select(*_COLUMNS).select_from(_from(list_name))
        for row in conn.execute(stmt.where(subscribers.c.email_key.in_(chunk))):
            found[row[6]] = _subscriber(row)
    return found


def insert_subscribers(
    conn: Connection, rows: Sequence[NewSubscriber], *, now: datetime
) -> dict[str, int]:
    """Insert new subscribers; their ids by case-folded address."""
    if not rows:
        return {}
    values = [
        {
            "email": r.email,
            "email_key": r.key,
            "name": r.name,
            "name_key": name_key(r.name),
            "created_at": now,
            "attributes": _json([list(p) for p in r.attributes]),
        }
        for r in rows
    ]
    stmt = subscribers.insert().returning(subscribers.c.email_key, subscribers.c.id)
    return {key: id_ for key, id_ in conn.execute(stmt, values)}


def update_subscribers(conn: Connection, rows: Sequence[Subscriber]) -> None:
    """Write new names and attributes of existing subscribers (topics: :func:`set_topics`)."""
    if not rows:
        return
    stmt = (
        update(subscribers)
        .where(subscribers.c.id == bindparam("sid"))
        .values(name=bindparam("name"), name_key=bindparam("nkey"), attributes=bindparam("attrs"))
    )
    conn.execute(
        stmt,
        [
            {
                "sid": r.id,
                "name": r.name,
                "nkey": name_key(r.name),
                "attrs": _json([list(p) for p in r.attributes]),
            }
            for r in rows
        ],
    )


def set_topics(
    conn: Connection, list_name: str, topics: Sequence[tuple[int, Sequence[str]]]
) -> None:
    """Store the topics each subscriber chose on ``list_name`` (their subscription must exist)."""
    if not topics:
        return
    stmt = (
        update(subscriptions)
        .where(
            subscriptions.c.subscriber_id == bindparam("sid"),
            subscriptions.c.list_name == list_name,
        )
        .values(topics=bindparam("t"))
    )
    conn.execute(stmt, [{"sid": sid, "t": _json(list(chosen))} for sid, chosen in topics])


def topics_of(conn: Connection, subscriber_id: int) -> dict[str, tuple[str, ...]]:
    """The topics a subscriber chose on each of their lists (empty: everything)."""
    stmt = select(subscriptions.c.list_name, subscriptions.c.topics).where(
        subscriptions.c.subscriber_id == subscriber_id
    )
    return {name: tuple(json.loads(raw)) for name, raw in conn.execute(stmt)}


def statuses(conn: Connection, ids: Sequence[int], list_name: str) -> dict[int, Status]:
    """Current status of each subscriber on ``list_name`` (absent: never subscribed)."""
    found: dict[int, Status] = {}
    for start in range(0, len(ids), BATCH):
        stmt = select(subscriptions.c.subscriber_id, subscriptions.c.status).where(
            subscriptions.c.list_name == list_name,
            subscriptions.c.subscriber_id.in_(ids[start : start + BATCH]),
        )
        found.update((sid, Status(status)) for sid, status in conn.execute(stmt))
    return found


def apply_changes(conn: Connection, changes: Sequence[Change], *, now: datetime) -> None:
    """Set the new statuses and append them to the consent trail, in one go."""
    if not changes:
        return
    # One row per subscription, its last status (PostgreSQL refuses to upsert a row twice
    # in one statement); the trail below keeps every change, in order.
    final = {
        (c.subscriber_id, c.list_name): {
            "subscriber_id": c.subscriber_id,
            "list_name": c.list_name,
            "status": c.status.value,
            "created_at": now,
            "updated_at": now,
        }
        for c in changes
    }
    upsert(
        conn,
        subscriptions,
        list(final.values()),
        keep={"created_at", "topics"},  # a status change keeps the topics; new rows get []
    )
    count_changes(
        conn,
        ((c.list_name, c.status.value, c.previous.value if c.previous else None) for c in changes),
        now=now,
    )
    conn.execute(
        subscription_events.insert(),
        [
            {
                "subscriber_id": c.subscriber_id,
                "list_name": c.list_name,
                "status": c.status.value,
                "previous": c.previous.value if c.previous else None,
                "at": now,
                "source": c.source.value,
                "detail": c.detail,
            }
            for c in changes
        ],
    )


def iter_list(
    conn: Connection, list_name: str, status: Status | None = None
) -> Iterator[tuple[Subscriber, Status]]:
    """Every subscriber of a list with their status (and ``topics`` on it), by address."""
    stmt = (
        select(*_COLUMNS, subscriptions.c.status)
        .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
        .where(subscriptions.c.list_name == list_name)
        .order_by(subscribers.c.email_key)
    )
    if status is not None:
        stmt = stmt.where(subscriptions.c.status == status.value)
    for row in conn.execution_options(yield_per=BATCH).execute(stmt):
        yield _subscriber(row), Status(row[7])


def iter_topics(
    conn: Connection, list_name: str, status: Status, *, skip: str | None = None
) -> Iterator[tuple[int, str]]:
    """Id and topics chosen on the list (a JSON list) of every subscriber of a list in ``status``;
    ``skip``: leave out those whose stored topics are exactly this."""
    stmt = select(subscriptions.c.subscriber_id, subscriptions.c.topics).where(
        subscriptions.c.list_name == list_name, subscriptions.c.status == status.value
    )
    if skip is not None:
        stmt = stmt.where(subscriptions.c.topics != skip)
    for row in conn.execution_options(yield_per=BATCH * 4).execute(stmt):
        yield row[0], row[1]


def subscriber_by_key(
    conn: Connection, key: str, list_name: str | None = None
) -> Subscriber | None:
    """One subscriber by case-folded address (``topics``: on ``list_name``, if given)."""
    return find_subscribers(conn, [key], list_name).get(key)


def subscriber_by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    """One subscriber by id (no ``topics``: those belong to a list, :func:`topics_of`)."""
    stmt = select(*_COLUMNS).select_from(_from(None))
    row = conn.execute(stmt.where(subscribers.c.id == subscriber_id)).first()
    return None if row is None else _subscriber(row)


def subscriptions_of(
    conn: Connection, subscriber_id: int, *, for_update: bool = False
) -> dict[str, Status]:
    """The lists a subscriber is on (in any status); ``for_update`` locks those rows until
    the transaction ends (PostgreSQL; SQLite has one writer anyway), for a change that
    depends on the status read."""
    stmt = _OF.with_for_update() if for_update else _OF
    return {name: Status(status) for name, status in conn.execute(stmt, {"sub": subscriber_id})}


def subscriptions_of_many(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Status]]:
    """:func:`subscriptions_of` for many subscribers (each id present, maybe empty)."""
    wanted = sorted(set(ids))
    found: dict[int, dict[str, Status]] = {sid: {} for sid in wanted}
    for start in range(0, len(wanted), BATCH):
        stmt = select(
            subscriptions.c.subscriber_id, subscriptions.c.list_name, subscriptions.c.status
        ).where(subscriptions.c.subscriber_id.in_(wanted[start : start + BATCH]))
        for sid, name, status in conn.execute(stmt):
            found[sid][name] = Status(status)
    return found


# Built once: the feedback intake asks this for every bounce that removes someone.
_OF = select(subscriptions.c.list_name, subscriptions.c.status).where(
    subscriptions.c.subscriber_id == bindparam("sub")
)


def events_of(conn: Connection, subscriber_id: int) -> list[Event]:
    """A subscriber's consent trail, oldest first."""
    e = subscription_events.c
    stmt = (
        select(e.list_name, e.status, e.previous, e.at, e.source, e.detail)
        .where(e.subscriber_id == subscriber_id)
        .order_by(e.id)
    )
    return [_event(r) for r in conn.execute(stmt)]


def _event(r: Sequence[Any]) -> Event:
    return Event(
        list_name=r[0],
        status=Status(r[1]),
        previous=Status(r[2]) if r[2] else None,
        at=r[3],
        source=Source(r[4]),
        detail=r[5],
    )


def recent_events(conn: Connection, subscriber_id: int, *, limit: int) -> list[Event]:
    """A subscriber's newest ``limit`` trail entries, newest first (the admin page's view:
    :func:`events_of` has them all); one range of ``ix_subscription_events_subscriber``."""
    e = subscription_events.c
    stmt = (
        select(e.list_name, e.status, e.previous, e.at, e.source, e.detail)
        .where(e.subscriber_id == subscriber_id)
        .order_by(e.id.desc())
        .limit(limit)
    )
    return [_event(r) for r in conn.execute(stmt)]


def count_events(conn: Connection, subscriber_id: int) -> int:
    """How many entries a subscriber's consent trail has."""
    e = subscription_events.c
    stmt = select(func.count()).select_from(subscription_events)
    return int(conn.scalar(stmt.where(e.subscriber_id == subscriber_id)) or 0)


def counts(conn: Connection, list_name: str | None = None) -> dict[str, dict[Status, int]]:
    """Number of subscribers per list and status."""
    s = subscriptions.c
    stmt = select(s.list_name, s.status, func.count()).group_by(s.list_name, s.status)
    if list_name is not None:
        stmt = stmt.where(s.list_name == list_name)
    out: dict[str, dict[Status, int]] = {}
    for name, status, n in conn.execute(stmt):
        out.setdefault(name, {})[Status(status)] = int(n)
    return out


def contacts(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[str, str | None]]:
    """Address and name of each subscriber id (what a webhook payload names them by)."""
    wanted = sorted(set(ids))
    found: dict[int, tuple[str, str | None]] = {}
    for start in range(0, len(wanted), BATCH):
        stmt = select(subscribers.c.id, subscribers.c.email, subscribers.c.name).where(
            subscribers.c.id.in_(wanted[start : start + BATCH])
        )
        found.update((r[0], (r[1], r[2])) for r in conn.execute(stmt))
    return found

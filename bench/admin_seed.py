"""Seed a store for ``bench/admin_pages.py``: N subscribers over four lists, a year of
their status changes, 200 sends with ledgers and feedback (see that script for the shape).

Rows go in through the database driver (``executemany`` on SQLite, ``COPY`` on PostgreSQL):
a million readers through the import command would take most of an hour. The rollups are
then built by the real migrations (0025 and 0026 undone and applied again), as for a store
upgraded with its data in it; their time is printed too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from syndicate.store.subscribers import name_key

LISTS = {"weekly": 0.5, "daily": 0.3, "monthly": 0.15, "offers": 0.05}
SENDS = {"weekly": 52, "daily": 104, "monthly": 12, "offers": 32}  # 200 in a year
FULL_LEDGERS = 10  # the newest finished sends get a copy per reader; older ones a sample
SAMPLE = 10_000  # ledger rows of each older send
YEAR = timedelta(days=365)
REPLY_FAIL = "550 5.1.1 <{}>: Recipient address rejected: User unknown"


@dataclass
class Seeded:
    """What went in, for the report."""

    subscribers: int = 0
    subscriptions: int = 0
    events: int = 0
    sends: int = 0
    deliveries: int = 0
    feedback: int = 0
    seconds: float = 0.0
    backfill_seconds: float = 0.0
    active: dict[str, list[int]] = field(default_factory=dict)  # list → active reader ids
    running_send: int = 0
    titles: dict[str, str] = field(default_factory=dict)


def _stamp(moment: datetime, sqlite: bool) -> Any:
    """A datetime as the store keeps it (SQLAlchemy's SQLite text format: naive UTC)."""
    if sqlite:
        return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


class Loader:
    """Bulk rows into one table at a time, the fastest way each driver offers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    def load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        raw = self.engine.raw_connection()
        count = 0
        try:
            cur = raw.cursor()
            if self.sqlite:
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                batch: list[Sequence[Any]] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= 50_000:
                        cur.executemany(sql, batch)
                        count += len(batch)
                        batch = []
                cur.executemany(sql, batch)
                count += len(batch)
            else:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            raw.commit()
        finally:
            raw.close()
        return count


def seed(engine: Engine, *, subscribers: int, now: datetime, seed_value: int = 17) -> Seeded:
    """Fill an empty store at HEAD; build the rollups through the migration."""
    started = time.perf_counter()
    rnd = random.Random(seed_value)
    load = Loader(engine)
    sq = load.sqlite
    out = Seeded(titles={name: name.title() for name in LISTS})
    names = list(LISTS)
    weights = list(LISTS.values())
    start = now - YEAR
    created = [start + YEAR * (i / subscribers) for i in range(subscribers)]  # growing

    def people() -> Iterator[tuple[Any, ...]]:
        for i in range(subscribers):
            email = f"reader{i + 1}@mail{i % 97}.example.org"
            name = f"Reader {i + 1}" if i % 3 else None
            yield i + 1, email, email, name, name_key(name), _stamp(created[i], sq), "{}"

    out.subscribers = load.load(
        "subscribers",
        ("id", "email", "email_key", "name", "name_key", "created_at", "attributes"),
        people(),
    )
    subs: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    active: dict[str, list[int]] = {n: [] for n in names}
    for i in range(subscribers):
        sid = i + 1
        lists = [rnd.choices(names, weights)[0]]
        if i % 10 == 0:
            lists.append("weekly" if lists[0] != "weekly" else "daily")
        for list_name in lists:
            at = created[i]
            r = rnd.random()
            status = (
                "pending"
                if r < 0.02
                else "unsubscribed"
                if r < 0.10
                else "bounced"
                if r < 0.13
                else "complained"
                if r < 0.135
                else "active"
            )
            first = "pending" if status == "pending" else "active"
            events.append((sid, list_name, first, None, _stamp(at, sq), "import", None))
            updated = at
            if status not in ("pending", "active"):
                updated = at + (now - at) * rnd.random()
                source = {"bounced": "bounce", "complained": "complaint"}.get(status, "web")
                events.append((sid, list_name, status, "active", _stamp(updated, sq), source, None))
            elif status == "active":
                active[list_name].append(sid)
            subs.append((sid, list_name, status, _stamp(at, sq), _stamp(updated, sq), "[]"))
    out.subscriptions = load.load(
        "subscriptions",
        ("subscriber_id", "list_name", "status", "created_at", "updated_at", "topics"),
        subs,
    )
    del subs
    events.sort(key=lambda e: e[4])
    out.events = load.load(
        "subscription_events",
        ("subscriber_id", "list_name", "status", "previous", "at", "source", "detail"),
        events,
    )
    del events
    out.active = active
    _sends(load, rnd, out, now=now)
    with engine.begin() as conn:
        if sq:
            conn.execute(text("ANALYZE"))
    if not sq:  # what autovacuum does after a bulk load: statistics, the visibility map
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            for table in ("subscribers", "sends", "subscription_events", "feedback_events"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT coalesce(max(id), 1) FROM {table}))")
                )  # fmt: skip
    out.seconds = time.perf_counter() - started
    out.backfill_seconds = _backfill(engine)
    return out


def _sends(load: Loader, rnd: random.Random, out: Seeded, *, now: datetime) -> None:
    """200 sends over the year; the newest (a weekly one) still sending."""
    sq = load.sqlite
    plan: list[tuple[datetime, str]] = []
    for list_name, n in SENDS.items():
        plan += [(now - YEAR + YEAR * ((k + 0.5) / n), list_name) for k in range(n)]
    plan.sort()
    plan[-1] = (now - timedelta(minutes=20), "weekly")
    issue: dict[str, int] = {}
    sends, digests = [], []
    for send_id, (at, list_name) in enumerate(plan, start=1):
        issue[list_name] = issue.get(list_name, 0) + 1
        digest = f"{list_name}-{issue[list_name]}"
        last = send_id == len(plan)
        status = "sending" if last else "done"
        finished = None if last else _stamp(at + timedelta(minutes=45), sq)
        sends.append((send_id, list_name, digest, status, _stamp(at, sq), finished))
        digests.append(
            (digest, list_name, issue[list_name], _stamp(at, sq), finished, "[]", "digest")
        )
    out.sends = load.load(
        "sends", ("id", "list_name", "digest_id", "status", "created_at", "finished_at"), sends
    )
    load.load(
        "digests",
        ("id", "list_name", "issue", "created_at", "sent_at", "article_ids", "kind"),
        digests,
    )
    out.running_send = len(plan)
    full = set(range(len(plan) - FULL_LEDGERS, len(plan) + 1))
    feedback: list[tuple[Any, ...]] = []

    def ledger() -> Iterator[tuple[Any, ...]]:
        for send_id, (at, list_name) in enumerate(plan, start=1):
            readers = out.active[list_name]
            if send_id not in full:
                readers = readers[:: max(1, len(readers) // SAMPLE)][:SAMPLE]
            running = send_id == len(plan)
            when = _stamp(at + timedelta(minutes=30), sq)
            for n, sid in enumerate(readers):
                r = rnd.random()
                if running and n > len(readers) * 0.6:
                    row = ("queued", 0, None, None)
                elif running and n > len(readers) * 0.59:
                    row = ("deferred", 1, 451, "451 4.7.1 Try again later")
                elif r < 0.005:
                    row = ("failed", 1, 550, REPLY_FAIL.format(f"reader{sid}"))
                elif r < 0.025:
                    row = ("skipped", 0, None, None)
                elif r < 0.055:
                    row = ("sent", 2, 250, "250 2.0.0 Ok: queued")
                else:
                    row = ("sent", 1, 250, "250 2.0.0 Ok: queued")
                yield (send_id, sid, "[]", row[0], row[1], when, row[2], row[3], when)
                if row[0] == "sent" and not running:
                    f = rnd.random()
                    kind = (
                        "hard" if f < 0.006 else "soft" if f < 0.01 else
                        "complaint" if f < 0.0105 else "ours" if f < 0.0115 else None
                    )  # fmt: skip
                    if kind is not None:
                        feedback.append((send_id, sid, kind, at))

    out.deliveries = load.load(
        "deliveries",
        (
            "send_id", "subscriber_id", "variant", "status", "attempts", "next_attempt_at",
            "last_code", "last_reply", "updated_at",
        ),
        ledger(),
    )  # fmt: skip

    def events() -> Iterator[tuple[Any, ...]]:
        for n, (send_id, sid, kind, at) in enumerate(feedback):
            diagnostic = {
                "hard": "550 5.1.1 user unknown",
                "soft": "452 4.2.2 mailbox full",
                "complaint": "abuse report (ARF)",
                "ours": "550 5.7.1 Service unavailable; client host blocked using a blocklist",
            }[kind]
            counts = (1 if sq else True) if n % 20 else (0 if sq else False)
            received = _stamp(at + timedelta(hours=2), sq)
            yield (
                f"bench-{n}", "maildir", kind, "5.1.1" if kind == "hard" else None,
                diagnostic, sid, send_id, "token", counts, "", received, received, "",
            )  # fmt: skip

    out.feedback = load.load(
        "feedback_events",
        (
            "event_id", "source", "outcome", "status", "diagnostic", "subscriber_id",
            "send_id", "matched_by", "counts", "note", "received_at", "processed_at", "effect",
        ),
        events(),
    )  # fmt: skip


def _backfill(engine: Engine) -> float:
    """Undo migrations 0025 and 0026 and apply them again (their backfills read the whole
    trail, every finished ledger and the feedback once); their seconds."""
    from alembic import command

    from syndicate.store.engine import _alembic_config, upgrade

    command.downgrade(_alembic_config(engine), "0024")  # undoes 0025 and 0026
    started = time.perf_counter()
    upgrade(engine)
    return time.perf_counter() - started

"""Benchmark subscriber search (syndicate/store/search.py) at 1,000,000 subscribers.

Target (issue 17): a search answers in ≤ 200 ms (median) on SQLite and PostgreSQL.

    python bench/subscriber_search.py [--subscribers 1000000] [--runs 21]
        [--backend sqlite|postgresql|both] [--pg-url URL]

The store is made by the real migrations (``open_store``), then seeded fast, not timed:
``executemany`` in chunks of 20,000 on SQLite, ``COPY`` on PostgreSQL (a throwaway schema,
dropped afterwards; the URL comes from ``--pg-url``, else ``SYNDICATE_TEST_DATABASE_URL``).
Everyone is on ``weekly`` (90 % active, 4 % unsubscribed, 3 % pending, 2 % bounced, 1 %
complained) and 30 % also on ``daily``; names are drawn from 200 first and 200 last names,
addresses are ``first.last<n>@<one of 50 domains>``. After seeding, ``ANALYZE`` runs (as
autovacuum would on PostgreSQL; SQLite's planner uses it too).

Each query is a real :func:`search_subscribers` call (50 per page, as the API's default)
through SQLAlchemy on one connection; the figure is the median wall time of ``--runs``
calls, after one warm-up call.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text

from syndicate.store import open_store
from syndicate.store.search import Cursor, SubscriberPage, search_subscribers

FIRST = [
    f"{a}{b}"
    for a in ("Ma", "Jo", "An", "El", "Sa", "Lu", "Ka", "Ni", "Ro", "Te")
    for b in (
        "ria",
        "han",
        "na",
        "sa",
        "ra",
        "ke",
        "tja",
        "no",
        "sie",
        "o",
        "nas",
        "la",
        "mi",
        "ren",
        "dra",
        "lia",
        "vi",
        "ko",
        "rie",
        "ta",
    )
]
LAST = [
    f"{a}{b}"
    for a in ("Gar", "Mül", "Sil", "Kow", "Ber", "Dub", "Ros", "Nov", "Lar", "Fer")
    for b in (
        "cia",
        "ler",
        "va",
        "alski",
        "ger",
        "ois",
        "si",
        "ak",
        "sen",
        "reira",
        "mann",
        "ez",
        "tti",
        "berg",
        "ova",
        "ard",
        "ini",
        "son",
        "ić",
        "ado",
    )
]
DOMAINS = [f"mail{i}.example" for i in range(45)] + [
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "gmx.de",
    "web.de",
]
CHUNK = 20_000
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def people(n: int, seed: int = 17) -> Iterator[tuple[int, str, str, str, str]]:
    """(id, email, key, name, name_key) for ids 1..n, the same every run."""
    rnd = random.Random(seed)
    for i in range(1, n + 1):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{i}@{rnd.choice(DOMAINS)}"
        name = f"{first} {last}"
        yield i, email, email.casefold(), name, name.casefold()


def weekly_status(i: int) -> str:
    r = (i * 7919) % 100
    if r < 90:
        return "active"
    if r < 94:
        return "unsubscribed"
    if r < 97:
        return "pending"
    return "bounced" if r < 99 else "complained"


def subscriptions(n: int) -> Iterator[tuple[int, str, str]]:
    for i in range(1, n + 1):
        yield i, "weekly", weekly_status(i)
        if (i * 104729) % 10 < 3:
            yield i, "daily", "active"


def _chunks(rows: Iterator[Any]) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def seed_sqlite(engine: Engine, n: int) -> None:
    stamp = NOW.replace(tzinfo=None).isoformat(sep=" ")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for chunk in _chunks(people(n)):
            cur.executemany(
                "INSERT INTO subscribers (id, email, email_key, name, name_key, created_at,"
                " attributes) VALUES (?, ?, ?, ?, ?, ?, '[]')",
                [(*p, stamp) for p in chunk],
            )
        for chunk in _chunks(subscriptions(n)):
            cur.executemany(
                "INSERT INTO subscriptions (subscriber_id, list_name, status, created_at,"
                " updated_at, topics) VALUES (?, ?, ?, ?, ?, '[]')",
                [(*s, stamp, stamp) for s in chunk],
            )
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def _copy(cur: Any, sql: str, rows: Iterator[tuple[Any, ...]]) -> None:
    with cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def seed_postgres(engine: Engine, n: int) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        _copy(
            cur,
            "COPY subscribers (id, email, email_key, name, name_key, created_at, attributes)"
            " FROM STDIN",
            ((*p, NOW, "[]") for p in people(n)),
        )
        _copy(
            cur,
            "COPY subscriptions (subscriber_id, list_name, status, created_at, updated_at,"
            " topics) FROM STDIN",
            ((*s, NOW, NOW, "[]") for s in subscriptions(n)),
        )
        cur.execute("SELECT setval('subscribers_id_seq', %s)", (n,))
        raw.commit()
        cur.execute("ANALYZE subscribers")
        cur.execute("ANALYZE subscriptions")
        raw.commit()
    finally:
        raw.close()


def median_ms(call: Callable[[], SubscriberPage], runs: int) -> tuple[float, int]:
    page = call()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        page = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, len(page.items)


def queries(conn: Connection) -> list[tuple[str, Callable[[], SubscriberPage]]]:
    def search(**kw: Any) -> Callable[[], SubscriberPage]:
        args = {"text": None, "list_name": None, "status": None, "after": None, "limit": 50}
        args.update(kw)
        return lambda: search_subscribers(conn, **args)

    first = search(list_name="weekly", status="active")()
    assert first.next is not None
    deep = search(list_name="weekly", status="active", after=Cursor(after_id=900_000))
    return [
        ("no filter, first page", search()),
        ("address prefix 'maria.gar'", search(text="maria.gar")),
        ("address prefix 'johan.müller12'", search(text="johan.müller12")),
        ("name prefix 'Sasa Ber'", search(text="Sasa Ber")),
        ("name prefix 'el' (many matches)", search(text="el")),
        ("list weekly + status active", search(list_name="weekly", status="active")),
        ("  ... page 2 via cursor", search(list_name="weekly", status="active", after=first.next)),
        ("  ... a page near the end", deep),
        ("list weekly + status bounced", search(list_name="weekly", status="bounced")),
        ("status complained (any list)", search(status="complained")),
        ("'maria' on daily, active", search(text="maria", list_name="daily", status="active")),
        ("'el' on weekly, bounced", search(text="el", list_name="weekly", status="bounced")),
        ("prefix that matches nobody", search(text="zzz")),
    ]


def run(name: str, engine: Engine, n: int, runs: int, seed: Callable[[Engine, int], None]) -> None:
    start = time.perf_counter()
    seed(engine, n)
    print(f"\n{name}: seeded {n:,} subscribers in {time.perf_counter() - start:.0f} s")
    with engine.connect() as conn:
        for label, call in queries(conn):
            ms, found = median_ms(call, runs)
            print(f"  {label:<36} {ms:8.2f} ms  ({found} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("SYNDICATE_TEST_DATABASE_URL"))
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = open_store(f"sqlite:///{Path(tmp) / 'state.db'}")
            try:
                run("SQLite", engine, args.subscribers, args.runs, seed_sqlite)
            finally:
                engine.dispose()
    if args.backend in ("postgresql", "both"):
        if not args.pg_url:
            raise SystemExit("PostgreSQL: give --pg-url or set SYNDICATE_TEST_DATABASE_URL")
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in args.pg_url else "?"
        engine = open_store(f"{args.pg_url}{sep}options=-csearch_path%3D{schema}")
        try:
            version = admin.connect().execute(text("SHOW server_version")).scalar()
            run(f"PostgreSQL {version}", engine, args.subscribers, args.runs, seed_postgres)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()

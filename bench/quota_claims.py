"""Benchmark what ``[smtp] daily_limit`` costs a claim, on a ledger of a million rows.

Issue 15: the allowance is counted inside every claim's transaction (copies sent in the
last 24 hours, copies leased now, from partial indexes). This measures, on PostgreSQL (a
fresh schema, dropped afterwards) and SQLite (a temp file), with ``--rows`` ledger rows of
which ``--sent`` were sent within the last 24 hours and the rest are queued:

- ``allowance``: one ``delivery.quota.allowance`` call (take_turn + counts), median of 50;
- ``claim``: one claim of 100 rows (then recorded as sent, untimed), median of 50, without
  and with a quota, interleaved (``daily_limit`` above what was sent, so the counts walk all
  ``--sent`` index entries).

    python bench/quota_claims.py [--rows 1000000] [--sent 50000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--skip-sqlite]
        [--drop-leased-index]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, TextClause, bindparam, create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from syndicate.delivery.quota import Quota, allowance
from syndicate.store import deliveries as ledger
from syndicate.store import open_store
from syndicate.store.tables import UTCDateTime

NOW = datetime.now(UTC).replace(microsecond=0)
RUNS = 50


def sql(statement: str) -> TextClause:
    """Raw SQL whose times go through the store's own column type (UTC on every backend)."""
    return text(statement).bindparams(
        *(
            bindparam(name, type_=UTCDateTime())
            for name in ("now", "stamp")
            if f":{name}" in statement
        )
    )


def fill(engine: Engine, rows: int, sent: int) -> int:
    """One send of ``rows`` ledger rows, the first ``sent`` of them sent an hour ago."""
    stamp, now = NOW - timedelta(hours=1), NOW
    pg = engine.dialect.name == "postgresql"
    series = (
        f"generate_series(1, {rows}) AS g(i)"
        if pg
        else f"(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows})"
        " SELECT i FROM c) AS g"
    )
    with engine.begin() as conn:
        conn.execute(
            sql(
                "INSERT INTO digests (id, list_name, issue, created_at, article_ids) "
                "VALUES ('weekly-1', 'weekly', 1, :now, '[]')"
            ),
            {"now": now},
        )
        send_id = conn.execute(
            sql(
                "INSERT INTO sends (list_name, digest_id, status, created_at) "
                "VALUES ('weekly', 'weekly-1', 'sending', :now) RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        conn.execute(
            sql(
                "INSERT INTO subscribers (id, email, email_key, created_at, attributes) "
                f"SELECT i, 'r' || i || '@example.org', 'r' || i || '@example.org', :now, '{{}}' "
                f"FROM {series}"
            ),
            {"now": now},
        )
        conn.execute(
            sql(
                "INSERT INTO deliveries (send_id, subscriber_id, variant, status, attempts, "
                "next_attempt_at, updated_at) SELECT :send, i, '[]', "
                f"CASE WHEN i <= {sent} THEN 'sent' ELSE 'queued' END, 0, :now, "
                f"CASE WHEN i <= {sent} THEN :stamp ELSE :now END FROM {series}"
            ),
            {"send": send_id, "now": now, "stamp": stamp},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
        if pg:
            conn.execute(text("VACUUM deliveries"))
    return int(send_id)


def median_ms(work: Callable[[], object]) -> float:
    """Median wall time of ``RUNS`` calls, in ms."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(engine: Engine, name: str, rows: int, sent: int, *, drop: bool = False) -> None:
    if drop:
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_deliveries_leased"))
        name += " (no ix_deliveries_leased)"
    send_id = fill(engine, rows, sent)
    quota = Quota(domain="news.example.org", daily_limit=sent * 2)

    def one_allowance() -> object:
        with engine.begin() as conn:
            return allowance(conn, quota, now=NOW, take_turn=True)

    def claim(with_quota: bool) -> float:
        """One claim of 100 rows (timed), then their answers recorded (not timed), as a
        courier does: the next claim walks on to the next rows."""
        with engine.begin() as conn:
            started = time.perf_counter()
            if with_quota:
                allowance(conn, quota, now=NOW, take_turn=True)
            taken = ledger.claim(
                conn,
                send_id,
                "weekly",
                "bench:1",
                now=NOW,
                lease=timedelta(minutes=5),
                limit=100,
            )
            spent = time.perf_counter() - started
            answers = [
                ledger.Answer(subscriber_id=r.subscriber_id, status=ledger.DeliveryStatus.SENT)
                for r in taken
            ]
            ledger.record_many(conn, send_id, answers, now=NOW)
        return spent

    found = one_allowance()
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(2 * RUNS):  # interleaved: both see the same ledger
        times[i % 2 == 1].append(claim(i % 2 == 1))
    plain = statistics.median(times[False]) * 1000
    limited = statistics.median(times[True]) * 1000
    print(
        f"{name}: {rows:,} rows, {sent:,} sent in 24 h -> "
        f"allowance {median_ms(one_allowance):.2f} ms; "
        f"claim of 100: {plain:.2f} ms without a quota, {limited:.2f} ms with "
        f"(x{limited / plain:.2f}); {found}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sent", type=int, default=50_000)
    parser.add_argument(
        "--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--drop-leased-index",
        action="store_true",
        help="drop ix_deliveries_leased first: what that index costs claims without a quota",
    )
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in args.database_url else "?"
    try:
        engine = open_store(f"{args.database_url}{sep}options=-csearch_path%3D{schema}")
        measure(engine, "PostgreSQL", args.rows, args.sent, drop=args.drop_leased_index)
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            engine = open_store(f"sqlite:///{folder}/bench.db")
            measure(engine, "SQLite", args.rows, args.sent, drop=args.drop_leased_index)
            engine.dispose()


if __name__ == "__main__":
    main()

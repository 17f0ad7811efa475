"""The ``send_feedback`` rollup (migration 0026) against the raw ``feedback_events``, on SQLite
and PostgreSQL: a real send to five readers, then bounces, complaints and refusals taken by
the real intake (``feedback.intake.take``, matched by address and by provider event) in
several batches, soft then hard for one reader, repeats, untrusted and unmatched ones, and
a batch through ``record_many``. After each batch the rollup the desk reads
(``store.desk.feedback_of``) equals a count made here from the raw rows, and the migration's
backfill of the same store gives the same rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from syndicate.feedback.intake import take
from syndicate.feedback.report import Feedback, Outcome
from syndicate.store import desk, open_store
from syndicate.store import feedback as feedback_repo
from syndicate.store.engine import _alembic_config
from syndicate.store.tables import feedback_events, send_feedback, sends
from tests.conftest import Site
from tests.smtpserver import serve_smtp
from tests.test_feedback_intake import BOUNCES, TWO_LISTS, load
from tests.test_send import CONFIG, SECRET, article, fast, run_send, smtp

READERS = [f"r{i}@example.org" for i in range(5)]


@pytest.fixture
def mailed(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> tuple[Site, dict[str, int]]:
    """Weekly sent to five readers (two also on daily, sent too); every subscriber's id."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site = any_site
    site.configure(CONFIG + TWO_LISTS + BOUNCES)
    article(site, "first", datetime.now(UTC) - timedelta(days=1))
    load(site, READERS[:2], "daily")
    ids = load(site, READERS)
    with serve_smtp() as server:
        run_send(site, lambda: smtp(server), fast())
    return site, ids


def raw_counts(site: Site) -> dict[int, desk.Feedback]:
    """Per send, distinct trusted readers by kind, counted here from the raw events."""
    f = feedback_events.c
    seen: dict[int, dict[str, set[int]]] = {}
    with site.engine.connect() as conn:
        rows = conn.execute(select(f.send_id, f.subscriber_id, f.outcome, f.counts)).all()
    for send_id, reader, outcome, counts in rows:
        if send_id is None or reader is None or not counts:
            continue
        kind = {"hard": "b", "soft": "b", "complaint": "c", "ours": "r"}.get(outcome)
        if kind is not None:
            seen.setdefault(send_id, {"b": set(), "c": set(), "r": set()})[kind].add(reader)
    return {
        s: desk.Feedback(bounced=len(k["b"]), complained=len(k["c"]), refused=len(k["r"]))
        for s, k in seen.items()
    }


def rollup(site: Site) -> dict[int, desk.Feedback]:
    with site.engine.connect() as conn:
        all_sends = [r[0] for r in conn.execute(select(sends.c.id))]
        found = desk.feedback_of(conn, all_sends)
    return {s: fb for s, fb in found.items() if fb != desk.Feedback()}


def item(n: int, outcome: Outcome, who: str) -> Feedback:
    return Feedback(
        outcome=outcome, source="dsn", event_id=f"e{n}", recipient=who, diagnostic=f"d {n}"
    )


def test_the_rollup_equals_a_count_of_the_raw_events(mailed: tuple[Site, dict[str, int]]) -> None:
    site, ids = mailed
    settings = site.settings
    batches: Sequence[tuple[list[Feedback], bool]] = [
        ([item(1, Outcome.SOFT, READERS[0])], False),
        ([item(2, Outcome.HARD, READERS[0]), item(3, Outcome.SOFT, READERS[1])], False),
        ([item(4, Outcome.COMPLAINT, READERS[2]), item(5, Outcome.COMPLAINT, READERS[2])], False),
        ([item(6, Outcome.OURS, READERS[3]), item(7, Outcome.OURS, READERS[0])], False),
        ([item(1, Outcome.SOFT, READERS[0])], False),  # the same event again: nothing changes
        ([item(8, Outcome.HARD, "nobody@example.org")], False),  # matches no copy
        ([item(9, Outcome.DELAYED, READERS[4]), item(10, Outcome.DELIVERED, READERS[4])], False),
        ([item(11, Outcome.SOFT, READERS[4])], True),  # a provider's event
    ]
    seen_kinds = 0
    for items, trusted in batches:
        take(site.engine, settings, items, trusted=trusted)
        expected = raw_counts(site)
        assert rollup(site) == expected
        seen_kinds = max(seen_kinds, len(expected))
    assert seen_kinds >= 1
    final = raw_counts(site)
    assert sum(fb.bounced for fb in final.values()) >= 3  # r0 once, r1, r4
    assert any(fb.complained == 1 for fb in final.values())  # r2 twice: one reader

    # Untrusted (counts false) and unmatched rows through the batch insert change nothing;
    # a trusted one does.
    with site.engine.connect() as conn:
        send_id = conn.scalar(select(sends.c.id).where(sends.c.list_name == "weekly"))
    assert send_id is not None
    base = {
        "source": "maildir", "recipient": None, "original_recipient": None, "status": None,
        "diagnostic": "x", "message_id": None, "matched_by": "address", "note": "",
        "received_at": datetime.now(UTC), "processed_at": None, "effect": None,
    }  # fmt: skip
    with site.engine.begin() as conn:
        feedback_repo.record_many(
            conn,
            [
                {**base, "event_id": "m1", "outcome": "hard", "subscriber_id": ids[READERS[3]],
                 "send_id": send_id, "counts": False},
                {**base, "event_id": "m2", "outcome": "complaint", "subscriber_id": None,
                 "send_id": send_id, "counts": True},
                {**base, "event_id": "m3", "outcome": "complaint", "subscriber_id": ids[READERS[4]],
                 "send_id": send_id, "counts": True},
            ],
        )  # fmt: skip
    after = raw_counts(site)
    assert after[send_id].complained == final.get(send_id, desk.Feedback()).complained + 1
    assert rollup(site) == after

    # The migration's backfill of this store gives the very same rows.
    with site.engine.connect() as conn:
        kept = sorted(tuple(r) for r in conn.execute(select(send_feedback)))
    from alembic import command

    command.downgrade(_alembic_config(site.engine), "0025")
    site.engine.dispose()
    engine = open_store(site.db_url)
    try:
        with engine.connect() as conn:
            rebuilt = sorted(tuple(r) for r in conn.execute(select(send_feedback)))
    finally:
        engine.dispose()
    assert [r for r in rebuilt if r[1:] != (0, 0, 0)] == [r for r in kept if r[1:] != (0, 0, 0)]


def old_refused(site: Site, since: datetime) -> list[tuple[str, str, int]]:
    """Refusals by week and words, counted here in Python from the raw rows (the newest
    2000 trusted ones), as the page counted them before the grouping moved into SQL."""
    f = feedback_events.c
    with site.engine.connect() as conn:
        rows = conn.execute(
            select(f.received_at, f.diagnostic, f.subscriber_id, f.counts).where(
                f.outcome == "ours"
            )
        ).all()
    kept = sorted(
        ((at, d) for at, d, reader, counts in rows if reader and counts and at >= since),
        reverse=True,
    )[:2000]
    counted: dict[tuple[str, str], int] = {}
    for at, diagnostic in kept:
        day = at.astimezone(UTC).date()
        week = (day - timedelta(days=day.weekday())).isoformat()
        key = (week, " ".join(diagnostic.split())[:120])
        counted[key] = counted.get(key, 0) + 1
    return sorted(((w, d, n) for (w, d), n in counted.items()), reverse=True)


def test_refusals_by_week_are_counted_as_from_the_raw_rows(
    mailed: tuple[Site, dict[str, int]],
) -> None:
    site, ids = mailed
    with site.engine.connect() as conn:
        send_id = conn.scalar(select(sends.c.id).where(sends.c.list_name == "weekly"))
    sunday = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)  # a week's last half hour, UTC
    words = [
        "550 5.7.1 listed at  a blocklist",
        "550 5.7.1 listed at a blocklist",
        "554 " + "x" * 200,
    ]
    rows = []
    for n in range(60):
        rows.append(
            {
                "event_id": f"o{n}", "source": "maildir", "outcome": "ours", "recipient": None,
                "original_recipient": None, "status": None, "diagnostic": words[n % 3],
                "message_id": None, "subscriber_id": ids[READERS[n % 5]] if n % 7 else None,
                "send_id": send_id, "matched_by": "address", "counts": n % 11 != 0,
                "note": "", "received_at": sunday + timedelta(minutes=13 * n - 400),
                "processed_at": None, "effect": None,
            }
        )  # fmt: skip
    with site.engine.begin() as conn:
        feedback_repo.record_many(conn, rows)
    since = sunday - timedelta(hours=5)
    with site.engine.connect() as conn:
        found = desk.refused_since(conn, since=since)
    expected = old_refused(site, since)
    assert found == expected
    assert len({w for w, _, _ in found}) == 2  # both sides of Monday 00:00 UTC
    assert sum(n for *_, n in found) > 30


def test_concurrent_intakes_count_a_reader_once(mailed: tuple[Site, dict[str, int]]) -> None:
    """Two transactions record a bounce of the same reader on the same send at once: the
    second waits for the first (the rollup row's lock, the row there already) and then
    sees its event."""
    site, ids = mailed
    with site.engine.connect() as conn:
        send_id = conn.scalar(select(sends.c.id).where(sends.c.list_name == "weekly"))

    def row(n: int, outcome: str) -> dict[str, object]:
        return {
            "event_id": f"c{n}", "source": "maildir", "outcome": outcome, "recipient": None,
            "original_recipient": None, "status": None, "diagnostic": "x", "message_id": None,
            "subscriber_id": ids[READERS[1]], "send_id": send_id, "matched_by": "address",
            "counts": True, "note": "", "received_at": datetime.now(UTC),
            "processed_at": None, "effect": None,
        }  # fmt: skip

    done: list[BaseException | None] = []

    def second() -> None:
        try:
            with site.engine.begin() as conn:
                feedback_repo.record(conn, row(2, "hard"))
            done.append(None)
        except BaseException as exc:  # reported below
            done.append(exc)

    earlier = {**row(0, "complaint"), "subscriber_id": ids[READERS[0]]}
    with site.engine.begin() as conn:  # the send's rollup row exists (committed) already
        feedback_repo.record(conn, earlier)
    first = site.engine.connect()
    try:
        with first.begin():
            feedback_repo.record(first, row(1, "soft"))
            other = threading.Thread(target=second)
            other.start()
            time.sleep(0.5)  # the second is waiting for the first now
            assert not done
    finally:
        first.close()
    other.join(20)
    assert done == [None]
    expected = {send_id: desk.Feedback(bounced=1, complained=1)}
    assert rollup(site) == raw_counts(site) == expected

"""The delivery ledger and send locks (store layer), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection

from syndicate.models import Status
from syndicate.store import deliveries as ledger
from syndicate.store import history, locks
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as repo
from syndicate.store.deliveries import DeliveryStatus, Due
from syndicate.store.sends import SendStatus
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import NOW, Site

LISTS = '\n[lists.weekly]\ntitle = "Weekly"\n'


@pytest.fixture
def ledger_site(any_site: Site) -> Site:
    any_site.configure(LISTS)
    text = "email,name\n" + "".join(f"p{i}@example.org,P{i}\n" for i in range(5))
    import_rows(any_site.engine, "weekly", read_rows(io.BytesIO(text.encode()), "s.csv"), now=NOW)
    return any_site


def due(conn: Connection, send_id: int, now: datetime) -> list[Due]:
    """What a claimer would get now, without keeping the claim."""
    rows = ledger.claim(
        conn, send_id, "weekly", "probe:1", now=now, lease=timedelta(seconds=1), limit=100
    )
    ledger.release_leases(conn, send_id, ["probe:1"])
    return rows


def ids(site: Site) -> list[int]:
    with site.engine.connect() as conn:
        return [s.id for s, _ in repo.iter_list(conn, "weekly")]


def test_ledger_rows_are_written_once_and_resume_where_they_were(ledger_site: Site) -> None:
    everyone = ids(ledger_site)
    with ledger_site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, send_id, [(sid, "[]") for sid in everyone[:3]], now=NOW)
    with ledger_site.engine.begin() as conn:  # a resumed preparation enqueues everyone again
        ledger.enqueue(conn, send_id, [(sid, "[]") for sid in everyone], now=NOW)
        send_repo.set_send_status(conn, send_id, SendStatus.SENDING, now=NOW)
        assert ledger.counts(conn, send_id) == {DeliveryStatus.QUEUED: 5}
        found = send_repo.interrupted_send(conn, "weekly")
        assert found is not None and (found.id, found.status) == (send_id, SendStatus.SENDING)


def test_outcomes_and_retries(ledger_site: Site) -> None:
    a, b, c, d, e = ids(ledger_site)
    with ledger_site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, send_id, [(sid, "[]") for sid in (a, b, c, d, e)], now=NOW)
        assert len(due(conn, send_id, NOW)) == 5
        ledger.record(conn, send_id, a, DeliveryStatus.SENT, now=NOW, code=250, reply="ok")
        later = NOW + timedelta(minutes=5)
        ledger.record(
            conn,
            send_id,
            b,
            DeliveryStatus.DEFERRED,
            now=NOW,
            code=451,
            reply="try later",
            retry_at=later,
        )
        ledger.record(
            conn, send_id, c, DeliveryStatus.FAILED, now=NOW, code=550, reply="no such user"
        )
        due_now = {r.subscriber_id for r in due(conn, send_id, NOW)}
        assert due_now == {d, e}
        due_later = {r.subscriber_id for r in due(conn, send_id, later)}
        assert due_later == {b, d, e}
        assert ledger.next_retry(conn, send_id) == later
        assert ledger.counts(conn, send_id) == {
            DeliveryStatus.SENT: 1,
            DeliveryStatus.DEFERRED: 1,
            DeliveryStatus.FAILED: 1,
            DeliveryStatus.QUEUED: 2,
        }


def test_someone_who_left_during_a_send_is_marked(ledger_site: Site) -> None:
    a, *rest = ids(ledger_site)
    with ledger_site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, send_id, [(sid, "[]") for sid in (a, *rest)], now=NOW)
        repo.apply_changes(
            conn,
            [
                repo.Change(
                    subscriber_id=a,
                    list_name="weekly",
                    status=Status.UNSUBSCRIBED,
                    previous=Status.ACTIVE,
                    source=repo.Source.WEB,
                )
            ],
            now=NOW,
        )
        rows = {r.subscriber_id: r for r in due(conn, send_id, NOW)}
    assert rows[a].still_subscribed is False
    assert all(rows[sid].still_subscribed for sid in rest)


def test_one_sender_per_list_and_dead_owners_are_replaced(ledger_site: Site) -> None:
    stale = timedelta(minutes=5)
    with ledger_site.engine.begin() as conn:
        assert locks.acquire_lock(conn, "weekly", "host:1", now=NOW, stale_after=stale) is None
        assert locks.acquire_lock(conn, "weekly", "host:2", now=NOW, stale_after=stale) == "host:1"
        # The caller found that host:1 is gone: the lock is taken over.
        assert (
            locks.acquire_lock(conn, "weekly", "host:2", now=NOW, stale_after=stale, alive=False)
            is None
        )
        assert locks.lock_owner(conn, "weekly") == "host:2"
        # A heartbeat older than stale_after is taken over too.
        later = NOW + timedelta(minutes=6)
        assert locks.acquire_lock(conn, "weekly", "host:3", now=later, stale_after=stale) is None
        locks.heartbeat(conn, "weekly", "host:3", now=later)
        locks.release_lock(conn, "weekly", "host:3")
        assert locks.lock_owner(conn, "weekly") is None


def test_interrupted_retrying_and_abandoned_sends(ledger_site: Site) -> None:
    a, b, c, *_ = ids(ledger_site)
    later = NOW + timedelta(minutes=5)
    with ledger_site.engine.begin() as conn:
        old = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, old, [(a, "[]"), (b, "[]"), (c, "[]")], now=NOW)
        send_repo.set_send_status(conn, old, SendStatus.SENDING, now=NOW)
        assert send_repo.interrupted_send(conn, "weekly") == send_repo.find_send(conn, "weekly-1")
        # every row tried once, one deferred: retrying, no longer interrupted
        ledger.record(conn, old, a, DeliveryStatus.SENT, now=NOW, code=250, reply="ok")
        ledger.record(conn, old, b, DeliveryStatus.FAILED, now=NOW, code=550, reply="no user")
        ledger.record(
            conn, old, c, DeliveryStatus.DEFERRED, now=NOW, code=451, reply="busy", retry_at=later
        )
        assert send_repo.interrupted_send(conn, "weekly") is None
        new = send_repo.create_send(conn, "weekly", "weekly-2", now=later)
        assert [s.digest_id for s in send_repo.unfinished_sends(conn, "weekly")] == [
            "weekly-1",
            "weekly-2",
        ]
        found = send_repo.interrupted_send(conn, "weekly")
        assert found is not None and found.id == new  # preparing: resumed first
        send_repo.record_error(conn, old, "cannot connect to x:25: refused\r\n" * 100, now=NOW)

        problems = {p.email: p for p in history.problems(conn, old, "weekly")}
        assert set(problems) == {"p1@example.org", "p2@example.org"}
        assert (problems["p1@example.org"].status, problems["p1@example.org"].code) == (
            DeliveryStatus.FAILED,
            550,
        )
        assert problems["p2@example.org"].next_attempt == later

        assert send_repo.abandon(conn, old, now=later) == 1
        assert send_repo.finish_if_done(conn, old, now=later)  # nothing left, stays abandoned
        row = send_repo.find_send(conn, "weekly-1")
        assert row is not None and row.status is SendStatus.ABANDONED
        assert row.last_error is not None and len(row.last_error) == send_repo.ERROR_LIMIT
        assert row.last_error_at == NOW
        assert [s.digest_id for s in send_repo.unfinished_sends(conn)] == ["weekly-2"]
        assert ledger.counts(conn, old)[DeliveryStatus.ABANDONED] == 1
        assert [(h.digest_id, h.status) for h in history.delivery_history(conn, c)] == [
            ("weekly-1", DeliveryStatus.ABANDONED.value)
        ]

"""The admin pages' store questions (store/desk.py) and their rollups (store/rollups.py), on
SQLite and PostgreSQL, with data made through the real code paths (import, status changes,
the ledger, feedback intake rows), and the migration's backfill of a store holding data."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from syndicate.models import Source, Status
from syndicate.store import deliveries as ledger
from syndicate.store import desk, open_store
from syndicate.store import feedback as feedback_repo
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.engine import _alembic_config
from syndicate.store.subscribers import Change
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import NOW, Site

LISTS = '\n[lists.weekly]\ntitle = "Weekly"\n\n[lists.daily]\ntitle = "Daily"\n'
DAY = timedelta(days=1)


@pytest.fixture
def desk_site(any_site: Site) -> Site:
    any_site.configure(LISTS)
    rows = "email,name\n" + "".join(f"p{i}@example.org,P{i}\n" for i in range(6))
    import_rows(any_site.engine, "weekly", read_rows(io.BytesIO(rows.encode()), "s.csv"), now=NOW)
    rows = "email,name\n" + "".join(f"p{i}@example.org,P{i}\n" for i in range(2))
    import_rows(any_site.engine, "daily", read_rows(io.BytesIO(rows.encode()), "d.csv"), now=NOW)
    return any_site


def ids(site: Site) -> list[int]:
    with site.engine.connect() as conn:
        return [s.id for s, _ in repo.iter_list(conn, "weekly")]


def change(sid: int, status: Status, previous: Status, source: Source = Source.CLI) -> Change:
    return Change(
        subscriber_id=sid, list_name="weekly", status=status, previous=previous, source=source
    )


def feedback_row(
    n: int,
    send_id: int,
    sid: int,
    outcome: str,
    *,
    counts: bool = True,
    diagnostic: str | None = None,
    at: datetime | None = None,
) -> dict:
    """A feedback event row for ``feedback_repo.record`` (event id ``ev-N``)."""
    if diagnostic is None:
        diagnostic = "550 5.7.1 listed at a blocklist" if outcome == "ours" else "no"
    return {
        "event_id": f"ev-{n}",
        "source": "maildir",
        "outcome": outcome,
        "recipient": None,
        "original_recipient": None,
        "status": "5.1.1" if outcome == "hard" else None,
        "diagnostic": diagnostic,
        "message_id": None,
        "subscriber_id": sid,
        "send_id": send_id,
        "matched_by": "token",
        "counts": counts,
        "note": "",
        "received_at": NOW + DAY if at is None else at,
    }


def changes_made(site: Site) -> None:
    """Day 0: 6 + 2 imported; day 1: one leaves; day 8: one bounces, one comes back."""
    a, b, c, *_ = ids(site)
    with site.engine.begin() as conn:
        repo.apply_changes(conn, [change(a, Status.UNSUBSCRIBED, Status.ACTIVE)], now=NOW + DAY)
    with site.engine.begin() as conn:
        later = NOW + 8 * DAY
        repo.apply_changes(
            conn,
            [
                change(b, Status.BOUNCED, Status.ACTIVE, Source.BOUNCE),
                change(a, Status.ACTIVE, Status.UNSUBSCRIBED),
                change(c, Status.ACTIVE, Status.ACTIVE),  # no change: not counted
            ],
            now=later,
        )


def test_days_count_each_change_once_and_active_follows(desk_site: Site) -> None:
    changes_made(desk_site)
    with desk_site.engine.connect() as conn:
        weekly = desk.days(conn, "weekly")
        daily = desk.days(conn, "daily")
        names = desk.list_names(conn)
        real = repo.counts(conn)
    assert names == ["daily", "weekly"]
    assert [(d.day, d.subscribed, d.unsubscribed, d.bounced, d.active) for d in weekly] == [
        ("2026-11-27", 6, 0, 0, 6),
        ("2026-11-28", 0, 1, 0, 5),
        ("2026-12-05", 1, 0, 1, 5),
    ]
    assert [(d.subscribed, d.active) for d in daily] == [(2, 2)]
    assert weekly[-1].active == real["weekly"][Status.ACTIVE]  # agrees with the subscriptions


def test_the_days_of_every_list_at_once_are_each_lists_days(desk_site: Site) -> None:
    changes_made(desk_site)
    with desk_site.engine.connect() as conn:
        for since in ("2026-11-01", "2026-11-28", "2026-11-29", "2026-12-05", "2027-01-01"):
            together = desk.days_of_lists(conn, since=since)
            for name in ("weekly", "daily"):
                assert together.get(name, []) == desk.days(conn, name, since=since), since
            assert set(together) <= {"weekly", "daily"}
        assert desk.days_of_lists(conn, since="2026-11-28")["weekly"][0].active == 5


def make_send(site: Site) -> int:
    """A send of weekly to its 6 readers: sent, deferred then sent, failed, skipped..."""
    a, b, c, d, e, f = ids(site)
    with site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, send_id, [(sid, "[]") for sid in (a, b, c, d, e, f)], now=NOW)
        ledger.record(conn, send_id, a, DeliveryStatus.SENT, now=NOW, code=250, reply="ok")
        ledger.record(
            conn, send_id, b, DeliveryStatus.DEFERRED, now=NOW, code=451, reply="later",
            retry_at=NOW + timedelta(minutes=5),
        )  # fmt: skip
        ledger.record(conn, send_id, c, DeliveryStatus.FAILED, now=NOW, code=550, reply="no")
        ledger.record(conn, send_id, d, DeliveryStatus.SKIPPED, now=NOW)
    return send_id


def test_a_running_send_is_counted_live_and_frozen_when_done(desk_site: Site) -> None:
    a, b, _c, _d, e, f = ids(desk_site)
    send_id = make_send(desk_site)
    with desk_site.engine.connect() as conn:
        (running,) = desk.running_sends(conn)
    assert running.id == send_id and running.running
    assert running.totals == desk.Totals(recipients=6, sent=1, deferred=1, failed=1, skipped=1)
    assert running.totals.settled == 3
    with desk_site.engine.begin() as conn:
        for sid in (b, e, f):
            ledger.record(conn, send_id, sid, DeliveryStatus.SENT, now=NOW + DAY, code=250)
        assert send_repo.finish_if_done(conn, send_id, now=NOW + DAY)
        feedback_repo.record_many(
            conn,
            [
                feedback_row(1, send_id, e, "soft"),
                feedback_row(2, send_id, e, "hard"),  # one reader, soft then hard: one
                feedback_row(3, send_id, f, "complaint"),
                feedback_row(4, send_id, a, "ours"),
                feedback_row(5, send_id, b, "hard", counts=False),  # untrusted: not counted
            ],
        )
        # The ledger changing after the send finished does not move the frozen totals.
        ledger.record(conn, send_id, a, DeliveryStatus.FAILED, now=NOW + 2 * DAY)
    with desk_site.engine.connect() as conn:
        assert desk.running_sends(conn) == []
        (done,) = desk.last_sends(conn, limit=5)
        refused = desk.refused_since(conn, since=NOW)
        assert desk.send_summary(conn, send_id) == done
        assert desk.send_summary(conn, send_id + 1) is None
        assert desk.last_sends(conn, limit=5, list_name="daily") == []
    assert done.status == "done" and not done.running
    assert done.totals == desk.Totals(recipients=6, sent=4, deferred=1, failed=1, skipped=1)
    assert done.feedback == desk.Feedback(bounced=1, complained=1, refused=1)
    assert refused == [("2026-11-23", "550 5.7.1 listed at a blocklist", 1)]


def test_an_abandoned_send_is_frozen_too(desk_site: Site) -> None:
    send_id = make_send(desk_site)
    with desk_site.engine.begin() as conn:
        assert send_repo.abandon(conn, send_id, now=NOW + DAY) == 3  # deferred + 2 queued
    with desk_site.engine.connect() as conn:
        (gone,) = desk.last_sends(conn, limit=1)
        stored = conn.execute(text("SELECT abandoned FROM send_totals")).scalar_one()
    assert gone.status == "abandoned" and gone.totals.abandoned == 3 == stored


def snapshot(conn: Connection) -> tuple[object, ...]:
    return desk.days(conn, "weekly"), desk.days(conn, "daily"), desk.last_sends(conn, limit=9)


def test_the_migration_backfills_a_store_that_holds_data(desk_site: Site) -> None:
    from alembic import command

    changes_made(desk_site)
    send_id = make_send(desk_site)
    with desk_site.engine.begin() as conn:
        send_repo.abandon(conn, send_id, now=NOW + DAY)
    with desk_site.engine.connect() as conn:
        before = (
            desk.days(conn, "weekly"),
            desk.days(conn, "daily"),
            desk.last_sends(conn, limit=9),
        )
    # As if made by the release before: the real downgrade drops the rollups, with the data kept.
    command.downgrade(_alembic_config(desk_site.engine), "0024")  # undoes 0025 and 0026
    desk_site.engine.dispose()
    engine = open_store(desk_site.db_url)
    try:
        with engine.connect() as conn:
            after = (
                desk.days(conn, "weekly"),
                desk.days(conn, "daily"),
                desk.last_sends(conn, limit=9),
            )
            frozen = conn.execute(text("SELECT count(*) FROM send_totals")).scalar_one()
    finally:
        engine.dispose()
    assert after == before
    assert before[0] and before[2][0].totals.abandoned == 3
    assert frozen == 1


def test_the_dashboard_counts_readers_from_before_its_window(desk_site: Site) -> None:
    from syndicate.service import desk as desk_service

    changes_made(desk_site)  # all within the first 8 days
    send_id = make_send(desk_site)  # still running
    later = NOW + 200 * DAY
    with desk_site.engine.connect() as conn:
        board = desk_service.dashboard(conn, {"weekly": "Weekly", "none": "None"}, now=later)
        since = desk.days(conn, "weekly", since="2026-11-28")
    weekly, daily, none = sorted(board.lists, key=lambda v: v.name != "weekly")[:1] + sorted(
        (v for v in board.lists if v.name != "weekly"), key=lambda v: v.name
    )
    assert (weekly.name, daily.name, none.name) == ("weekly", "daily", "none")
    assert weekly.active == 5 and {n for _, n in weekly.series} == {5}  # no change in 90 days
    assert len(weekly.series) == 90 and weekly.series[-1][0] == "2027-06-15"
    assert sum(w.subscribed for w in weekly.weeks) == 0
    assert daily.active == 2 and none.active == 0 and none.series[0][1] == 0
    assert [d.active for d in since] == [5, 5]  # the day before counted in SQL
    (running,) = board.running
    assert running.send.id == send_id and running.progress == 0.5  # 3 of 6 answered
    assert board.sends[0] is running and running.delivered == 0.2  # 1 sent of 5 tried

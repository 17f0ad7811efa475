"""``subscribers add`` and ``import`` keep out an address that bounced or complained on
another list (a bounce or a spam report is about the address), unless ``--resubscribe``.

Runs on SQLite, and on PostgreSQL when SYNDICATE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, func, select

from syndicate.cli import main
from syndicate.models import Source, Status
from syndicate.store import subscribers as repo
from syndicate.store.sql import BATCH
from syndicate.store.subscribers import Change, NewSubscriber
from syndicate.store.tables import subscription_events
from syndicate.subscribers.address import normalize_address
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import BATCH_ROWS, import_rows
from tests.conftest import NOW, Site

LISTS = '\n[lists.weekly]\ntitle = "Weekly"\n\n[lists.briefing]\ntitle = "Briefing"\n'
BOUNCED_AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)  # not the day the tests run


@pytest.fixture
def lists_site(any_site: Site) -> Site:
    any_site.configure(LISTS)
    return any_site


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def put(site: Site, address: str, statuses: dict[str, Status], at: datetime = BOUNCED_AT) -> int:
    """A subscriber with the given status on each list, set at ``at``; their id."""
    valid = normalize_address(address)
    with site.engine.begin() as conn:
        found = repo.subscriber_by_key(conn, valid.key)
        if found is None:
            new = NewSubscriber(email=valid.email, key=valid.key, name=None, attributes=())
            sid = repo.insert_subscribers(conn, [new], now=at)[valid.key]
        else:
            sid = found.id
        repo.apply_changes(
            conn,
            [
                Change(subscriber_id=sid, list_name=n, status=s, previous=None, source=Source.CLI)
                for n, s in statuses.items()
            ],
            now=at,
        )
    return sid


def state(site: Site, sid: int, list_name: str = "briefing") -> Status | None:
    with site.engine.connect() as conn:
        return repo.statuses(conn, [sid], list_name).get(sid)


def trail_rows(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(subscription_events)) or 0)


def write_csv(site: Site, text: str) -> str:
    path = site.root / "briefing.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- add -------------------------------------------------------------------------------------


def test_add_keeps_out_an_address_that_bounced_on_another_list(lists_site: Site) -> None:
    sid = put(lists_site, "ada@example.org", {"weekly": Status.BOUNCED})
    before = trail_rows(lists_site)
    code, out, err = cli(lists_site, "subscribers", "add", "briefing", "ada@example.org")
    assert code == 1, out + err
    assert err.strip() == (
        "kept out: ada@example.org bounced on weekly (2026-11-03); --resubscribe to add anyway"
    )
    assert out == ""
    assert state(lists_site, sid) is None
    assert trail_rows(lists_site) == before
    code, out, err = cli(
        lists_site, "subscribers", "add", "briefing", "ada@example.org", "--resubscribe"
    )
    assert code == 0, err
    assert out.strip() == "added ada@example.org to briefing (active)"
    assert state(lists_site, sid) is Status.ACTIVE
    assert state(lists_site, sid, "weekly") is Status.BOUNCED  # the bounce itself stays


def test_add_does_not_confirm_a_pending_address_that_complained_elsewhere(
    lists_site: Site,
) -> None:
    sid = put(lists_site, "sp@example.org", {"weekly": Status.COMPLAINED})
    put(lists_site, "sp@example.org", {"briefing": Status.PENDING}, at=NOW)
    code, out, err = cli(lists_site, "subscribers", "add", "briefing", "sp@example.org")
    assert code == 1, out + err
    assert err.strip() == (
        "kept out: sp@example.org stays pending on briefing: complained on weekly "
        "(2026-11-03); --resubscribe to make active anyway"
    )
    assert state(lists_site, sid) is Status.PENDING


def test_add_still_adds_an_address_that_only_unsubscribed_elsewhere(lists_site: Site) -> None:
    sid = put(lists_site, "le@example.org", {"weekly": Status.UNSUBSCRIBED})
    code, out, err = cli(lists_site, "subscribers", "add", "briefing", "le@example.org")
    assert code == 0, err
    assert out.strip() == "added le@example.org to briefing (active)"
    assert state(lists_site, sid) is Status.ACTIVE


def test_add_pending_is_not_kept_out(lists_site: Site) -> None:
    """Pending gets no digest: only their confirmation could make it active."""
    sid = put(lists_site, "ada@example.org", {"weekly": Status.BOUNCED})
    code, _, err = cli(lists_site, "subscribers", "add", "briefing", "ada@example.org", "--pending")
    assert code == 0, err
    assert state(lists_site, sid) is Status.PENDING


# -- import ----------------------------------------------------------------------------------


def test_import_keeps_out_bounced_and_complained_addresses_and_counts_them(
    lists_site: Site,
) -> None:
    bo = put(lists_site, "bo@example.org", {"weekly": Status.BOUNCED})
    sp = put(lists_site, "sp@example.org", {"weekly": Status.COMPLAINED})
    le = put(lists_site, "le@example.org", {"weekly": Status.UNSUBSCRIBED})
    old = put(lists_site, "old@example.org", {"weekly": Status.BOUNCED, "briefing": Status.ACTIVE})
    gone = put(lists_site, "gone@example.org", {"weekly": Status.BOUNCED})
    csv = write_csv(
        lists_site,
        "email,status\n"
        "new@example.org,\n"
        "bo@example.org,\n"
        "sp@example.org,active\n"
        "le@example.org,\n"
        "old@example.org,\n"
        "gone@example.org,unsubscribed\n",
    )
    code, out, err = cli(lists_site, "subscribers", "import", "briefing", csv)
    assert code == 0, err
    assert out.strip() == (
        # Each row in one bucket: gone@ is suppressed by the file's status, bo@ and sp@
        # are kept out (nothing stored on briefing), old@ is unchanged.
        "4 of 6 rows stored: 1 new subscriber, 2 subscribed, 0 resubscribed, "
        "1 suppressed (from the file's status), 0 updated, 1 unchanged, 0 kept unsubscribed, "
        "2 kept out: bounced or complained on another list "
        "(--resubscribe to add them anyway); 0 rows rejected"
    )
    assert (
        f"{csv}:3: bo@example.org: kept out of briefing: bounced on weekly (2026-11-03); "
        "--resubscribe to add anyway"
    ) in err
    assert f"{csv}:4: sp@example.org: kept out of briefing: complained on weekly " in err
    assert f"{csv}:5: le@example.org: active on briefing" in err
    assert (state(lists_site, bo), state(lists_site, sp)) == (None, None)
    assert state(lists_site, le) is Status.ACTIVE
    assert state(lists_site, old) is Status.ACTIVE  # already there: nothing made active
    assert state(lists_site, gone) is Status.UNSUBSCRIBED  # suppression is always recorded

    code, out, err = cli(lists_site, "subscribers", "import", "briefing", csv, "--resubscribe")
    assert code == 0, err
    assert "2 subscribed" in out and "kept out" not in out and "kept out" not in err
    assert (state(lists_site, bo), state(lists_site, sp)) == (Status.ACTIVE, Status.ACTIVE)


def test_a_kept_out_row_with_topics_sets_none(lists_site: Site) -> None:
    lists_site.configure(LISTS + 'tags = ["trade"]\n')
    sid = put(lists_site, "bo@example.org", {"weekly": Status.BOUNCED})
    report = import_rows(
        lists_site.engine,
        "briefing",
        read_rows(io.BytesIO(b"email,topics\nbo@example.org,trade\n"), "in.csv"),
        now=NOW,
    )
    assert (report.kept_out, report.updated, report.unchanged) == (1, 0, 0)
    assert [n.text for n in report.notices] == [
        "kept out of briefing: bounced on weekly (2026-11-03); --resubscribe to add anyway"
    ]  # no "topics set to trade": none were stored
    assert state(lists_site, sid) is None
    with lists_site.engine.connect() as conn:
        assert repo.topics_of(conn, sid) == {"weekly": ()}


@contextmanager
def blocked_queries(engine: Engine) -> Iterator[list[str]]:
    """The statements that look up bounced/complained subscriptions, while inside."""
    seen: list[str] = []

    def before(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if "subscriptions.updated_at" in statement and statement.lstrip().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_import_asks_once_a_batch_not_once_a_row(lists_site: Site) -> None:
    rows = BATCH_ROWS * 2 + 7
    emails = [f"r{i}@example.org" for i in range(rows)]
    bounced = "email,status\n" + "".join(f"{e},bounced\n" for e in emails)
    import_rows(
        lists_site.engine, "weekly", read_rows(io.BytesIO(bounced.encode()), "w.csv"), now=NOW
    )
    plain = "email\n" + "".join(f"{e}\n" for e in emails)
    with blocked_queries(lists_site.engine) as seen:
        report = import_rows(
            lists_site.engine,
            "briefing",
            read_rows(io.BytesIO(plain.encode()), "b.csv"),
            now=NOW,
        )
    assert report.kept_out == rows and report.subscribed == 0
    batches = math.ceil(rows / BATCH_ROWS)
    assert batches <= len(seen) <= batches * math.ceil(BATCH_ROWS / BATCH)
    fresh = "email\n" + "".join(f"n{i}@example.org\n" for i in range(BATCH_ROWS + 1))
    with blocked_queries(lists_site.engine) as seen:
        report = import_rows(
            lists_site.engine,
            "briefing",
            read_rows(io.BytesIO(fresh.encode()), "n.csv"),
            now=NOW,
        )
    assert (report.added, seen) == (BATCH_ROWS + 1, [])  # new addresses: nothing to ask


def test_a_kept_out_row_says_no_topics_and_re_running_it_says_the_same(lists_site: Site) -> None:
    lists_site.configure(LISTS + 'tags = ["security"]\n')
    put(lists_site, "an@example.org", {"weekly": Status.COMPLAINED})
    csv = write_csv(lists_site, "email,topics\nan@example.org,security\n")
    for _ in range(2):
        code, out, err = cli(lists_site, "subscribers", "import", "briefing", csv)
        assert code == 0, err  # like a row kept unsubscribed: not an error of the file
        assert "topics" not in err and "kept out of briefing: complained on weekly" in err
        assert out.startswith("0 of 1 row stored: 0 new subscribers, 0 subscribed, "), out
        assert "0 unchanged" in out and "1 kept out" in out


def test_import_counts_the_status_column_as_suppressed_not_subscribed(lists_site: Site) -> None:
    put(lists_site, "rd@example.org", {"briefing": Status.ACTIVE}, at=NOW)
    csv = write_csv(
        lists_site,
        "email,name,status\n"
        "rd@example.org,,active\n"
        "n5@example.com,Five,bounced\n"
        "n6@example.com,Six,complained\n"
        "n7@example.com,Seven,unsubscribed\n",
    )
    code, out, err = cli(lists_site, "subscribers", "import", "briefing", csv)
    assert code == 0, err
    assert out.strip() == (
        "4 of 4 rows stored: 3 new subscribers, 0 subscribed, 0 resubscribed, "
        "3 suppressed (from the file's status), 0 updated, 1 unchanged, 0 kept unsubscribed; "
        "0 rows rejected"
    )


def trail_details(site: Site, sid: int, list_name: str = "briefing") -> list[str | None]:
    c = subscription_events.c
    with site.engine.connect() as conn:
        stmt = (
            select(c.detail).where(c.subscriber_id == sid, c.list_name == list_name).order_by(c.id)
        )
        return list(conn.scalars(stmt))


def test_resubscribe_over_a_complaint_is_written_into_the_trail(lists_site: Site) -> None:
    an = put(lists_site, "an@example.org", {"weekly": Status.COMPLAINED})
    code, _, err = cli(
        lists_site, "subscribers", "add", "weekly", "an@example.org", "--resubscribe"
    )
    assert code == 0, err
    assert trail_details(lists_site, an, "weekly")[-1] == (
        "resubscribed with --resubscribe (was complained)"
    )
    bo = put(lists_site, "bo@example.org", {"weekly": Status.BOUNCED})
    csv = write_csv(lists_site, "email\nbo@example.org\n")
    code, _, err = cli(lists_site, "subscribers", "import", "briefing", csv, "--resubscribe")
    assert code == 0, err
    assert trail_details(lists_site, bo) == [
        "line 2; resubscribed with --resubscribe (bounced on weekly 2026-11-03)"
    ]


def test_the_desk_refusal_names_the_command_line_override() -> None:
    """The desk refuses, the CLI's --resubscribe does it: the desk's text must not say
    the form is the only way."""
    from syndicate.service.subscriber_actions import blocked_reason

    for status in (Status.BOUNCED, Status.COMPLAINED):
        text = blocked_reason("weekly", status)
        assert "--resubscribe" in text and "by hand" not in text

"""Subscribers end to end: import, export, suppression, the consent trail, crash safety.

Runs on SQLite, and on PostgreSQL when SYNDICATE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.models import Status
from syndicate.store import subscribers as repo
from syndicate.store.tables import subscribers, subscription_events, subscriptions
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import ImportReport, decide, import_rows
from tests.conftest import NOW, Site

LISTS = '\n[lists.weekly]\ntitle = "Weekly"\n\n[lists.briefing]\ntitle = "Briefing"\n'
CSV = (
    "email,name,topics,city\n"
    "Ada@Example.ORG,Ada Lovelace,trade;energy,London\n"
    "grace@example.org,Grace Hopper,,\n"
    "alan@bücher.example,Alan,security,Manchester\n"
)


@pytest.fixture
def lists_site(any_site: Site) -> Site:
    any_site.configure(LISTS)
    return any_site


def cli(site: Site, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def load(site: Site, text: str, **options: object) -> ImportReport:
    rows = read_rows(io.BytesIO(text.encode("utf-8")), "in.csv")
    return import_rows(site.engine, "weekly", rows, now=NOW, **options)  # type: ignore[arg-type]


def table_count(site: Site, table: object) -> int:
    with site.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def state(site: Site, email: str, list_name: str = "weekly") -> Status | None:
    with site.engine.connect() as conn:
        found = repo.subscriber_by_key(conn, email.casefold())
        return repo.subscriptions_of(conn, found.id).get(list_name) if found else None


def test_import_normalises_and_stores(lists_site: Site) -> None:
    report = load(lists_site, CSV)
    assert (report.rows, report.added, report.subscribed, report.problems) == (3, 3, 3, [])
    with lists_site.engine.connect() as conn:
        ada = repo.subscriber_by_key(conn, "ada@example.org", "weekly")
        alan = repo.subscriber_by_key(conn, "alan@xn--bcher-kva.example")
    assert ada is not None and alan is not None
    assert ada.email == "Ada@example.org"  # domain lower-cased, local part as given
    assert ada.topics == ("trade", "energy")
    assert dict(ada.attributes) == {"city": "London"}
    assert alan.email == "alan@xn--bcher-kva.example"  # IDNA


def test_importing_twice_changes_nothing(lists_site: Site) -> None:
    load(lists_site, CSV)
    events = table_count(lists_site, subscription_events)
    again = load(lists_site, CSV)
    assert (again.added, again.subscribed, again.updated, again.unchanged) == (0, 0, 0, 3)
    assert table_count(lists_site, subscription_events) == events
    assert table_count(lists_site, subscribers) == 3


def test_addresses_are_unique_case_insensitively(lists_site: Site) -> None:
    load(lists_site, CSV)
    report = load(lists_site, "email\nADA@EXAMPLE.ORG\nada@example.org\n")
    assert table_count(lists_site, subscribers) == 3
    assert [p.reason for p in report.problems] == ["duplicate of line 2; skipped"]


def test_suppression_survives_reimport(lists_site: Site) -> None:
    load(lists_site, CSV)
    code, _, err = cli(lists_site, "subscribers", "remove", "weekly", "ada@example.org")
    assert code == 0, err
    again = load(lists_site, CSV)
    assert again.kept_suppressed == 1
    assert state(lists_site, "ada@example.org") is Status.UNSUBSCRIBED
    code, _, _ = cli(lists_site, "subscribers", "add", "weekly", "ada@example.org")
    assert code == 1  # add does not undo an unsubscribe either
    assert state(lists_site, "ada@example.org") is Status.UNSUBSCRIBED
    back = load(lists_site, CSV, resubscribe=True)
    assert back.reactivated == 1
    assert state(lists_site, "ada@example.org") is Status.ACTIVE


def test_consent_trail_records_every_change(lists_site: Site) -> None:
    load(lists_site, CSV)
    cli(lists_site, "subscribers", "remove", "weekly", "grace@example.org")
    load(lists_site, CSV, resubscribe=True)
    with lists_site.engine.connect() as conn:
        grace = repo.subscriber_by_key(conn, "grace@example.org")
        assert grace is not None
        trail = repo.events_of(conn, grace.id)
    assert [(e.previous, e.status, e.source.value) for e in trail] == [
        (None, Status.ACTIVE, "import"),
        (Status.ACTIVE, Status.UNSUBSCRIBED, "cli"),
        (Status.UNSUBSCRIBED, Status.ACTIVE, "import"),
    ]
    assert trail[0].detail == "line 3"


def test_a_status_column_imports_suppressions(lists_site: Site) -> None:
    load(lists_site, "email,status\nleft@example.org,unsubscribed\nbad@example.org,bounced\n")
    assert state(lists_site, "left@example.org") is Status.UNSUBSCRIBED
    assert state(lists_site, "bad@example.org") is Status.BOUNCED
    load(lists_site, "email\nleft@example.org\n")
    assert state(lists_site, "left@example.org") is Status.UNSUBSCRIBED


def test_export_round_trips_through_import(lists_site: Site, tmp_path: Path) -> None:
    load(lists_site, CSV)
    cli(lists_site, "subscribers", "remove", "weekly", "grace@example.org")
    out = tmp_path / "weekly.csv"
    code, _, err = cli(lists_site, "subscribers", "export", "weekly", "--out", str(out))
    assert code == 0, err
    exported = out.read_text(encoding="utf-8")
    assert exported.splitlines()[0] == "email,name,topics,status,city"
    # Into the same store: nothing changes.
    events = table_count(lists_site, subscription_events)
    again = load(lists_site, exported)
    assert again.unchanged == 3 and table_count(lists_site, subscription_events) == events
    # Into a fresh store: the same list comes back, suppression included.
    fresh = Site(tmp_path / "fresh", f"sqlite:///{tmp_path / 'fresh.db'}", LISTS)
    try:
        load(fresh, exported)
        code, text, _ = cli(fresh, "subscribers", "export", "weekly")
        assert code == 0
        assert text == exported
        assert state(fresh, "grace@example.org") is Status.UNSUBSCRIBED
    finally:
        fresh.close()


def test_undeclared_list_names_the_declared_ones(lists_site: Site) -> None:
    code, _, err = cli(lists_site, "subscribers", "import", "monthly", "-", stdin=CSV)
    assert code == 2
    assert "no list named 'monthly'; declared lists: briefing, weekly" in err
    assert "[lists.monthly]" in err


def test_cli_import_from_stdin_reports_rejected_rows(lists_site: Site) -> None:
    bad = CSV + "not-an-address,X,\n\x00oops@example.org,Y,\n"
    code, out, err = cli(lists_site, "subscribers", "import", "weekly", "-", stdin=bad)
    assert code == 1
    assert "<stdin>:5: " in err and "<stdin>:6: " in err
    assert "3 of 5 rows stored" in out and "; 2 rows rejected" in out  # the file had 5
    code, out, _ = cli(lists_site, "subscribers", "count", "weekly", "--json")
    assert '"active": 3' in out


def test_cli_list_show_and_count(lists_site: Site) -> None:
    load(lists_site, CSV)
    code, out, _ = cli(lists_site, "subscribers", "list", "weekly", "--status", "active")
    assert code == 0 and len(out.splitlines()) == 3
    code, out, _ = cli(lists_site, "subscribers", "show", "ADA@example.org", "--json")
    assert code == 0 and '"weekly": "active"' in out
    code, out, _ = cli(lists_site, "subscribers", "count")
    assert "weekly: 3 active" in out and "briefing: 0 active" in out


@pytest.mark.parametrize(
    ("current", "wanted", "resubscribe", "expected"),
    [
        (None, Status.ACTIVE, False, Status.ACTIVE),
        (Status.ACTIVE, Status.ACTIVE, False, None),
        (Status.PENDING, Status.ACTIVE, False, Status.ACTIVE),
        (Status.ACTIVE, Status.PENDING, False, None),
        (Status.UNSUBSCRIBED, Status.ACTIVE, False, None),
        (Status.BOUNCED, Status.PENDING, False, None),
        (Status.COMPLAINED, Status.ACTIVE, True, Status.ACTIVE),
        (Status.ACTIVE, Status.UNSUBSCRIBED, False, Status.UNSUBSCRIBED),
        (Status.ACTIVE, Status.COMPLAINED, False, Status.COMPLAINED),
    ],
)
def test_status_rules(
    current: Status | None, wanted: Status, resubscribe: bool, expected: Status | None
) -> None:
    assert decide(current, wanted, resubscribe=resubscribe) is expected


def _big_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("email,name\n")
        for i in range(rows):
            fh.write(f"person{i}@example{i % 50}.org,Person {i}\n")


def _rows_committed(site: Site) -> int:
    return table_count(site, subscribers)


def test_kill_9_during_import_then_rerun_leaves_one_row_per_address(
    lists_site: Site, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    rows = 30_000
    _big_csv(big, rows)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    command = [
        sys.executable,
        "-m",
        "syndicate",
        "--site",
        str(lists_site.root),
        "subscribers",
        "import",
        "weekly",
        str(big),
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _rows_committed(lists_site) == 0 and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _rows_committed(lists_site)
    assert 0 < partial < rows, "the import should have been killed part-way"
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with lists_site.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(subscribers)) == rows
        assert conn.scalar(select(func.count(func.distinct(subscribers.c.email_key)))) == rows
        assert conn.scalar(select(func.count()).select_from(subscriptions)) == rows
        # One "subscribed" event per address: the re-run did not record anyone twice.
        assert conn.scalar(select(func.count()).select_from(subscription_events)) == rows


def test_interrupted_stream_keeps_committed_batches(lists_site: Site) -> None:
    """An import that stops part-way (here: the reader raises) keeps every whole batch."""

    def rows() -> Iterator[object]:
        text = "email\n" + "".join(f"p{i}@example.org\n" for i in range(2500))
        for n, item in enumerate(read_rows(io.BytesIO(text.encode()), "in.csv")):
            if n == 2100:
                raise KeyboardInterrupt
            yield item

    with pytest.raises(KeyboardInterrupt):
        import_rows(lists_site.engine, "weekly", rows(), now=NOW)  # type: ignore[arg-type]
    assert _rows_committed(lists_site) == 2000

"""Topics belong to a list: chosen, stored, imported, exported and mailed per subscription.

Runs on SQLite, and on PostgreSQL when SYNDICATE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from syndicate.cli import main
from syndicate.models import Status
from syndicate.store import deliveries as ledger
from syndicate.store import digests as digest_repo
from syndicate.store import open_store
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as repo
from syndicate.store.engine import _alembic_config
from syndicate.store.tables import deliveries
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import NOW, Site

LISTS = '\n[lists.weekly]\ntitle = "Weekly"\n\n[lists.briefing]\ntitle = "Briefing"\n'


@pytest.fixture
def lists_site(any_site: Site) -> Site:
    any_site.configure(LISTS)
    return any_site


def load(site: Site, list_name: str, csv_text: str, **options: object) -> None:
    rows = read_rows(io.BytesIO(csv_text.encode("utf-8")), f"{list_name}.csv")
    import_rows(site.engine, list_name, rows, now=NOW, **options)  # type: ignore[arg-type]


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def test_migration_copies_each_subscribers_topics_into_every_subscription(
    fresh_db_url: str,
) -> None:
    engine = open_store(fresh_db_url, migrate=False)
    try:
        cfg = _alembic_config(engine)
        command.upgrade(cfg, "0008")  # the schema before topics moved
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO subscribers (email, email_key, name, created_at, attributes,"
                    " topics) VALUES ('ada@example.org', 'ada@example.org', 'Ada', :now, '[]',"
                    " :topics), ('bob@example.org', 'bob@example.org', NULL, :now, '[]', '[]')"
                ),
                {"now": NOW, "topics": json.dumps(["trade", "énergie"], ensure_ascii=False)},
            )
            ids = dict(conn.execute(text("SELECT email_key, id FROM subscribers")).all())
            for sid, list_name in [
                (ids["ada@example.org"], "weekly"),
                (ids["ada@example.org"], "briefing"),
                (ids["bob@example.org"], "weekly"),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO subscriptions (subscriber_id, list_name, status, created_at,"
                        " updated_at) VALUES (:sid, :list, 'active', :now, :now)"
                    ),
                    {"sid": sid, "list": list_name, "now": NOW},
                )
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            ada = repo.topics_of(conn, ids["ada@example.org"])
            bob = repo.topics_of(conn, ids["bob@example.org"])
        assert ada == {"weekly": ("trade", "énergie"), "briefing": ("trade", "énergie")}
        assert bob == {"weekly": ()}
        assert "topics" not in {c["name"] for c in inspect(engine).get_columns("subscribers")}
        # And back: one set per subscriber again (what an older release reads).
        command.downgrade(cfg, "0008")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT email_key, topics FROM subscribers")).all()
        assert {k: sorted(json.loads(t)) for k, t in back} == {
            "ada@example.org": ["trade", "énergie"],
            "bob@example.org": [],
        }
    finally:
        engine.dispose()


def test_import_sets_topics_on_the_imported_list_only(lists_site: Site) -> None:
    load(lists_site, "weekly", "email,topics\nada@example.org,trade;energy\n")
    load(lists_site, "briefing", "email,topics\nada@example.org,security\n")
    load(lists_site, "briefing", "email\nbob@example.org\n")
    with lists_site.engine.connect() as conn:
        ada = repo.subscriber_by_key(conn, "ada@example.org")
        assert ada is not None
        assert repo.topics_of(conn, ada.id) == {
            "weekly": ("trade", "energy"),
            "briefing": ("security",),
        }
        weekly = {s.email: s.topics for s, _ in repo.iter_list(conn, "weekly")}
        briefing = {s.email: s.topics for s, _ in repo.iter_list(conn, "briefing")}
        # What a digest is assembled from: one topic set per list.
        assert digest_repo.topic_sets(conn, "weekly") == {frozenset({"trade", "energy"}): 1}
        assert digest_repo.topic_sets(conn, "briefing") == {
            frozenset({"security"}): 1,
            frozenset(): 1,
        }
    assert weekly == {"ada@example.org": ("trade", "energy")}
    assert briefing == {"ada@example.org": ("security",), "bob@example.org": ()}
    code, out, _ = cli(lists_site, "subscribers", "export", "briefing")
    assert code == 0
    assert out.splitlines()[1:] == ["ada@example.org,,security,active", "bob@example.org,,,active"]


def test_a_status_change_keeps_the_topics_of_that_list(lists_site: Site) -> None:
    load(lists_site, "weekly", "email,topics\nada@example.org,trade\n")
    load(lists_site, "weekly", "email,status\nada@example.org,unsubscribed\n")
    load(lists_site, "weekly", "email,status\nada@example.org,active\n", resubscribe=True)
    with lists_site.engine.connect() as conn:
        ada = repo.subscriber_by_key(conn, "ada@example.org", "weekly")
    assert ada is not None and ada.topics == ("trade",)


def test_readers_without_topics_on_a_list_get_its_whole_digest(lists_site: Site) -> None:
    # ada chose topics on briefing, not on weekly: on weekly she gets everything.
    load(lists_site, "weekly", "email\nada@example.org\nbob@example.org\n")
    load(lists_site, "briefing", "email,topics\nada@example.org,security\n")
    with lists_site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue_without_topics(conn, send_id, "weekly", now=NOW)
        queued = conn.execute(select(deliveries.c.variant).where(deliveries.c.send_id == send_id))
        assert [v for (v,) in queued] == ["[]", "[]"]
        chose = list(repo.iter_topics(conn, "briefing", Status.ACTIVE, skip=ledger.NO_TOPICS))
    assert [json.loads(t) for _, t in chose] == [["security"]]


def test_add_and_show_speak_of_topics_per_list(lists_site: Site) -> None:
    assert (
        cli(lists_site, "subscribers", "add", "weekly", "ada@example.org", "--topics", "trade")[0]
        == 0
    )
    assert cli(lists_site, "subscribers", "add", "briefing", "ada@example.org")[0] == 0
    code, out, _ = cli(lists_site, "subscribers", "show", "ada@example.org", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["lists"] == {"briefing": "active", "weekly": "active"}
    assert doc["topics"] == {"briefing": [], "weekly": ["trade"]}
    created = datetime.fromisoformat(doc["created"])
    code, out, _ = cli(lists_site, "subscribers", "show", "ada@example.org")
    # for people as the consent trail writes times, not ISO 8601 with its "T" and offset
    assert out.splitlines()[0] == f"ada@example.org    (since {created:%Y-%m-%d %H:%M} UTC)"
    assert "weekly: active (topics: trade)" in out
    assert "briefing: active (topics: all)" in out

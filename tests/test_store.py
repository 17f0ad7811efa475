"""The state store: migrations, first-seen dates that never move, stable ids, the file cache.

Runs on SQLite, and on PostgreSQL when SYNDICATE_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
from datetime import timedelta, timezone
from pathlib import Path

from sqlalchemy import inspect, select, text

from syndicate.content.folder import read_folder
from syndicate.content.reader import read_site
from syndicate.models import Article, ReadReport
from syndicate.store import articles as repo
from syndicate.store import open_store
from syndicate.store.engine import HEAD
from syndicate.store.tables import articles
from tests.conftest import NOW, Site

ARTICLE = "---\ntitle: {title}\n---\n\nBody of {title}.\n"


def read(site: Site, *, hours: int = 0) -> ReadReport:
    return read_site(site.settings, site.engine, now=NOW + timedelta(hours=hours), offline=True)


def by_key(report: ReadReport) -> dict[str, Article]:
    return {a.key: a for a in report.articles}


def test_sqlite_runs_in_wal_mode(site: Site) -> None:
    with site.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_migrations_run_once_and_create_the_tables(tmp_path: Path, fresh_db_url: str) -> None:
    # an empty store (the other tests get a copy of one migrated once per worker)
    any_site = Site(tmp_path / "site", fresh_db_url)
    engine = any_site.engine
    names = set(inspect(engine).get_table_names())
    assert {"articles", "content_files", "remote_sources", "alembic_version"} <= names
    with engine.connect() as conn:
        version = conn.execute(text("select version_num from alembic_version")).scalar_one()
    again = open_store(any_site.settings.database_url)  # already at head: nothing to do
    with again.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar_one() == version
    again.dispose()
    any_site.close()


def test_first_seen_is_recorded_once_and_dates_never_move(any_site: Site) -> None:
    any_site.write("a.md", ARTICLE.format(title="Alpha"))
    first = read(any_site).articles[0]
    assert first.first_seen == NOW
    assert first.published == NOW  # no date in the front matter: first-seen, not build time

    later = read(any_site, hours=5).articles[0]
    assert (later.id, later.published, later.first_seen) == (first.id, NOW, NOW)

    any_site.write("a.md", ARTICLE.format(title="Alpha, revised"))
    edited = read(any_site, hours=9).articles[0]
    assert edited.title == "Alpha, revised"
    assert (edited.id, edited.published) == (first.id, NOW)
    assert edited.content_hash != first.content_hash


def test_rename_keeps_the_id_and_the_date(any_site: Site) -> None:
    path = any_site.write("old-name.md", ARTICLE.format(title="Moving"))
    original = read(any_site).articles[0]
    path.rename(any_site.content / "new-name.md")
    moved = read(any_site, hours=1).articles[0]
    assert moved.key == "new-name.md"
    assert (moved.id, moved.first_seen) == (original.id, original.first_seen)


def test_deleted_article_leaves_the_listing_but_not_the_store(any_site: Site) -> None:
    path = any_site.write("gone.md", ARTICLE.format(title="Gone"))
    any_site.write("stays.md", ARTICLE.format(title="Stays"))
    original = by_key(read(any_site))["gone.md"]
    path.unlink()
    assert set(by_key(read(any_site, hours=1))) == {"stays.md"}
    with any_site.engine.connect() as conn:
        assert conn.execute(select(articles.c.id).where(articles.c.key == "gone.md")).first()
    any_site.write("gone.md", ARTICLE.format(title="Gone"))
    back = by_key(read(any_site, hours=2))["gone.md"]
    assert (back.id, back.first_seen) == (original.id, original.first_seen)


def test_front_matter_id_is_the_identity(any_site: Site) -> None:
    any_site.write("x.md", "---\ntitle: X\nid: launch-2026\n---\n\nText.\n")
    assert read(any_site).articles[0].id == "launch-2026"


def test_new_since_answers_what_is_new(any_site: Site) -> None:
    any_site.write("one.md", ARTICLE.format(title="One"))
    read(any_site)
    any_site.write("two.md", ARTICLE.format(title="Two"))
    report = read(any_site, hours=2)
    two = by_key(report)["two.md"]
    with any_site.engine.connect() as conn:
        assert repo.new_since(conn, NOW + timedelta(hours=1)) == [two.id]
        assert len(repo.new_since(conn, NOW - timedelta(seconds=1))) == 2


def test_times_come_back_aware_and_in_utc(any_site: Site) -> None:
    any_site.write("a.md", ARTICLE.format(title="A"))
    plus_five = timezone(timedelta(hours=5))
    read_site(any_site.settings, any_site.engine, now=NOW.astimezone(plus_five), offline=True)
    with any_site.engine.connect() as conn:
        stored = next(iter(repo.load_articles(conn, source="content").values()))
    assert stored.first_seen == NOW
    assert stored.first_seen.utcoffset() == timedelta(0)


def test_unchanged_folder_is_not_parsed_again(any_site: Site) -> None:
    for i in range(5):
        any_site.write(f"a{i}.md", ARTICLE.format(title=f"A{i}"))
    any_site.write("broken.md", "---\ntitle: [\n---\n")
    cold = read(any_site)
    assert (cold.parsed, len(cold.articles), len(cold.problems)) == (6, 5, 1)
    warm = read(any_site, hours=1)
    assert (warm.parsed, warm.reused) == (0, 6)
    assert warm.articles == cold.articles
    assert warm.problems == cold.problems  # a skipped file is still reported


def test_touched_but_identical_file_is_matched_by_hash(any_site: Site) -> None:
    path = any_site.write("a.md", ARTICLE.format(title="A"))
    read(any_site)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert read(any_site, hours=1).parsed == 0
    path.write_text(ARTICLE.format(title="B"), encoding="utf-8")
    assert read(any_site, hours=2).parsed == 1


def test_config_change_reparses_and_moves_urls(site: Site) -> None:
    site.write("a.md", ARTICLE.format(title="A"))
    assert read(site).articles[0].url == "https://news.example.org/a/"
    toml = (site.root / "syndicate.toml").read_text(encoding="utf-8")
    toml = toml.replace("https://news.example.org", "https://letters.example.net")
    (site.root / "syndicate.toml").write_text(toml, encoding="utf-8")
    again = read(site, hours=1)
    assert again.parsed == 1
    assert again.articles[0].url == "https://letters.example.net/a/"
    assert again.articles[0].published == NOW


def test_parallel_read_equals_serial_read(tmp_path: Path) -> None:
    """The worker-pool path gives exactly what the in-process path gives."""
    reports = []
    for workers in (1, 2):
        site = Site(tmp_path / f"w{workers}", f"sqlite:///{tmp_path / f'w{workers}.db'}")
        for i in range(40):
            site.write(f"d{i % 4}/a{i}.md", ARTICLE.format(title=f"Article {i}"))
        site.write("notes.txt", "A plain export\n\nIts only paragraph.\n")
        site.write("broken.md", "---\ntitle: [\n---\n")
        site.write("draft.md", "---\ntitle: D\ndraft: true\n---\n\nx\n")
        folder = read_folder(site.settings, site.engine, now=NOW, workers=workers)
        assert (folder.parsed, len(folder.current), len(folder.problems)) == (43, 41, 1)
        reports.append(read(site))
        site.close()
    serial, parallel = reports
    assert serial.articles == parallel.articles
    assert serial.problems == parallel.problems


def test_rename_is_recognised_in_a_parallel_read(site: Site) -> None:
    for i in range(10):
        site.write(f"a{i}.md", ARTICLE.format(title=f"A{i}"))
    before = {a.key: a.id for a in read(site).articles}
    for i in range(10):
        (site.content / f"a{i}.md").rename(site.content / f"renamed-{i}.md")
    folder = read_folder(site.settings, site.engine, now=NOW + timedelta(hours=1), workers=2)
    after = {a.key: a.id for a in folder.current}
    assert {after[f"renamed-{i}.md"] for i in range(10)} == set(before.values())


def test_same_size_edit_within_one_timestamp_tick_is_seen(site: Site) -> None:
    """A file written moments before a read is hashed next time, not trusted by mtime."""
    assert site.engine is not None  # the store opened first: the write is right before the read
    path = site.write("a.md", ARTICLE.format(title="Cat"))
    read(site)
    st = path.stat()
    path.write_text(ARTICLE.format(title="Dog"), encoding="utf-8")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: a coarse clock
    report = read(site, hours=1)
    assert report.parsed == 1
    assert report.articles[0].title == "Dog"


def test_head_constant_is_the_newest_migration() -> None:
    # open_store skips Alembic for a store at HEAD, so HEAD must be the scripts' head.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from syndicate.store.engine import HEAD, MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]


def test_a_store_behind_head_is_migrated_on_open(tmp_path: Path) -> None:
    from alembic import command

    from syndicate.store.engine import _alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = open_store(url)
    # As if made by a release before the last migrations: the real downgrades undo them.
    command.downgrade(_alembic_config(engine), "0007")
    engine.dispose()
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("deliveries")}
    finally:
        engine.dispose()
    assert version == HEAD
    assert indexes["ix_deliveries_due"][-1] == "subscriber_id"

"""``build_feeds`` and ``syndicate build`` on real folders and a real SQLite store.

Which files a build touches is checked by comparing byte snapshots of the whole feeds
folder before and after, never by mocking the writer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.feeds.build import BuildReport, build_feeds
from syndicate.models import Article
from tests.conftest import NOW, Site

FORMATS = ("rss.xml", "atom.xml", "feed.json")
SMALL_PAGES = "[feeds]\nitems = 3\n"
BASE = "https://news.example.org"

# 13 articles, a00 (oldest, 1 January) to a12 (newest). With ``items = 3``:
#   main:      a12 a11 a10
#   archive/1: a02 a01 a00     archive/2: a05 a04 a03     archive/3: a08 a07 a06
#   archive/4: a09             (the newest archive page, not full yet)
#   tags (the newest three each): common a12 a10 a08 · trade-talks a12 a09 a05 · rare a00
#   · C++ a11 a03
TAGS: dict[int, tuple[str, ...]] = {
    0: ("Rare", "Common"),
    1: ("Trade Talks",),
    2: ("Common",),
    3: ("C++",),
    4: ("Common",),
    5: ("Trade Talks",),
    6: ("Common",),
    7: (),
    8: ("Common",),
    9: ("Trade Talks",),
    10: ("Common",),
    11: ("C++",),
    12: ("Common", "Trade Talks"),
}

Snapshot = dict[str, tuple[bytes, int]]


def article_text(n: int, tags: Iterable[str] = (), body: str = "", *, day: int = 0) -> str:
    tag_list = ", ".join(f'"{t}"' for t in tags)
    body = body or f"The first paragraph of article {n}, on trade and diplomacy.\n\nMore text."
    return (
        f"---\ntitle: Article {n:02d}\ndate: 2026-01-{(day or n + 1):02d} 08:00:00\n"
        f"tags: [{tag_list}]\n---\n{body}\n"
    )


def page_files(*folders: str) -> set[str]:
    """The three files of each page folder ("" is the main feed)."""
    return {f"{f}/{fmt}" if f else fmt for f in folders for fmt in FORMATS}


def snapshot(folder: Path) -> Snapshot:
    """Bytes and mtime of every file under ``folder``, hidden ones included."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def changed_paths(before: Snapshot, after: Snapshot) -> set[str]:
    """Files added, removed or with different bytes."""
    return {
        rel
        for rel in before.keys() | after.keys()
        if rel not in before or rel not in after or before[rel][0] != after[rel][0]
    }


def assert_only(
    before: Snapshot, after: Snapshot, expected: set[str], *, restored: Iterable[str] = ()
) -> None:
    """Exactly ``expected`` changed; every other file kept its bytes and its mtime.

    ``restored``: files written again with their old bytes, so only their mtime moved.
    """
    assert changed_paths(before, after) == expected
    for rel in before.keys() & after.keys() - expected - set(restored):
        assert after[rel][1] == before[rel][1], f"{rel} was rewritten with identical bytes"


def read(site: Site, now: datetime) -> tuple[Article, ...]:
    report = read_site(site.settings, site.engine, now=now, offline=True)
    assert not report.problems, report.problems
    return report.articles


def build(site: Site, now: datetime = NOW) -> BuildReport:
    return build_feeds(site.settings, site.engine, read(site, now))


def feeds_dir(site: Site) -> Path:
    return site.settings.feeds_dir


def folders_listing(folder: Path, url: str) -> set[str]:
    """Page folders whose JSON Feed lists the article at ``url`` ("" for the main feed)."""
    found: set[str] = set()
    for path in folder.rglob("feed.json"):
        doc = json.loads(path.read_bytes())
        if any(item["url"] == url for item in doc["items"]):
            rel = path.parent.relative_to(folder).as_posix()
            found.add("" if rel == "." else rel)
    return found


def url_of(n: int) -> str:
    return f"{BASE}/a{n:02d}/"


def json_titles(data: bytes) -> list[str]:
    return [item["title"] for item in json.loads(data)["items"]]


@pytest.fixture
def paged(site: Site) -> Site:
    """The 13-article site above, built once."""
    site.configure(SMALL_PAGES)
    for n, tags in TAGS.items():
        site.write(f"a{n:02d}.md", article_text(n, tags))
    report = build(site)
    assert len(report.written) == 3 * 9  # main, 4 archive pages, 4 tag pages
    return site


# --- a build with nothing new writes nothing ------------------------------------------------


def test_expected_pages(paged: Site) -> None:
    root = feeds_dir(paged)
    assert json_titles((root / "feed.json").read_bytes()) == [
        "Article 12",
        "Article 11",
        "Article 10",
    ]
    assert json_titles((root / "archive/1/feed.json").read_bytes()) == [
        "Article 02",
        "Article 01",
        "Article 00",
    ]
    assert json_titles((root / "archive/4/feed.json").read_bytes()) == ["Article 09"]
    assert json_titles((root / "tags/common/feed.json").read_bytes()) == [
        "Article 12",
        "Article 10",
        "Article 08",
    ]
    assert {p.name for p in (root / "tags").iterdir()} >= {"common", "trade-talks", "rare"}


def test_rebuild_without_change_writes_nothing(paged: Site) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    report = build(paged, NOW + timedelta(hours=1))
    assert report.written == ()
    assert report.removed == ()
    assert report.unchanged == len(before) == 27
    assert snapshot(root) == before  # bytes and st_mtime_ns


def test_deleted_feed_file_is_rewritten_and_only_it(paged: Site) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    (root / "tags/common/atom.xml").unlink()
    report = build(paged)
    assert report.written == ("tags/common/atom.xml",)
    after = snapshot(root)
    assert after["tags/common/atom.xml"][0] == before["tags/common/atom.xml"][0]
    assert_only(before, after, set(), restored=report.written)


def test_deleted_page_folder_is_rewritten(paged: Site) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    for fmt in FORMATS:
        (root / "archive/2" / fmt).unlink()
    (root / "archive/2").rmdir()
    report = build(paged)
    assert set(report.written) == page_files("archive/2")
    assert_only(before, snapshot(root), set(), restored=report.written)


@pytest.mark.parametrize(
    ("rel", "edit"),
    [
        ("rss.xml", lambda b: b + b"\n<!-- mine -->\n"),
        ("archive/1/feed.json", lambda b: b.replace(b"Article 01", b"Article XX")),  # same size
        ("tags/rare/atom.xml", lambda b: b""),
    ],
    ids=["appended", "same-size", "emptied"],
)
def test_hand_edited_feed_file_is_restored_and_only_it(
    paged: Site, rel: str, edit: Callable[[bytes], bytes]
) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    path = root / rel
    edited = edit(path.read_bytes())
    assert edited != before[rel][0]
    path.write_bytes(edited)
    report = build(paged)
    assert report.written == (rel,)
    after = snapshot(root)
    assert after[rel][0] == before[rel][0]
    assert_only(before, after, set(), restored=[rel])
    # And the record now matches the restored file: the next build writes nothing.
    assert build(paged).written == ()


# --- an edit touches only the pages that list the article -------------------------------------


def test_editing_the_newest_article_changes_main_and_its_tag_feeds(paged: Site) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    paged.write("a12.md", article_text(12, TAGS[12], "Rewritten opening paragraph.\n\nNew end."))
    report = build(paged, NOW + timedelta(days=1))
    after = snapshot(root)
    expected = page_files("", "tags/common", "tags/trade-talks")
    assert page_files(*folders_listing(root, url_of(12))) == expected
    assert_only(before, after, expected)
    assert set(report.written) == expected
    assert report.removed == ()
    assert "Rewritten opening paragraph." in after["feed.json"][0].decode()


def test_editing_an_archived_article_changes_its_archive_page_only(paged: Site) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    paged.write("a00.md", article_text(0, TAGS[0], "A corrected first paragraph.\n\nMore."))
    report = build(paged, NOW + timedelta(days=1))
    after = snapshot(root)
    # a00 is in tags/rare but not in tags/common, whose newest three are a12 a10 a08.
    expected = page_files("archive/1", "tags/rare")
    assert page_files(*folders_listing(root, url_of(0))) == expected
    assert_only(before, after, expected)
    assert set(report.written) == expected
    assert "A corrected first paragraph." in after["archive/1/atom.xml"][0].decode()


def test_a_new_article_leaves_full_archive_pages_alone(paged: Site) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    paged.write("a13.md", article_text(13, ("Common", "Fresh")))
    report = build(paged, NOW + timedelta(days=1))
    after = snapshot(root)
    # a10 leaves the main feed for the newest archive page; archive/1 to 3 are full.
    expected = page_files("", "archive/4", "tags/common", "tags/fresh")
    assert folders_listing(root, url_of(13)) == {"", "tags/common", "tags/fresh"}
    assert folders_listing(root, url_of(10)) == {"archive/4", "tags/common"}
    assert_only(before, after, expected)
    assert set(report.written) == expected
    assert report.removed == ()
    assert json_titles(after["archive/4/feed.json"][0]) == ["Article 10", "Article 09"]
    assert json_titles(after["feed.json"][0]) == ["Article 13", "Article 12", "Article 11"]


def test_a_new_archive_page_only_links_the_previous_one(paged: Site) -> None:
    root = feeds_dir(paged)
    for n in (13, 14):
        paged.write(f"a{n:02d}.md", article_text(n, ("Common",)))
    build(paged, NOW + timedelta(days=1))
    assert json_titles((root / "archive/4/feed.json").read_bytes()) == [
        "Article 11",
        "Article 10",
        "Article 09",
    ]
    before = snapshot(root)
    paged.write("a15.md", article_text(15, ("Common",)))
    report = build(paged, NOW + timedelta(days=2))
    after = snapshot(root)
    # archive/4 was full: its entries stay, only its RSS and Atom gain a next-archive link
    # (JSON Feed chains towards older pages only, so its feed.json is untouched).
    expected = page_files("", "archive/5", "tags/common") | {
        "archive/4/rss.xml",
        "archive/4/atom.xml",
    }
    assert_only(before, after, expected)
    assert set(report.written) == expected
    for fmt in ("rss.xml", "atom.xml"):
        old = feedparser.parse(before[f"archive/4/{fmt}"][0])
        new = feedparser.parse(after[f"archive/4/{fmt}"][0])
        assert [e.id for e in new.entries] == [e.id for e in old.entries]
        removed_lines = set(before[f"archive/4/{fmt}"][0].splitlines()) - set(
            after[f"archive/4/{fmt}"][0].splitlines()
        )
        assert removed_lines == set()
        next_links = [link.href for link in new.feed.links if link.rel == "next-archive"]
        assert next_links == [f"{BASE}/feeds/archive/5/{fmt}"]
    assert json_titles(after["archive/5/feed.json"][0]) == ["Article 12"]


def test_a_changed_feed_setting_rewrites_every_file(paged: Site) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    paged.configure(SMALL_PAGES.replace("[feeds]", '[feeds]\nhub = "https://hub.example.org"'))
    report = build(paged)
    assert set(report.written) == set(before)
    assert b"https://hub.example.org" in (root / "archive/3/atom.xml").read_bytes()


def test_a_changed_default_author_reaches_the_feeds(paged: Site) -> None:
    toml = paged.root / "syndicate.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace('"The Editors"', '"The News Desk"'),
        encoding="utf-8",
    )
    build(paged)
    doc = json.loads((feeds_dir(paged) / "feed.json").read_bytes())
    assert doc["items"][0]["authors"] == [{"name": "The News Desk"}]


def test_an_edit_the_feeds_do_not_show_writes_nothing(paged: Site) -> None:
    root = feeds_dir(paged)
    text = article_text(5, TAGS[5]).replace("tags:", "updated: 2026-02-01 08:00:00\ntags:")
    paged.write("a05.md", text)
    first = build(paged, NOW + timedelta(days=1))
    assert set(first.written) == page_files("archive/2", "tags/trade-talks")
    before = snapshot(root)
    # New bytes, so a new fingerprint, but the same documents: rendered, never rewritten.
    paged.write("a05.md", text.replace("tags:", "# an editor's note, not shown\ntags:"))
    report = build(paged, NOW + timedelta(days=2))
    assert report.written == ()
    assert report.unchanged == 27
    assert snapshot(root) == before


def test_a_lost_store_rewrites_no_file(paged: Site, tmp_path: Path) -> None:
    root = feeds_dir(paged)
    before = snapshot(root)
    fresh = Site(paged.root, f"sqlite:///{tmp_path / 'fresh.db'}", SMALL_PAGES)
    try:
        report = build(fresh)  # same ``now``, so the same first-seen dates and entry ids
        assert report.written == () and report.removed == ()
        assert report.unchanged == 27
        assert snapshot(root) == before
        assert build(fresh).written == ()
    finally:
        fresh.close()


READING_LIST = """\
A Reading List

This week we recommend several long essays on the politics of trade corridors.

A Later Essay

The essay we will publish soon looks at customs unions and what they leave out...
"""


def test_a_related_teaser_gets_its_link_when_the_article_appears(site: Site) -> None:
    site.configure("[feeds]\nitems = 2\n")
    # Undated, so published when first seen (NOW): the newest article, in the main feed.
    site.write("reading-list.txt", READING_LIST)
    site.write("a10.md", article_text(10))
    site.write("a00.md", article_text(0))  # alone in archive/1
    build(site)
    root = feeds_dir(site)
    before = snapshot(root)
    site.write("essay.md", "---\ntitle: A Later Essay\ndate: 2026-01-05\n---\nCustoms.\n")
    report = build(site, NOW + timedelta(days=1))
    after = snapshot(root)
    # The essay fills archive/1; the main feed changes only by the teaser's new link.
    assert folders_listing(root, f"{BASE}/essay/") == {"archive/1"}
    assert_only(before, after, page_files("", "archive/1"))
    assert set(report.written) == page_files("", "archive/1")
    item = json.loads(after["feed.json"][0])["items"][0]
    assert item["title"] == "A Reading List"
    assert f'<a href="{BASE}/essay/">A Later Essay</a>' in item["content_html"]
    atom = feedparser.parse(after["atom.xml"][0])
    related = [link.href for link in atom.entries[0].links if link.rel == "related"]
    assert related == [f"{BASE}/essay/"]


def test_archive_pages_hold_archive_items(site: Site) -> None:
    site.configure("[feeds]\nitems = 2\narchive_items = 4\nper_tag = false\n")
    for n in range(11):
        site.write(f"a{n:02d}.md", article_text(n, ("Common",)))
    build(site)
    root = feeds_dir(site)
    pages = {
        "": ["Article 10", "Article 09"],
        "archive/1": ["Article 03", "Article 02", "Article 01", "Article 00"],
        "archive/2": ["Article 07", "Article 06", "Article 05", "Article 04"],
        "archive/3": ["Article 08"],
    }
    for folder, titles in pages.items():
        assert json_titles((root / folder / "feed.json").read_bytes()) == titles
    assert not (root / "tags").exists()
    before = snapshot(root)
    site.write("a11.md", article_text(11, ("Common",)))
    report = build(site, NOW + timedelta(days=1))
    after = snapshot(root)
    assert_only(before, after, page_files("", "archive/3"))
    assert set(report.written) == page_files("", "archive/3")
    assert json_titles(after["archive/3/feed.json"][0]) == ["Article 09", "Article 08"]


def test_rendering_in_worker_processes_gives_the_same_bytes(paged: Site) -> None:
    root = feeds_dir(paged)
    serial = {rel: data for rel, (data, _) in snapshot(root).items()}
    shutil.rmtree(root)
    report = build_feeds(paged.settings, paged.engine, read(paged, NOW), workers=2)
    assert set(report.written) == set(serial)
    assert {rel: data for rel, (data, _) in snapshot(root).items()} == serial


# --- removal ------------------------------------------------------------------------------------


def test_removed_articles_and_tags_remove_their_files_but_never_user_files(paged: Site) -> None:
    root = feeds_dir(paged)
    readme = root / "README.md"
    readme.write_text("These feeds are generated by syndicate.\n", encoding="utf-8")
    (root / ".gitignore").write_text("*.tmp\n", encoding="utf-8")
    notes = root / "tags/trade-talks/NOTES.txt"
    notes.write_text("kept by hand\n", encoding="utf-8")
    before = snapshot(root)
    # a00 (the only "Rare") goes; "Trade Talks" is dropped from every article that had it;
    # 12 articles left fill archive pages 1 to 3, so archive/4 goes too.
    (paged.content / "a00.md").unlink()
    for n, tags in TAGS.items():
        if "Trade Talks" in tags:
            paged.write(f"a{n:02d}.md", article_text(n, [t for t in tags if t != "Trade Talks"]))
    report = build(paged, NOW + timedelta(days=1))
    after = snapshot(root)
    gone = page_files("tags/rare", "tags/trade-talks", "archive/4")
    assert set(report.removed) == gone
    assert gone.isdisjoint(after)
    assert set(before) - set(after) == gone
    assert not (root / "tags/rare").exists()
    assert not (root / "archive/4").exists()
    # The folder holding a file of the user's stays, with that file.
    assert (root / "tags/trade-talks").is_dir()
    for rel in ("README.md", ".gitignore", "tags/trade-talks/NOTES.txt"):
        assert after[rel] == before[rel]
    # Nothing left to do on the next build; user files still untouched.
    again = build(paged, NOW + timedelta(days=2))
    assert again.written == () and again.removed == ()
    assert snapshot(root) == after


def test_removing_every_article_leaves_an_empty_main_feed(paged: Site) -> None:
    root = feeds_dir(paged)
    for path in paged.content.glob("*.md"):
        path.unlink()
    report = build(paged)
    assert set(report.written) == page_files("")
    assert len(report.removed) == 3 * 8
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == sorted(FORMATS)
    assert json.loads((root / "feed.json").read_bytes())["items"] == []
    assert feedparser.parse((root / "atom.xml").read_bytes()).bozo == 0


# --- dates ----------------------------------------------------------------------------------------


def _feed_dates(data: bytes, fmt: str) -> tuple[datetime | None, list[datetime]]:
    """The feed-level date and the item dates of an RSS or Atom document."""
    text = data.decode()
    if fmt == "rss.xml":
        build_date = re.search(r"<lastBuildDate>(.*?)</lastBuildDate>", text)
        items = re.findall(r"<pubDate>(.*?)</pubDate>", text)
        return (
            parsedate_to_datetime(build_date[1]) if build_date else None,
            [parsedate_to_datetime(d) for d in items],
        )
    updated = re.findall(r"<updated>(.*?)</updated>", text)
    return datetime.fromisoformat(updated[0]), [datetime.fromisoformat(d) for d in updated[1:]]


def test_dates_come_from_items_never_the_clock(site: Site) -> None:
    site.configure(SMALL_PAGES)
    for n in range(7):
        site.write(f"a{n:02d}.md", article_text(n, ("Common",)))
    # Undated articles fall back to when they were first seen, which the store keeps.
    site.write("undated.md", "---\ntitle: Undated\n---\nNo date in the front matter.\n")
    site.write("plain.txt", "A plain-text article\n\nIts only paragraph, with some words.\n")
    build(site, NOW)
    root = feeds_dir(site)
    first = snapshot(root)
    # Later, with the clock moved on, a build that must render every file again.
    time.sleep(1.1)  # so that any wall-clock second in a feed would differ
    for path in list(root.rglob("*.*")):
        path.unlink()
    report = build(site, NOW + timedelta(days=40))
    assert set(report.written) == set(first)
    assert {rel: data for rel, (data, _) in snapshot(root).items()} == {
        rel: data for rel, (data, _) in first.items()
    }
    for rel, (data, _) in first.items():
        fmt = rel.rsplit("/", 1)[-1]
        if fmt == "feed.json":
            continue
        feed_date, item_dates = _feed_dates(data, fmt)
        assert item_dates, rel
        assert feed_date is not None and feed_date == max(item_dates), rel


# --- atomicity ------------------------------------------------------------------------------------


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.endswith(".tmp")]


def test_no_temp_files_are_left_behind(paged: Site) -> None:
    root = feeds_dir(paged)
    assert _temp_files(root) == []
    assert [p.name for p in root.rglob(".*")] == []
    paged.write("a13.md", article_text(13, ("Common",)))
    assert build(paged, NOW + timedelta(days=1)).written
    assert _temp_files(root) == []
    assert [p.name for p in root.rglob(".*")] == []


def _long_body(n: int, state: str) -> str:
    para = f"State {state}, paragraph about corridors, ports and customs in article {n}. " * 30
    return "\n\n".join(f"{para} Part {k}." for k in range(12))


def _content_states(site: Site) -> tuple[tuple[Article, ...], tuple[Article, ...]]:
    """Two readings of one site whose every feed file differs."""
    states = []
    for k, state in enumerate("AB"):
        for n in range(5):
            site.write(
                f"a{n:02d}.md",
                article_text(n, ("Common", f"Tag {n % 2}"), _long_body(n, state), day=n + 1),
            )
        states.append(read(site, NOW + timedelta(days=k)))
    return states[0], states[1]


def test_readers_never_see_a_partial_feed_during_builds(site: Site) -> None:
    site.configure(SMALL_PAGES)
    state_a, state_b = _content_states(site)
    settings, engine = site.settings, site.engine
    build_feeds(settings, engine, state_a)
    root = feeds_dir(site)
    paths = [root / fmt for fmt in FORMATS]
    stop = threading.Event()
    failures: list[str] = []
    seen: set[str] = set()
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            for path in paths:
                try:
                    data = path.read_bytes()
                    if path.suffix == ".json":
                        text = json.loads(data)["items"][0]["content_html"]
                    else:
                        parsed = feedparser.parse(data)
                        if parsed.bozo:
                            failures.append(f"{path.name}: {parsed.bozo_exception!r}")
                            continue
                        if len(parsed.entries) != 3:
                            failures.append(f"{path.name}: {len(parsed.entries)} entries")
                            continue
                        text = parsed.entries[0].content[0].value
                    seen.add("A" if "State A" in text else "B")
                    reads += 1
                except Exception as exc:  # anything at all is a failure
                    failures.append(f"{path.name}: {exc!r}")

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    builds = 0
    try:
        while builds < 30 or (seen != {"A", "B"} and builds < 400):
            report = build_feeds(settings, engine, state_b if builds % 2 == 0 else state_a)
            assert set(page_files("")) <= set(report.written)
            builds += 1
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert failures == []
    assert reads > 0 and seen == {"A", "B"}
    assert _temp_files(root) == []


# --- the command --------------------------------------------------------------------------------


def run_build(site: Site) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["--site", str(site.root), "build", "--json", "--offline"])
    # A crash would also give exit code 1; only a deliberate exit is acceptable.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_cli_build_publishes_valid_articles_and_fails_on_a_bad_file(site: Site) -> None:
    site.write("good-one.md", article_text(1, ("Common",)))
    site.write("good-two.md", article_text(2))
    site.write("broken.md", "---\ntitle: Colons: are not allowed here\n---\nBody.\n")
    code, out = run_build(site)
    assert code == 1
    assert out["articles"] == 2
    assert set(out["written"]) == page_files("", "tags/common")
    assert out["removed"] == []
    assert len(out["problems"]) == 1 and out["problems"][0]["path"] == "content/broken.md"
    root = feeds_dir(site)
    assert json_titles((root / "feed.json").read_bytes()) == ["Article 02", "Article 01"]
    for fmt in ("rss.xml", "atom.xml"):
        parsed = feedparser.parse((root / fmt).read_bytes())
        assert parsed.bozo == 0
        assert [e.title for e in parsed.entries] == ["Article 02", "Article 01"]
    # Still broken: still exit 1, and nothing to write.
    code, out = run_build(site)
    assert (code, out["written"], len(out["problems"])) == (1, [], 1)
    # Fixed: exit 0, and the article joins the feeds.
    site.write("broken.md", "---\ntitle: 'Colons: now quoted'\ndate: 2026-01-09\n---\nBody.\n")
    code, out = run_build(site)
    assert code == 0 and out["problems"] == []
    assert set(out["written"]) == page_files("")
    assert json_titles((root / "feed.json").read_bytes())[0] == "Colons: now quoted"


def test_cli_build_on_a_clean_site(site: Site) -> None:
    for n in range(4):
        site.write(f"a{n:02d}.md", article_text(n, ("Common",)))
    code, out = run_build(site)
    assert code == 0
    assert out["articles"] == 4 and out["problems"] == []
    assert set(out["written"]) == page_files("", "tags/common")
    before = snapshot(feeds_dir(site))
    code, out = run_build(site)
    assert code == 0
    assert out["written"] == [] and out["removed"] == [] and out["unchanged"] == 6
    assert snapshot(feeds_dir(site)) == before


def test_temp_files_of_a_killed_build_are_swept(site: Site) -> None:
    """A build killed between write and rename leaves a temp file; the next build removes it."""
    site.write("a.md", "---\ntitle: A\ndate: 2026-01-01\n---\n\nBody.\n")
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    build_feeds(site.settings, site.engine, report.articles)
    root = site.settings.feeds_dir
    leftover = root / f".rss.xml.{2**22 + 12345}.tmp"  # above Linux's pid_max: never alive
    leftover.write_bytes(b"<rss>half")
    mine = root / f".atom.xml.{os.getpid()}.tmp"  # a live process's file is left alone
    mine.write_bytes(b"in progress")
    build_feeds(site.settings, site.engine, report.articles)
    assert not leftover.exists()
    assert mine.exists()

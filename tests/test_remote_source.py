"""Remote sources end to end: a real HTTP server, the real store, no duplicates ever."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from syndicate.content.reader import read_site
from syndicate.models import ReadReport
from syndicate.store.tables import articles, remote_sources
from tests.conftest import NOW, Site
from tests.httpserver import FeedServer, serve


def rss(items: list[tuple[str | None, str | None, str, str]]) -> bytes:
    """An RSS 2.0 document; each item is (guid, link, title, description)."""
    parts = []
    for guid, link, title, description in items:
        parts.append(
            "<item>"
            + (f"<guid isPermaLink='false'>{guid}</guid>" if guid else "")
            + (f"<link>{link}</link>" if link else "")
            + f"<title>{title}</title><description><![CDATA[{description}]]></description>"
            + "<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        "<title>Partner</title><link>https://partner.example.net/</link>"
        "<description>d</description>" + "".join(parts) + "</channel></rss>"
    ).encode()


ITEMS = [
    ("g1", "https://partner.example.net/one", "One", "<p>First <a href='/about'>a</a></p>"),
    ("g2", "https://partner.example.net/two", "Two", "<p>Second<script>x()</script></p>"),
    ("g3", "https://partner.example.net/three", "Three", "<p onclick='x()'>Third</p>"),
]


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with serve() as s:
        yield s


def with_source(site: Site, server: FeedServer) -> None:
    site.configure(
        f'\n[[content.sources]]\ntype = "feed"\nname = "partner"\nurl = "{server.url("/feed")}"\n'
        "allow_private = true\n"
    )


def read(site: Site, hours: int = 0) -> ReadReport:
    return read_site(site.settings, site.engine, now=NOW + timedelta(hours=hours))


def stored_rows(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(articles)) or 0)


def test_second_fetch_is_a_304_and_adds_nothing(any_site: Site, server: FeedServer) -> None:
    server.route("/feed", body=rss(ITEMS), etag='"v1"')
    with_source(any_site, server)
    first = read(any_site)
    assert sorted(a.title for a in first.articles) == ["One", "Three", "Two"]
    assert stored_rows(any_site) == 3

    second = read(any_site, hours=1)
    requests = server.requests_for("/feed")
    assert len(requests) == 2
    assert requests[1].headers.get("if-none-match") == '"v1"'
    with any_site.engine.connect() as conn:
        assert conn.scalar(select(remote_sources.c.status)) == 304
    assert stored_rows(any_site) == 3
    assert second.articles == first.articles
    assert not second.problems


def test_changing_guids_never_duplicate(any_site: Site, server: FeedServer) -> None:
    with_source(any_site, server)
    ids = set()
    for fetch in range(4):
        unstable = [(uuid.uuid4().hex, link, t, d) for _, link, t, d in ITEMS]
        server.route("/feed", body=rss(unstable))
        report = read(any_site, hours=fetch)
        assert len(report.articles) == 3
        ids.add(frozenset(a.id for a in report.articles))
    assert len(ids) == 1  # the same three articles every time
    assert stored_rows(any_site) == 3


def test_entries_without_guid_or_link_match_by_content(site: Site, server: FeedServer) -> None:
    with_source(site, server)
    bare = [(None, None, t, d) for _, _, t, d in ITEMS]
    server.route("/feed", body=rss(bare + bare[:1]))  # one entry even repeated in the feed
    assert len(read(site).articles) == 3
    server.route("/feed", body=rss(bare))
    assert len(read(site, hours=1).articles) == 3
    assert stored_rows(site) == 3


def test_changed_entry_keeps_id_and_first_seen(site: Site, server: FeedServer) -> None:
    with_source(site, server)
    server.route("/feed", body=rss(ITEMS))
    before = {a.title: a for a in read(site).articles}["One"]
    edited = [(ITEMS[0][0], ITEMS[0][1], "One, corrected", "<p>Fixed text</p>"), *ITEMS[1:]]
    server.route("/feed", body=rss(edited))
    after = {a.id: a for a in read(site, hours=3).articles}[before.id]
    assert after.title == "One, corrected"
    assert after.first_seen == before.first_seen == NOW
    assert stored_rows(site) == 3


def test_remote_html_is_sanitized_and_absolute(site: Site, server: FeedServer) -> None:
    with_source(site, server)
    server.route("/feed", body=rss(ITEMS))
    by_title = {a.title: a for a in read(site).articles}
    # Relative URLs in feed content resolve against the feed document (xml:base rules).
    assert f'href="{server.url("/about")}"' in by_title["One"].html
    assert "<script" not in by_title["Two"].html and "x()" not in by_title["Two"].html
    assert "onclick" not in by_title["Three"].html
    assert by_title["One"].url == "https://partner.example.net/one"
    assert by_title["One"].source == "partner"


def test_failed_fetch_keeps_what_was_stored(site: Site, server: FeedServer) -> None:
    with_source(site, server)
    server.route("/feed", body=rss(ITEMS))
    assert len(read(site).articles) == 3
    server.route("/feed", status=503, body=b"busy")
    report = read(site, hours=1)
    assert len(report.articles) == 3
    assert len(report.problems) == 1
    assert report.problems[0].path == server.url("/feed")
    assert "503" in report.problems[0].reason


def test_offline_read_uses_the_store(site: Site, server: FeedServer) -> None:
    with_source(site, server)
    server.route("/feed", body=rss(ITEMS))
    read(site)
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    assert len(report.articles) == 3
    assert len(server.requests_for("/feed")) == 1

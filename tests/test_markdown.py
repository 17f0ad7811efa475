"""Markdown articles: front matter fields, title fallback, sanitizing, teasers and dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from syndicate.content.markdown import read_markdown
from syndicate.content.reader import read_site
from syndicate.content.registry import parse_file
from syndicate.errors import ContentError
from syndicate.models import Article, Entry, ReadReport
from tests.conftest import NOW, Site

BERLIN = ZoneInfo("Europe/Berlin")

FULL = """\
---
title: "Full: every field, and a colon"
date: 2026-11-20T08:15:00+01:00
updated: 2026-11-21 10:00:00
author: Jane   Roe
summary: A summary that wins over the first paragraph.
tags: [Politics, asia, politics, " Trade "]
url: https://elsewhere.example.com/story/
image: https://cdn.example.org/lead.jpg
image_credit: Photo by Jane Roe / Agency
slug: full-story
id: story-0001
draft: false
---
The first paragraph, which is *not* the teaser.

The second paragraph.
"""


def _entry(text: str, name: str = "a.md") -> Entry:
    entry = parse_file(f"content/{name}", "." + name.rsplit(".", 1)[1], text.encode())
    assert entry is not None
    return entry


def _read(site: Site, now: datetime = NOW) -> ReadReport:
    report = read_site(site.settings, site.engine, now=now, offline=True)
    assert report.problems == ()
    return report


def _only(site: Site, now: datetime = NOW) -> Article:
    [article] = _read(site, now).articles
    return article


def _set(site: Site, section: str, line: str) -> None:
    """Add ``line`` to ``[section]`` of the site's syndicate.toml."""
    path = site.root / "syndicate.toml"
    text = path.read_text(encoding="utf-8")
    assert f"[{section}]\n" in text
    path.write_text(text.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1), encoding="utf-8")


# --- front matter -------------------------------------------------------------------------


def test_every_front_matter_field_lands_in_the_entry() -> None:
    entry = _entry(FULL)
    assert entry.title == "Full: every field, and a colon"
    assert entry.date is not None and entry.date.isoformat() == "2026-11-20T08:15:00+01:00"
    # Naive until finished with the publication's time zone.
    assert entry.updated is not None and entry.updated.isoformat() == "2026-11-21T10:00:00"
    assert entry.author == "Jane Roe"
    assert entry.summary == "A summary that wins over the first paragraph."
    assert entry.tags == ("Politics", "asia", "Trade")
    assert entry.url == "https://elsewhere.example.com/story/"
    assert entry.image == "https://cdn.example.org/lead.jpg"
    assert entry.image_credit == "Photo by Jane Roe / Agency"
    assert entry.slug == "full-story"
    assert entry.id == "story-0001"
    assert entry.lead == "The first paragraph, which is not the teaser."
    assert entry.html == (
        "<p>The first paragraph, which is <em>not</em> the teaser.</p>\n"
        "<p>The second paragraph.</p>\n"
    )


def test_every_front_matter_field_reaches_the_article(site: Site) -> None:
    site.write("full.md", FULL)
    a = _only(site)
    assert a.id == "story-0001"
    assert a.slug == "full-story"
    assert a.url == "https://elsewhere.example.com/story/"
    assert a.title == "Full: every field, and a colon"
    assert a.published == datetime(2026, 11, 20, 7, 15, tzinfo=UTC)
    assert a.updated == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)  # the publication is in UTC
    assert a.author == "Jane Roe"
    assert a.teaser == "A summary that wins over the first paragraph."
    assert a.tags == ("Politics", "asia", "Trade")
    assert a.image == "https://cdn.example.org/lead.jpg"
    assert a.image_credit == "Photo by Jane Roe / Agency"
    assert a.first_seen == NOW


def test_tags_as_a_comma_separated_string() -> None:
    entry = _entry("---\ntitle: T\ntags: economy,  trade , ,Energy, ECONOMY\n---\nBody.\n")
    assert entry.tags == ("economy", "trade", "Energy")


def test_numbers_are_accepted_as_text_and_tags() -> None:
    entry = _entry("---\ntitle: 1984\nauthor: 42\ntags: [2026, asia]\n---\nBody.\n")
    assert (entry.title, entry.author, entry.tags) == ("1984", "42", ("2026", "asia"))


def test_missing_author_falls_back_to_the_publication_author(site: Site) -> None:
    site.write("a.md", "---\ntitle: Anonymous\n---\nBody.\n")
    assert _only(site).author == "The Editors"


def test_draft_true_is_skipped_silently(site: Site) -> None:
    assert parse_file("content/d.md", ".md", b"---\ntitle: D\ndraft: true\n---\nBody.\n") is None
    site.write("d.md", "---\ntitle: Draft\ndraft: true\n---\nBody.\n")
    site.write("p.md", "---\ntitle: Published\ndraft: false\n---\nBody.\n")
    report = _read(site)
    assert [a.title for a in report.articles] == ["Published"]


def test_default_slug_and_url_come_from_the_file_name(site: Site) -> None:
    site.write("sub/Élan Vital & Co.md", "---\ntitle: Whatever\n---\nBody.\n")
    a = _only(site)
    assert a.slug == "elan-vital-co"
    assert a.url == "https://news.example.org/elan-vital-co/"


# --- title ---------------------------------------------------------------------------------


def test_h1_becomes_the_title_and_leaves_the_body() -> None:
    entry = _entry("# The   Heading Title\n\nFirst paragraph.\n\n## A subheading\n")
    assert entry.title == "The Heading Title"
    assert "<h1" not in entry.html
    assert entry.html.startswith("<p>First paragraph.</p>")
    assert "<h2>A subheading</h2>" in entry.html
    assert entry.lead == "First paragraph."


def test_h1_after_empty_front_matter_becomes_the_title() -> None:
    entry = _entry("---\nauthor: Someone\n---\n\n# From The Heading\n\nBody.\n")
    assert (entry.title, entry.author) == ("From The Heading", "Someone")


def test_front_matter_title_wins_and_the_h1_stays_in_the_body() -> None:
    entry = _entry("---\ntitle: From Front Matter\n---\n# In The Body\n\nText.\n")
    assert entry.title == "From Front Matter"
    assert "<h1>In The Body</h1>" in entry.html


def test_h2_is_not_a_title() -> None:
    with pytest.raises(ContentError, match="no title"):
        parse_file("content/a.md", ".md", b"## Only a subheading\n\nText.\n")


@pytest.mark.parametrize(
    "heading,title",
    [
        ("# A *bold* title", "A bold title"),
        ("# Tom &amp; Jerry", "Tom & Jerry"),
        ("# [Linked](https://x.example/) title", "Linked title"),
    ],
)
def test_h1_title_is_plain_text(heading: str, title: str) -> None:
    assert _entry(f"{heading}\n\nBody.\n").title == title


# --- raw HTML: kept by the reader, sanitized on the way to the article ----------------------

HOSTILE = """\
---
title: Hostile
slug: hostile
image: images/lead.jpg
---
Intro with <span onclick="steal()">a span</span> and [a relative link](../other-story/).

<script>alert("x")</script>

<a href="javascript:alert(1)" onmouseover="x()">bad link</a> and \
<a href="JaVaScRiPt:alert(4)">mixed case</a>

<img src="javascript:alert(2)" onerror="alert(3)" alt="bad"> ![chart](images/chart.png)

<div onload="x()"><iframe src="https://evil.example/"></iframe><style>p{}</style>kept</div>

[root link](/about/), <a href="page.html">raw relative</a> and [away](https://example.com/x).
"""


def test_raw_html_survives_the_reader() -> None:
    html = _entry(HOSTILE).html
    assert "<script>alert" in html
    assert 'onclick="steal()"' in html
    assert 'href="javascript:alert(1)"' in html


def test_article_html_is_sanitized_and_absolute(site: Site) -> None:
    site.write("hostile.md", HOSTILE)
    site.write("images/lead.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 16)
    site.write("images/chart.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    a = _only(site)
    html = a.html
    assert a.url == "https://news.example.org/hostile/"
    assert "<script" not in html.lower()
    assert "<iframe" not in html.lower()
    assert "<style" not in html.lower()
    assert re.search(r"<[^>]*\son[a-z]+\s*=", html, re.IGNORECASE) is None
    assert "javascript:" not in html.lower()
    assert 'alert("x")' not in html
    # Text survives the cleaning.
    for text in ("a span", "bad link", "mixed case", "kept", "raw relative"):
        assert text in html
    links = re.findall(r'\b(?:href|src)="([^"]*)"', html)
    media = {m.source: m.url for m in a.media}
    assert set(links) == {
        "https://news.example.org/other-story/",
        media["images/chart.png"],  # an image: the published copy of the file
        "https://news.example.org/about/",
        "https://news.example.org/hostile/page.html",  # a link: against the article's URL
        "https://example.com/x",
    }
    assert a.image == media["images/lead.jpg"]
    assert a.image.startswith("https://news.example.org/feeds/media/")


# --- teaser --------------------------------------------------------------------------------

SENTENCES = " ".join(
    f"Sentence number {i} tells a little more of the story than the one before." for i in range(9)
)
WORDS = " ".join(f"word{i}" for i in range(120))  # one long sentence, no full stop


def test_summary_wins_over_the_first_paragraph(site: Site) -> None:
    site.write("a.md", f"---\ntitle: T\nsummary: Short and sweet.\n---\n{SENTENCES}\n")
    assert _only(site).teaser == "Short and sweet."


def test_short_first_paragraph_is_the_whole_teaser(site: Site) -> None:
    site.write("a.md", "# T\n\nA **bold** start, a [link](x/) and `code`.\n\nSecond paragraph.\n")
    assert _only(site).teaser == "A bold start, a link and code."


def test_teaser_skips_headings_and_html_blocks(site: Site) -> None:
    site.write("a.md", "# T\n\n## Sub\n\n<div>block</div>\n\nThe real first paragraph.\n")
    assert _only(site).teaser == "The real first paragraph."


def test_long_first_paragraph_is_cut_at_a_sentence_end(site: Site) -> None:
    site.write("a.md", f"# T\n\n{SENTENCES}\n\nSecond paragraph.\n")
    teaser = _only(site).teaser
    assert len(SENTENCES) > 300
    assert len(teaser) <= 300
    assert teaser.endswith("…")
    kept = teaser.removesuffix("…").rstrip()
    assert SENTENCES.startswith(kept)
    assert kept.endswith("before.")
    assert len(kept) >= 150


def test_long_sentence_is_cut_at_a_word_boundary(site: Site) -> None:
    site.write("a.md", f"# T\n\n{WORDS}\n")
    teaser = _only(site).teaser
    assert len(teaser) <= 300
    assert teaser.endswith("…")
    kept = teaser.removesuffix("…").rstrip()
    assert WORDS.startswith(kept)
    assert WORDS[len(kept)] == " "  # the cut falls between two words
    assert len(kept) > 250


def test_teaser_length_is_configurable(site: Site) -> None:
    _set(site, "content", "teaser_length = 80")
    site.write("a.md", f"# T\n\n{SENTENCES}\n")
    teaser = _only(site).teaser
    assert len(teaser) <= 80
    assert teaser.endswith("…")
    assert SENTENCES.startswith(teaser.removesuffix("…").rstrip())


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2026-07-01 10:00:00", datetime(2026, 7, 1, 10, 0, tzinfo=BERLIN)),  # summer: +02:00
        ("2026-01-15", datetime(2026, 1, 15, 0, 0, tzinfo=BERLIN)),  # winter: +01:00
        ("'2026-07-01T10:00'", datetime(2026, 7, 1, 10, 0, tzinfo=BERLIN)),
        ("2026-07-01T10:00:00+05:30", datetime(2026, 7, 1, 4, 30, tzinfo=UTC)),
        ("2026-07-01T10:00:00Z", datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_naive_dates_are_in_the_publication_time_zone(
    site: Site, value: str, expected: datetime
) -> None:
    _set(site, "publication", 'timezone = "Europe/Berlin"')
    site.write("a.md", f"---\ntitle: T\ndate: {value}\nupdated: 2026-12-01 12:00:00\n---\nBody.\n")
    a = _only(site)
    assert a.published == expected
    assert a.published.utcoffset() is not None
    assert a.updated == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


def test_changing_the_time_zone_rereads_naive_dates(site: Site) -> None:
    site.write("a.md", "---\ntitle: T\ndate: 2026-07-01 10:00:00\n---\nBody.\n")
    assert _only(site).published == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    _set(site, "publication", 'timezone = "Europe/Berlin"')
    assert _only(site).published == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_dated_url_uses_the_local_date(site: Site) -> None:
    _set(site, "publication", 'timezone = "Europe/Berlin"')
    _set(site, "publication", 'article_url = "{base_url}/{year}/{month}/{day}/{slug}/"')
    site.write("late.md", "---\ntitle: Late\ndate: 2026-06-30T23:30:00+00:00\n---\nBody.\n")
    assert _only(site).url == "https://news.example.org/2026/07/01/late/"


def test_undated_article_is_published_when_first_seen(site: Site) -> None:
    path = site.write("undated.md", "---\ntitle: Undated\n---\nFirst version.\n")
    first = _only(site, NOW)
    assert first.published == NOW
    assert first.first_seen == NOW

    later = _only(site, NOW + timedelta(days=1))
    assert (later.id, later.published, later.url) == (first.id, NOW, first.url)

    path.write_text("---\ntitle: Undated, edited\n---\nSecond, longer version.\n", "utf-8")
    report = _read(site, NOW + timedelta(days=2))
    assert report.parsed == 1
    [edited] = report.articles
    assert edited.title == "Undated, edited"
    assert (edited.id, edited.published, edited.first_seen) == (first.id, NOW, NOW)
    assert edited.content_hash != first.content_hash


def test_repeated_front_matter_key_is_an_error() -> None:
    text = "---\ntitle: First\ndate: 2026-01-01\ntitle: Second\n---\nBody.\n"
    with pytest.raises(ContentError) as info:
        parse_file("twice.md", ".md", text.encode())
    assert info.value.line == 4
    assert "`title` is repeated (first on line 2)" in info.value.reason


@pytest.mark.parametrize(
    ("front", "line", "says"),
    [
        ("title: A\ndate: 2026-01-01\ntags: [a, b\nauthor: X\n", 4, "list opened with `[`"),
        ('title: "A\ndate: 2026-01-01\n', 2, "quoted text opened"),
        ("title: A\nx: {a: 1\ny: 2\n", 3, "mapping opened with `{`"),
        ("title: A\n\tdate: x\n", 3, "tab character"),
    ],
)
def test_yaml_errors_point_at_the_line_to_fix(front: str, line: int, says: str) -> None:
    """Something opened and never closed is reported where it opens, not where the parser
    gave up (the next line, or the end of the front matter)."""
    with pytest.raises(ContentError) as caught:
        read_markdown("a.md", f"---\n{front}---\n\nBody.\n")
    assert caught.value.line == line, str(caught.value)
    assert says in caught.value.reason

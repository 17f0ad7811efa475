"""Rendering digests: HTML (MJML) and text parts, subject lines, Gmail's size limit."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from syndicate.config import DEFAULT_SUBJECT, Settings, load_settings
from syndicate.digest import markers
from syndicate.digest.render import (
    GMAIL_CLIP_BYTES,
    PREHEADER_LIMIT,
    render_digest,
    render_subject,
    template_env,
)
from syndicate.digest.text import LinkRefs, wrap
from syndicate.errors import RenderError
from syndicate.models import Article, Digest, RenderedDigest, Teaser

BASE = "https://news.example.org"
WHEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOSTILE = ('<script>alert(1)</script> & "q"', "</mj-text><mj-raw><script>x</script></mj-raw>")
CONFIG = """\
[publication]
title = "Test Letter"
base_url = "https://news.example.org"
language = "de"

[email]
from_name = "Test Letter"
from_address = "news@example.org"
postal_address = "Example Ltd\\n1 Main Street\\n12345 Town"

[lists.weekly]
title = "Weekly Picks"
max_articles = 50
lead_articles = 1
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "syndicate.toml").write_text(CONFIG, encoding="utf-8")
    return load_settings(tmp_path)


def article(i: int, **fields: Any) -> Article:
    values: dict[str, Any] = {
        "id": f"id{i}",
        "source": "content",
        "key": f"a{i}.md",
        "slug": f"article-{i}",
        "title": f"Article number {i}",
        "url": f"{BASE}/article-{i}/",
        "published": WHEN - timedelta(hours=i),
        "updated": None,
        "first_seen": WHEN,
        "author": f"Author {i}",
        "author_bio": None,
        "teaser": f"Teaser of article {i}, which says something worth reading.",
        "tags": ("news",),
        "image": None,
        "image_credit": None,
        "html": "<p>FULL-BODY-SENTINEL</p>",
        "related": (),
        "content_hash": f"h{i}",
    }
    values.update(fields)
    return Article(**values)


def digest(articles: list[Article], *, lead: int = 1, **fields: Any) -> Digest:
    values: dict[str, Any] = {
        "id": "weekly-7",
        "list_name": "weekly",
        "list_title": "Weekly Picks",
        "issue": 7,
        "created": datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        "lead": tuple(articles[:lead]),
        "rest": tuple(articles[lead:]),
        "also": (),
        "more": 0,
        "more_url": f"{BASE}/",
        "archive_url": f"{BASE}/archive/weekly/7.html",
    }
    values.update(fields)
    return Digest(**values)


def sample() -> Digest:
    lead = article(
        0,
        title="The lead story",
        teaser="The lead teaser tells what happened.",
        image=f"{BASE}/img/lead.jpg",
        image_credit="Photo Person",
    )
    also = (
        Teaser(title="An older piece", excerpt="Older excerpt text.", url=f"{BASE}/older/"),
        Teaser(title="Unlinked piece", excerpt="No URL here."),
    )
    return digest([lead, article(1), article(2)], also=also, more=3)


def hrefs(html: str) -> list[str]:
    return [str(h) for h in lxml.html.document_fromstring(html).xpath("//a/@href")]


def assert_links_in_text(rendered: RenderedDigest) -> None:
    missing = [h for h in hrefs(rendered.html) if h not in rendered.text]
    assert not missing, missing


def assert_text_lines_fit(text: str) -> None:
    for line in text.splitlines():
        if len(line) > 78:
            assert re.fullmatch(r"\s*(\[\d+\] |\S+: )?\S*://\S+", line), line


def test_html_shows_lead_rest_and_also(settings: Settings) -> None:
    rendered = render_digest(sample(), settings)
    doc = lxml.html.document_fromstring(rendered.html)
    img = doc.xpath("//img[@alt='The lead story']")
    assert img and img[0].get("src") == f"{BASE}/img/lead.jpg" and img[0].get("width") == "552"
    assert "The lead teaser tells what happened." in rendered.html
    assert "Photo Person" in rendered.html
    links = hrefs(rendered.html)
    assert f"{BASE}/article-0/" in links and f"{BASE}/article-1/" in links
    assert "Teaser of article 2, which says something worth reading." in rendered.html
    assert f"{BASE}/older/" in links and "Older excerpt text." in rendered.html
    assert "Unlinked piece" in rendered.html and "No URL here." in rendered.html
    more = doc.xpath(f"//a[@href='{BASE}/']")
    assert more and more[0].text_content() == "3 more on Test Letter"
    assert "FULL-BODY-SENTINEL" not in rendered.html + rendered.text
    assert rendered.warnings == ()


def test_html_head_language_dark_mode_preheader(settings: Settings) -> None:
    rendered = render_digest(sample(), settings)
    html = rendered.html
    assert re.match(r'<!doctype html><html lang="de"', html)
    assert "color-scheme: light dark" in html and "supported-color-schemes: light dark" in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert rendered.preheader == "The lead teaser tells what happened."
    doc = lxml.html.document_fromstring(html)
    hidden = doc.xpath("//body/div[contains(@style, 'display:none')]")[0].text_content()
    assert hidden.startswith(rendered.preheader)
    assert doc.xpath("//title")[0].text_content() == rendered.subject
    assert rendered.subject == "Weekly Picks: The lead story and 2 more"
    assert "googleapis" not in html and "<script" not in html.lower()


def test_markers_footer_and_view_in_browser(settings: Settings) -> None:
    rendered = render_digest(sample(), settings)
    for part in (rendered.html, rendered.text):
        assert markers.NAME in part
        assert markers.UNSUBSCRIBE_URL in part and markers.PREFERENCES_URL in part
        assert f"{BASE}/archive/weekly/7.html" in part
        assert "You receive this because you subscribed to Weekly Picks on Test Letter." in part
    links = hrefs(rendered.html)
    assert markers.UNSUBSCRIBE_URL in links and markers.PREFERENCES_URL in links
    assert f"{BASE}/archive/weekly/7.html" in links
    assert "Example Ltd<br />1 Main Street<br />12345 Town" in rendered.html
    assert "Example Ltd\n1 Main Street\n12345 Town\n" in rendered.text


def test_a_list_named_like_the_publication_is_named_once_in_the_footer(tmp_path: Path) -> None:
    # `syndicate init` titles its list after the publication: "subscribed to Mag on Mag".
    (tmp_path / "syndicate.toml").write_text(
        CONFIG.replace('title = "Weekly Picks"', 'title = "Test Letter"'), encoding="utf-8"
    )
    rendered = render_digest(replace(sample(), list_title="Test Letter"), load_settings(tmp_path))
    for part in (rendered.html, rendered.text):
        assert "You receive this because you subscribed to Test Letter." in part
        assert "subscribed to Test Letter on Test Letter" not in part


def test_every_html_link_is_in_the_text(settings: Settings) -> None:
    rendered = render_digest(sample(), settings)
    assert_links_in_text(rendered)
    assert "The lead story [1]" in rendered.text
    assert "\nLinks:\n[1] https://news.example.org/article-0/\n" in rendered.text


def test_hostile_data_is_escaped_in_html_and_plain_in_text(settings: Settings) -> None:
    evil, mj = HOSTILE
    articles = [
        article(0, title=evil, image=f"{BASE}/i.png", image_credit=mj, author=evil, teaser=mj),
        article(1, title=mj, teaser=evil),
    ]
    also = (Teaser(title=evil, excerpt=mj, url=f"{BASE}/x/"),)
    rendered = render_digest(digest(articles, also=also), settings)
    html = rendered.html
    assert "<script" not in html.lower() and "<mj-" not in html and "</mj-" not in html
    doc = lxml.html.document_fromstring(html)
    assert doc.xpath(f"//a[@href='{BASE}/article-0/']")[1].text_content() == evil
    assert doc.xpath(f"//a[@href='{BASE}/article-1/']")[0].text_content() == mj
    assert doc.xpath("//img")[0].get("alt") == evil
    for value in (evil, mj):
        assert value in rendered.text
    assert "&lt;" not in rendered.text and "&amp;" not in rendered.text
    assert "\n" not in rendered.subject and "<script>" in rendered.subject  # plain text header
    assert_links_in_text(rendered)


def test_subject_is_one_clean_line(settings: Settings) -> None:
    lead = article(0, title="Hello\r\nBcc: evil@example.org\x00\t\x1b[31m\u2028x")
    subject = render_subject(DEFAULT_SUBJECT, digest([lead]), settings)
    assert subject == "Weekly Picks: Hello Bcc: evil@example.org [31m x"
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in subject)
    custom = "{{ lead.title }}\n#{{ issue }}\r\n{{ count }} · {{ publication.title }}"
    assert render_subject(custom, digest([lead]), settings).count("\n") == 0
    empty = render_subject(DEFAULT_SUBJECT, digest([]), settings)
    assert empty == "Weekly Picks"  # no dangling colon without a lead


def test_a_subject_that_renders_empty_names_its_setting(settings: Settings) -> None:
    with pytest.raises(RenderError) as refused:
        render_subject("{{ lead.title }}", digest([]), settings)
    assert str(refused.value) == (
        "syndicate.toml: lists.weekly.subject: renders as an empty subject with no new "
        "article; give it text or a fallback, such as '{{ lead.title or list.title }}'"
    )
    assert render_subject("{{ lead.title or list.title }}", digest([]), settings) == (
        "Weekly Picks"
    )


def test_subject_is_capped_at_a_word_boundary(settings: Settings) -> None:
    lead = article(0, title="word " * 100)
    subject = render_subject("{{ lead.title }}", digest([lead]), settings)
    assert len(subject) <= 200 and subject.endswith("word…")


def test_subject_template_is_sandboxed(settings: Settings) -> None:
    with pytest.raises(RenderError, match=r"lists\.weekly\.subject"):
        render_subject("{{ lead.__class__.__mro__ }}", digest([article(0)]), settings)
    with pytest.raises(RenderError, match=r"lists\.weekly\.subject"):
        render_subject("{{ nothing.here }}", digest([article(0)]), settings)


def test_big_digest_fits_under_gmail_limit(settings: Settings) -> None:
    long_teaser = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 35  # ~2000 chars
    articles = [
        article(i, title=f"A very long title number {i} " * 12, teaser=long_teaser)
        for i in range(50)
    ]
    articles[0] = replace(articles[0], image=f"{BASE}/lead.jpg")
    rendered = render_digest(digest(articles), settings)
    assert len(rendered.html.encode()) <= GMAIL_CLIP_BYTES
    assert len(rendered.warnings) == 1 and "teasers" in rendered.warnings[0]
    assert "over Gmail's 102.0 KB clipping limit" in rendered.warnings[0]
    assert_links_in_text(rendered)
    assert_text_lines_fit(rendered.text)


def test_too_many_leads_are_linked_as_more(settings: Settings) -> None:
    articles = [
        article(i, teaser="Short teaser. " * 20, image=f"{BASE}/img/{i}.jpg", image_credit="Cr")
        for i in range(50)
    ]
    rendered = render_digest(digest(articles, lead=50, more=2), settings)
    assert len(rendered.html.encode()) <= GMAIL_CLIP_BYTES
    assert "left out" in rendered.warnings[0]
    match = re.search(r">(\d+) more on Test Letter</a>", rendered.html)
    assert match and int(match.group(1)) > 2
    assert f"{match.group(1)} more on Test Letter [" in rendered.text
    assert_links_in_text(rendered)


def test_text_lines_wrap_at_78_columns(settings: Settings) -> None:
    long_url = f"{BASE}/{'deep/' * 30}page/"
    articles = [
        article(0, title="A title " * 20, teaser="Some words " * 60, url=long_url),
        article(1, title="x" * 120, teaser="Unbreakable" * 12),
        article(2, author="An author with a remarkably long name " * 3),
    ]
    rendered = render_digest(digest(articles), settings)
    assert_text_lines_fit(rendered.text)
    assert f"[1] {long_url}" in rendered.text
    assert_links_in_text(rendered)


def test_site_template_overrides_the_default(settings: Settings) -> None:
    folder = settings.root / "templates"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text(
        "Site text {{ digest.issue }} {{ unsubscribe_url }}\n", encoding="utf-8"
    )
    rendered = render_digest(sample(), settings)
    assert rendered.text == f"Site text 7 {markers.UNSUBSCRIBE_URL}\n"
    assert "The lead story" in rendered.html  # the default HTML template still applies


def test_autoescape_by_template_name() -> None:
    env = template_env(None)
    assert env is template_env(None)
    assert callable(env.autoescape)
    for name in ("digest.mjml.j2", "page.html.j2", "page.html", "x.mjml"):
        assert env.autoescape(name)
    assert not env.autoescape("digest.txt.j2")


def test_empty_digest_renders(settings: Settings) -> None:
    rendered = render_digest(digest([], more=0), settings)
    assert markers.UNSUBSCRIBE_URL in rendered.html and rendered.preheader == ""
    assert_links_in_text(rendered)


def test_wrap_keeps_paragraphs_urls_and_markers() -> None:
    url = "https://example.org/" + "a-b-" * 30
    out = wrap(f"First para {url} end.\n\nSecond {markers.UNSUBSCRIBE_URL} para " + "w " * 60)
    lines = out.splitlines()
    assert url in lines and "" in lines and markers.UNSUBSCRIBE_URL in out
    assert all(len(line) <= 78 for line in lines if line != url)
    assert wrap("word " * 20, suffix=" [12]").endswith("word [12]")
    assert wrap("x" * 100) == "x" * 78 + "\n" + "x" * 22


def test_link_refs_deduplicate() -> None:
    ref = LinkRefs()
    assert (ref("https://a/"), ref("https://b/"), ref("https://a/")) == (1, 2, 1)
    assert ref.links == [(1, "https://a/"), (2, "https://b/")]


def test_render_timing(settings: Settings) -> None:
    articles = [article(i, image=f"{BASE}/{i}.jpg" if i < 2 else None) for i in range(20)]
    value = digest(articles, lead=2, also=(Teaser(title="T", excerpt="E", url=f"{BASE}/t/"),))
    render_digest(value, settings)  # compile the templates
    times = []
    for _ in range(30):
        start = time.perf_counter()
        render_digest(value, settings)
        times.append(time.perf_counter() - start)
    median = statistics.median(times) * 1000
    print(f"\nrender_digest, 20 articles: median {median:.2f} ms, max {max(times) * 1000:.2f} ms")
    assert len(render_digest(value, settings).preheader) <= PREHEADER_LIMIT

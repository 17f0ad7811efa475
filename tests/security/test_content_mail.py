"""Attacks on what articles put into mail and what content costs to read (issue 13, items 4,
5, 19 and 20), against real parts: an aiosmtpd server on 127.0.0.1 receiving each digest, a
local HTTP server serving hostile feeds, a real ``syndicate preview`` process. Every test
here failed before its fix.

Attacks defended:

- Encoded words in a title (item 5): ``=?utf-8?q?Hello=0D=0ABcc:_x@evil.test?=`` in a local
  title or a feed entry's no longer makes ``send`` refuse the digest, and a harmless one
  (``=?utf-8?b?U3Bvb2Y=?=``) is no longer decoded into the Subject: a subject holding ``=?``
  is written as RFC 2047 encoded words only, which a reader's decoder (checked with Python's
  ``policy.default``) shows as the title's literal text; no Bcc appears.
- An article a digest cannot carry (item 5): one whose text holds the reserved per-reader
  marker prefix ``SYNDICATEx9`` (which made the whole send refuse, "a marker was altered by
  rendering") is left out of every version and named in ``send``'s output (file and
  reason); the other articles are mailed. A send left in ``preparing`` by such an article is
  resumed without it, and the next digest goes out.
- Resumed sends (item 20): a send that failed while preparing (its archive folder could not
  be written: now a clear error naming ``archive/weekly/1.html``, not a traceback) writes its
  archive copy when it is resumed.
- The subject template (item 19): nested ``range(100000)`` loops made ``preview`` hang;
  loops, ``set``, macros and blocks are refused as a template error naming
  ``lists.weekly.subject``, and each operator, filter and method that could make a huge
  value (``'x' * 10**9``, ``center(10**9)``, ``'{:>99999999}'.format``, ``2 ** 10**8``,
  ``replace('', …)``) is refused before it runs.
- Quadratic HTML (item 4): ``<div>`` nested 100,000 deep, unclosed ``<em>`` chains and
  formatting elements that HTML parsers re-open in every paragraph (a 160 KB entry that
  sanitised to 98 MB) are refused by a linear scan before any parser sees them, as a
  content error naming the file (``content/deep.md:…``) or the feed entry; the other
  articles and entries are read. See ``syndicate/content/markup.py`` for the limits.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from html import escape as html_escape

import nh3
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select

from syndicate.config import FeedSource
from syndicate.content.markup import MAX_DEPTH, MarkupError, bounded_html
from syndicate.content.reader import read_site
from syndicate.digest.archive import archive_path
from syndicate.digest.prepare import prepare
from syndicate.digest.render import render_subject
from syndicate.errors import RenderError, SyndicateError
from syndicate.store.tables import sends
from tests.conftest import Site
from tests.httpserver import serve
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_send import CONFIG, SECRET, cli, fast, load, run_send, smtp, wall

EVIL = "=?utf-8?q?Hello=0D=0ABcc:_x@evil.test?="
SPOOF = "T =?utf-8?b?U3Bvb2Y=?="


@pytest.fixture
def mail_site(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """Weekly, one reader without topics, no articles yet."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    any_site.configure(CONFIG)
    load(any_site, "email,name\nada@example.org,Ada\n")
    return any_site


@pytest.fixture
def letter_site(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """``mail_site`` on SQLite only: for what does not touch the database much."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG)
    load(site, "email,name\nada@example.org,Ada\n")
    return site


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def write_article(
    site: Site, name: str, title: str, *, hours_ago: float, body: str = "Text."
) -> None:
    stamp = (wall() - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    quoted = title.replace("\\", "\\\\").replace('"', '\\"')
    site.write(f"{name}.md", f'---\ntitle: "{quoted}"\ndate: {stamp}\n---\n\n{body}\n')


def subjects(server: SmtpServer) -> list[str]:
    """The Subject of every received message, as a reader's mail program decodes it."""
    return [
        str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"])
        for m in server.messages
    ]


def send_status(site: Site) -> list[str]:
    with site.engine.connect() as conn:
        return [str(s) for s in conn.scalars(select(sends.c.status).order_by(sends.c.id))]


# --- item 5: encoded words in titles ------------------------------------------------------


def test_encoded_words_in_titles_reach_readers_literally(
    mail_site: Site, server: SmtpServer
) -> None:
    write_article(mail_site, "evil", EVIL, hours_ago=30)
    report = run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert report.finished and report.counts == {"sent": 1}
    write_article(mail_site, "spoof", SPOOF, hours_ago=0.1)
    report = run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert report.finished and report.counts == {"sent": 1}
    assert subjects(server) == [f"Weekly: {EVIL}", f"Weekly: {SPOOF}"]
    for message in server.messages:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        assert parsed["Bcc"] is None and message.recipients == ["ada@example.org"]
        head = message.data.split(b"\r\n\r\n", 1)[0]
        assert b"=?utf-8?q?Hello" not in head  # written encoded, never as the title's bytes
    assert send_status(mail_site) == ["done", "done"]


def test_encoded_words_in_a_feed_entry_title_reach_readers_literally(
    mail_site: Site, server: SmtpServer
) -> None:
    with serve() as feeds:
        feeds.route("/feed", body=rss([(EVIL, "<p>From the partner.</p>")]))
        url = feeds.url("/feed")
        with_feed(mail_site, url, CONFIG)
        read_site(mail_site.settings, mail_site.engine, now=wall())  # fetched and stored
    report = run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert report.finished and report.counts == {"sent": 1}
    assert subjects(server) == [f"Weekly: {EVIL}"]


# --- item 5: one article cannot be mailed -------------------------------------------------


def test_an_article_that_cannot_be_mailed_is_left_out_and_named(
    mail_site: Site, server: SmtpServer
) -> None:
    write_article(mail_site, "good", "Good news", hours_ago=2)
    write_article(mail_site, "bad", "Fine title", hours_ago=1, body="See syndicatex9NAME here.")
    report = run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert report.finished and report.counts == {"sent": 1}
    assert report.plan is not None
    [left] = report.plan.left_out
    assert left.where == "content/bad.md" and "SYNDICATEx9" in left.reason
    assert subjects(server) == ["Weekly: Good news"]
    body = server.messages[0].data.decode("ascii", "replace")
    assert "Fine title" not in body


def test_send_output_names_the_article_left_out(mail_site: Site) -> None:
    write_article(mail_site, "good", "Good news", hours_ago=2)
    write_article(mail_site, "bad", "Bad SYNDICATEx9EMAIL title", hours_ago=1)
    code, out, err = cli(mail_site, "send", "weekly", "--yes")
    assert code == 0, err
    assert "left out content/bad.md ('Bad SYNDICATEx9EMAIL title')" in out
    assert "weekly-1: 1 sent (finished)" in out


def test_a_send_stuck_in_preparing_does_not_block_later_digests(
    mail_site: Site, server: SmtpServer
) -> None:
    # A send stopped in `preparing` (its archive folder could not be written); meanwhile an
    # article of its digest was edited into one no digest can carry.
    write_article(mail_site, "bad", "Second story", hours_ago=2)
    write_article(mail_site, "good", "Good news", hours_ago=1)
    blocker = mail_site.root / "archive" / "weekly"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")
    with pytest.raises((SyndicateError, OSError)):  # OSError: before the clear message
        run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert send_status(mail_site) == ["preparing"]
    blocker.unlink()
    write_article(mail_site, "bad", "Second story", hours_ago=2, body="Oops syndicatex9 here.")
    report = run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert report.resumed and report.finished and report.counts == {"sent": 1}
    assert report.plan is not None and [a.where for a in report.plan.left_out] == ["content/bad.md"]
    assert subjects(server) == ["Weekly: Good news"]
    write_article(mail_site, "later", "Later news", hours_ago=0)
    report = run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert not report.resumed and report.finished
    assert subjects(server)[-1] == "Weekly: Later news"
    assert send_status(mail_site) == ["done", "done"]


# --- item 20: the archive copy of a resumed send ------------------------------------------


def test_a_send_resumed_after_failing_in_preparing_writes_its_archive(
    mail_site: Site, server: SmtpServer
) -> None:
    write_article(mail_site, "good", "Good news", hours_ago=1)
    blocker = mail_site.root / "archive" / "weekly"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")  # writing archive/weekly/1.html fails
    with pytest.raises((SyndicateError, OSError)):  # OSError: before the clear message
        run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert send_status(mail_site) == ["preparing"]
    blocker.unlink()
    report = run_send(mail_site, lambda: smtp(server), fast(wait=1.0))
    assert report.resumed and report.finished
    archived = archive_path(mail_site.settings, "weekly", 1)
    assert "Good news" in archived.read_text(encoding="utf-8")


def test_an_archive_that_cannot_be_written_is_a_clear_error(mail_site: Site) -> None:
    write_article(mail_site, "good", "Good news", hours_ago=1)
    (mail_site.root / "archive").mkdir()
    (mail_site.root / "archive" / "weekly").write_text("not a folder")
    code, _, err = cli(mail_site, "send", "weekly", "--yes")
    assert code == 1 and "Traceback" not in err
    assert "cannot write the archive copy archive/weekly/1.html" in err
    assert "`syndicate send weekly` resumes it" in " ".join(err.split())


# --- item 19: the subject template sandbox ------------------------------------------------

NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


def test_a_subject_template_cannot_hang_preview(letter_site: Site) -> None:
    letter_site.configure(CONFIG + f"subject = '{NESTED}'\n")
    write_article(letter_site, "good", "Good news", hours_ago=1)
    env = {**os.environ, "SYNDICATE_SECRET": SECRET}
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "syndicate",
                "--site",
                str(letter_site.root),
                "preview",
                "weekly",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("preview still rendering the subject after 60 s")
    assert done.returncode != 0
    assert "syndicate.toml: lists.weekly.subject" in done.stderr
    assert "loops" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 10**9 }}",
        "{{ [1] * 10**9 }}",
        "{{ 2 ** 100000000 }}",
        "{{ lead.title.center(10**9) }}",
        "{{ lead.title.ljust(999999) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{:>{}}'.format(1, 999999999) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%*d' % (999999999, 1) }}",
        "{{ ('x' * 5000)|replace('', 'y' * 5000) }}",
        "{{ ('y' * 5000).join(range(5000)|map('string')) }}",
        "{{ range(10**9)|sum }}",
        "{{ lead.title|center(10**9) }}",
        "{% set a = 'x' %}{{ a }}",
        "{% macro m() %}x{% endmacro %}{{ m() }}",
        "{{ '" + "x" * 3000 + "' }}",
    ],
)
def test_subject_expressions_that_would_make_huge_values_are_refused(
    letter_site: Site, template: str
) -> None:

    write_article(letter_site, "good", "Good news", hours_ago=1)
    settings = letter_site.settings
    articles = read_site(settings, letter_site.engine, now=wall(), offline=True).articles
    prepared = prepare(settings, letter_site.engine, "weekly", articles, now=wall())
    with pytest.raises(RenderError, match=r"lists\.weekly\.subject: cannot be rendered"):
        render_subject(template, next(iter(prepared.digests.values())), settings)


def test_ordinary_subject_templates_still_work(letter_site: Site) -> None:

    write_article(letter_site, "good", "Good news", hours_ago=1)
    settings = letter_site.settings
    articles = read_site(settings, letter_site.engine, now=wall(), offline=True).articles
    digest = next(
        iter(prepare(settings, letter_site.engine, "weekly", articles, now=wall()).digests.values())
    )
    cases = {
        "{{ list.title }} #{{ issue }}: {{ lead.title|upper }}": "Weekly #1: GOOD NEWS",
        "{{ '{} ({})'.format(lead.title, count) }}": "Good news (1)",
        "{{ '%s!' % lead.title }}{% if count > 1 %} +{{ count - 1 }}{% endif %}": "Good news!",
        "{{ lead.title|replace('Good', 'Great')|truncate(200) }}": "Great news",
        "{{ ', '.join(['a', 'b']) }} {{ lead.tags|join(',') or 'none' }}": "a, b none",
    }
    for template, expected in cases.items():
        assert render_subject(template, digest, settings) == expected


# --- item 4: quadratic HTML ---------------------------------------------------------------

DEEP = "<div>" * 40_000 + "x" + "</div>" * 40_000
# Tag soup: what opens, closes, hides (comments, CDATA, quotes) and changes parser mode.
SOUP = [
    *(f"<{n}>" for n in "div span b i a p li ul table tr td em svg g math select".split()),
    *(f"</{n}>" for n in "div span b i a p li ul table tr td em svg g math select".split()),
    "<br/>",
    "<g/>",
    "<!--",
    "-->",
    "<![CDATA[",
    "]]>",
    '<a title="',
    '">',
    "<script>",
    "</script>",
    "<textarea>",
    "</textarea>",
    "<foreignObject>",
    "x",
    " ",
    "<",
    "&lt;",
]
REOPENED = "<p>" + "".join(f"<b title=t{i}>" for i in range(250)) + "</p>" + "<p>x</p>" * 20_000


def test_deeply_nested_html_is_refused_and_the_other_articles_are_read(site: Site) -> None:
    site.write("deep.md", f"---\ntitle: Deep\n---\n\nIntro.\n\n{DEEP}\n")
    site.write("reopened.md", f"---\ntitle: Reopened\n---\n\nIntro.\n\n{REOPENED}\n")
    site.write("fine.md", "---\ntitle: Fine\n---\n\n<div><p>Real <b>HTML</b></p></div>\n")
    report = read_site(site.settings, site.engine, now=wall(), offline=True)
    assert [a.title for a in report.articles] == ["Fine"]
    problems = {p.path: p.reason for p in report.problems}
    assert problems.keys() == {"content/deep.md", "content/reopened.md"}
    assert problems["content/deep.md"].startswith("HTML nested more than 256 elements deep")
    assert problems["content/reopened.md"].startswith("HTML with more than 200,000 elements")


def rss(items: list[tuple[str, str]]) -> bytes:
    parts = "".join(
        f"<item><guid isPermaLink='false'>{title}</guid><title>{title}</title>"
        f"<link>https://partner.example.net/{title}</link>"
        f"<description>{html_escape(body)}</description></item>"
        for title, body in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>P</title>"
        f"<link>https://partner.example.net/</link><description>d</description>{parts}"
        "</channel></rss>"
    ).encode()


def with_feed(site: Site, url: str, extra: str = "") -> None:
    # Loopback sources need allow_private once the SSRF guard is in (issue 13, item 3).
    private = "allow_private = true\n" if "allow_private" in FeedSource.model_fields else ""
    site.configure(
        extra + f'\n[[content.sources]]\ntype = "feed"\nname = "partner"\nurl = "{url}"\n{private}'
    )


def test_a_feed_entry_with_deeply_nested_html_is_skipped_and_named(site: Site) -> None:
    with serve() as feeds:
        feeds.route("/feed", body=rss([("deep", DEEP), ("fine", "<p>Fine <b>text</b></p>")]))
        url = feeds.url("/feed")
        with_feed(site, url)
        report = read_site(site.settings, site.engine, now=wall())
    assert [a.title for a in report.articles] == ["fine"]
    [problem] = report.problems
    assert problem.path == url
    assert problem.reason.startswith("entry 1 has HTML nested more than 256 elements deep")


@given(st.lists(st.sampled_from(SOUP), max_size=300).map("".join))
@hypothesis_settings(max_examples=300)
def test_what_nh3_parses_is_never_deeper_than_the_bound(soup: str) -> None:
    try:
        out = bounded_html(soup)
    except MarkupError:
        return
    tags = {"div", "span", "b", "i", "a", "p", "li", "ul", "table", "tr", "td", "em", "svg"}
    cleaned = nh3.clean(out, tags=tags, attributes={}, clean_content_tags={"script", "style"})
    depth = deepest = 0
    for closing, _ in re.findall(r"<(/?)([a-z]+)", cleaned):
        depth += -1 if closing else 1
        deepest = max(deepest, depth)
    assert deepest <= MAX_DEPTH + 4  # the parser adds tbody/tr

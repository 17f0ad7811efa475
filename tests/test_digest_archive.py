"""The public archive: copies without the "view in browser" line, and an index per list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as policies

import httpx
import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender, SendReport
from syndicate.delivery.maildir import MaildirTransport
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.conftest import Site

SECRET = "archive-secret-0123456789abcdef"
CONFIG = """
[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"

[lists.weekly]
title = "Weekly"
subject = "Weekly {{ issue }}: {{ lead.title }}"

[lists.daily]
title = "Daily"
"""
DAY = timedelta(days=1)
START = datetime.now(UTC).replace(microsecond=0) - 10 * DAY


@pytest.fixture
def letter(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    any_site.configure(CONFIG)
    code, _, err = cli(any_site, "subscribers", "add", "weekly", "ada@example.org")
    assert code == 0, err
    return any_site


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def article(site: Site, name: str, published: datetime) -> None:
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write(f"{name}.md", f"---\ntitle: {name}\ndate: {stamp}\n---\n\nText of {name}.\n")


def send_at(site: Site, when: datetime) -> SendReport:
    """One real send of weekly into the Maildir, with the clock at ``when``."""
    settings = site.settings
    articles = read_site(settings, site.engine, now=when, offline=True).articles

    async def go() -> SendReport:
        transport = MaildirTransport(site.root / "maildir")
        clock: Callable[[], datetime] = lambda: when  # noqa: E731
        sender = Sender(settings, site.engine, transport, Signer(SECRET), clock=clock)
        try:
            return await sender.run("weekly", articles)
        finally:
            await transport.close()

    report = asyncio.run(go())
    assert report.finished and not report.nothing_new
    return report


def get(site: Site, *paths: str) -> list[httpx.Response]:
    app = create_app(site.settings, site.engine, signer=Signer(SECRET))

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(p) for p in paths]

    return asyncio.run(go())


def test_archive_copies_drop_the_view_in_browser_line(letter: Site) -> None:
    article(letter, "Opening", START - DAY)
    send_at(letter, START)
    [path] = (letter.root / "maildir" / "new").iterdir()
    sent = message_from_bytes(path.read_bytes(), policy=policies.default)
    html_part = sent.get_body(("html",))
    assert html_part is not None
    assert "View this email in your browser" in html_part.get_content()  # type: ignore[attr-defined]
    archived = (letter.root / "archive" / "weekly" / "1.html").read_text(encoding="utf-8")
    assert "View this email in your browser" not in archived
    assert "Opening" in archived and "SYNDICATEx9" not in archived
    page = lxml_html.fromstring(archived)  # still a whole page, its tables balanced
    assert page.find(".//body") is not None


def test_the_archive_index_lists_sent_issues_newest_first(letter: Site) -> None:
    article(letter, "Opening", START - DAY)
    send_at(letter, START)
    article(letter, "Second thoughts", START + DAY)
    send_at(letter, START + 2 * DAY)
    # A test copy and a preview of the next issue publish nothing.
    article(letter, "Not yet", START + 3 * DAY)
    code, _, err = cli(letter, "send", "weekly", "--offline", "--to", "me@example.net")
    assert code == 0, err
    code, _, err = cli(letter, "preview", "weekly", "--offline")
    assert code == 0, err

    index, bare, other, unknown = get(
        letter, "/archive/weekly/", "/archive/weekly", "/archive/daily/", "/archive/nope/"
    )
    assert index.status_code == 200, index.text
    assert index.headers["content-type"].startswith("text/html")
    page = lxml_html.fromstring(index.text)
    items = [" ".join(li.text_content().split()) for li in page.iter("li")]
    assert len(items) == 2, items
    assert "Weekly 2: Second thoughts" in items[0] and "Weekly 1: Opening" in items[1]
    day = START + 2 * DAY
    assert f"{day.day} {day:%B} {day.year}" in items[0]
    links = [a.get("href") for li in page.iter("li") for a in li.iter("a")]
    assert links == ["/archive/weekly/2.html", "/archive/weekly/1.html"]
    for response in get(letter, *links):
        assert response.status_code == 200
    assert "Not yet" not in index.text
    assert bare.status_code in (200, 301, 302, 307, 308)
    if bare.status_code != 200:
        assert bare.headers["location"].endswith("/archive/weekly/")
    assert other.status_code == 200 and "no issues" in other.text.lower()
    assert unknown.status_code == 404


def test_the_archive_index_escapes_subjects(letter: Site) -> None:
    article(letter, "<b>Bold</b> & co", START - DAY)
    send_at(letter, START)
    [index] = get(letter, "/archive/weekly/")
    assert index.status_code == 200
    assert "<b>Bold</b>" not in index.text
    assert "Weekly 1: &lt;b&gt;Bold&lt;/b&gt; &amp; co" in index.text

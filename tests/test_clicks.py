"""Click counts end to end: a real send into aiosmtpd with ``count_clicks = true``, its
``/c/`` links followed against the real web app under uvicorn (port 0).

Proves: content links in both parts become ``/c/`` links (unsubscribe, preferences,
List-Unsubscribe and the archive copy stay as they are); a followed link redirects to
exactly the article's URL and counts once; ids of another send's link, altered ids and ids
of a send whose record is gone are 404s; HEAD requests, scanner user agents and clicks
within the scanner window are answered but not counted; without ``per_subscriber`` no
subscriber id is stored (and every copy carries the same ids), with it the clicker is
stored; with ``count_clicks`` off the links are the article URLs. A property test: no id
but those issued ever redirects.
"""

from __future__ import annotations

import asyncio
import email
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from html import unescape
from urllib.parse import quote, unquote

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from syndicate.cli import main
from syndicate.config import parse_config
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender
from syndicate.errors import ConfigError
from syndicate.redact import redact
from syndicate.service.http import server_config
from syndicate.store.clicks import click_counts
from syndicate.store.tables import (
    click_links,
    deliveries,
    sends,
    subscriber_clicks,
    subscribers,
)
from syndicate.subscribers.clickids import ClickIds
from syndicate.subscribers.tokens import Signer
from syndicate.web.app import create_app
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_send import SECRET, article, csv_of, fast, load, smtp, wall

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
HREF = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"')
CLICK = re.compile(r"https://news\.example\.org/c/([A-Za-z0-9_-]+)")
READERS = ["ann@example.org", "bob@example.org"]


def config(*, count: bool = True, per_subscriber: bool = False) -> str:
    return f"""
[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"

[lists.weekly]
title = "Weekly"
count_clicks = {str(count).lower()}

[analytics]
per_subscriber = {str(per_subscriber).lower()}
"""


@dataclass
class Mail:
    """One received copy: its parts and its links."""

    to: str
    message: EmailMessage
    html: str
    text: str

    @property
    def hrefs(self) -> list[str]:
        return [unescape(h) for h in HREF.findall(self.html)]


def mails(server: SmtpServer) -> list[Mail]:
    out = []
    for m in server.messages:
        msg = email.message_from_bytes(m.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        html_part = msg.get_body(("html",))
        text_part = msg.get_body(("plain",))
        assert html_part is not None and text_part is not None
        out.append(
            Mail(
                to=m.recipients[0],
                message=msg,
                html=html_part.get_content(),
                text=text_part.get_content(),
            )
        )
    return sorted(out, key=lambda m: m.to)


def send(site: Site, server: SmtpServer, *, deliver: bool = True) -> int:
    """One real send of weekly to the server (``deliver=False``: its ledger written, no
    copy tried); its send id."""
    settings = site.settings
    articles = read_site(settings, site.engine, now=wall(), offline=True).articles

    async def go() -> int:
        transport = smtp(server)
        sender = Sender(settings, site.engine, transport, Signer(SECRET), clock=wall, policy=fast())
        try:
            report = await sender.run("weekly", articles, deliver=deliver)
        finally:
            await transport.close()
        assert report.finished is deliver, report
        assert report.send_id is not None
        return report.send_id

    return asyncio.run(go())


def article_url(site: Site, name: str) -> str:
    settings = site.settings
    for a in read_site(settings, site.engine, now=wall(), offline=True).articles:
        if a.title == name:
            return a.url
    raise AssertionError(name)


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.at = wall() + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.at


@contextmanager
def live(site: Site, clock: Callable[[], datetime]) -> Iterator[httpx.Client]:
    """The site's web app under uvicorn on 127.0.0.1 port 0; a client for it."""
    app = create_app(site.settings, site.engine, signer=Signer(SECRET), clock=clock)
    server = uvicorn.Server(server_config(app, site.settings.config.web, host="127.0.0.1", port=0))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"user-agent": BROWSER},
            follow_redirects=False,
        ) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def counts(site: Site, send_id: int) -> dict[str, int]:
    with site.engine.connect() as conn:
        return {link.url: link.clicks for link in click_counts(conn, send_id)}


def path_of(click_url: str) -> str:
    found = CLICK.fullmatch(click_url)
    assert found is not None, click_url
    return f"/c/{found.group(1)}"


@pytest.fixture
def letter(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    site = any_site
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(config())
    article(site, "first", wall() - timedelta(days=1))
    article(site, "second", wall() - timedelta(hours=20))
    load(site, csv_of(READERS))
    return site


def click_ids(mail: Mail) -> list[str]:
    """The /c/ URLs of a copy's HTML part, in order."""
    return [h for h in mail.hrefs if CLICK.fullmatch(h)]


def test_links_lead_through_c_and_count(letter: Site) -> None:
    first, second = article_url(letter, "first"), article_url(letter, "second")
    with serve_smtp() as server:
        send_id = send(letter, server)
        got = mails(server)
    assert [m.to for m in got] == READERS
    ann, bob = got
    for mail in got:
        hrefs = mail.hrefs
        # No article URL is left in the HTML or in the text's link list.
        assert first not in hrefs and second not in hrefs
        assert f"] {first}" not in mail.text and f"] {second}" not in mail.text
        links = list(dict.fromkeys(click_ids(mail)))
        assert len(links) == 3  # second, first, the site's home page (the footer)
        for url in links[:2]:  # the text twin's link list leads through the same ids
            assert f"] {url}" in mail.text
        # The footer's site address is printed as words in the text: left readable.
        assert "Test Letter · https://news.example.org\r\n" in mail.text
        # Per-recipient links and the view-in-browser copy are left as they are.
        unsub = [h for h in hrefs if h.startswith("https://news.example.org/unsubscribe/")]
        prefs = [h for h in hrefs if h.startswith("https://news.example.org/preferences/")]
        assert len(unsub) == 1 and len(prefs) == 1
        assert f"Unsubscribe: {unsub[0]}" in " ".join(mail.text.split())
        assert unsub[0] in mail.message["List-Unsubscribe"]
        assert "/c/" not in mail.message["List-Unsubscribe"]
        assert "https://news.example.org/archive/weekly/1.html" in hrefs
    # Without per_subscriber every copy carries the same ids: nothing tells readers apart.
    assert click_ids(ann) == click_ids(bob)
    archived = (letter.root / "archive" / "weekly" / "1.html").read_text(encoding="utf-8")
    assert "/c/" not in archived and f'href="{first}"' in archived

    clock = Clock()
    unique = list(dict.fromkeys(click_ids(ann)))
    lead, rest = path_of(unique[0]), path_of(unique[2])
    with live(letter, clock) as client:
        answer = client.get(lead)
        assert answer.status_code == 302
        assert answer.headers["location"] == second
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        assert counts(letter, send_id)[second] == 1
        # A HEAD and a scanner's GET are answered, not counted.
        assert client.head(lead).status_code == 302
        for agent in (
            "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1) Microsoft SafeLinks",
            "Proofpoint URL Defense/1.0",
            "python-requests/2.32.3",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ):
            scanned = client.get(lead, headers={"user-agent": agent})
            assert scanned.status_code == 302 and scanned.headers["location"] == second
        assert client.get(lead, headers={"user-agent": ""}).status_code == 302
        assert counts(letter, send_id)[second] == 1
        assert client.get(rest).headers["location"] == "https://news.example.org"
        assert counts(letter, send_id) == {second: 1, first: 0, "https://news.example.org": 1}
        # Altered ids: one character changed anywhere, cut short, made longer: 404.
        token = lead.removeprefix("/c/")
        for i in range(len(token)):
            swapped = "A" if token[i] != "A" else "B"
            altered = client.get(f"/c/{token[:i]}{swapped}{token[i + 1 :]}")
            assert altered.status_code == 404, i
            assert "location" not in altered.headers
        for bad in (token[:-1], token + "A", "x", "../etc/passwd", "%0d%0aLocation:x"):
            assert client.get(f"/c/{bad}").status_code == 404
        # A query or another URL in the request changes nothing: the stored URL only.
        steered = client.get(f"{lead}?url=https://evil.example/&next=//evil.example/")
        assert steered.headers["location"] == second
        assert counts(letter, send_id)[second] == 2
        with letter.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(subscriber_clicks)) == 0

        # A genuinely signed id pairing this send with a link of another send: 404.
        with letter.engine.begin() as conn:
            other = conn.execute(
                sends.insert().values(
                    list_name="weekly", digest_id="weekly-x", status="done", created_at=wall()
                )
            ).inserted_primary_key
            assert other is not None
            foreign = conn.execute(
                click_links.insert().values(
                    send_id=other[0], url_hash="0" * 64, url="https://evil.example/", clicks=0
                )
            ).inserted_primary_key
            assert foreign is not None
        ids = ClickIds(Signer(SECRET))
        assert client.get(f"/c/{ids.make(send_id, foreign[0])}").status_code == 404
        assert client.get(f"/c/{ids.make(other[0], foreign[0])}").status_code == 302
        # Another site's secret: 404.
        stranger = ClickIds(Signer("another-secret-0123456789abcdef"))
        link_id = int.from_bytes(ids_bytes(token)[5:9], "big")
        assert client.get(f"/c/{stranger.make(send_id, link_id)}").status_code == 404
        # The send's record gone (its links go with it): 404.
        with letter.engine.begin() as conn:
            conn.execute(delete(sends).where(sends.c.id == send_id))
        assert client.get(lead).status_code == 404


def ids_bytes(token: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def test_early_clicks_are_not_counted(letter: Site) -> None:
    with serve_smtp() as server:
        send_id = send(letter, server)
        got = mails(server)
    with letter.engine.connect() as conn:
        started = conn.scalar(select(sends.c.created_at).where(sends.c.id == send_id))
    assert started is not None
    clock = Clock()
    lead = path_of(click_ids(got[0])[0])
    second = article_url(letter, "second")
    with live(letter, clock) as client:
        for seconds in (0, 10, 59):
            clock.at = started + timedelta(seconds=seconds)
            assert client.get(lead).status_code == 302
        assert counts(letter, send_id)[second] == 0
        clock.at = started + timedelta(seconds=61)
        assert client.get(lead).status_code == 302
        assert counts(letter, send_id)[second] == 1


def test_per_subscriber_names_the_reader(letter: Site) -> None:
    letter.configure(config(per_subscriber=True))
    with serve_smtp() as server:
        send_id = send(letter, server)
        got = mails(server)
    ann, bob = got
    assert click_ids(ann) != click_ids(bob)  # each copy's ids name its reader
    assert len(click_ids(ann)) == len(click_ids(bob)) == 4  # the lead has two links
    for mail in got:
        for url in list(dict.fromkeys(click_ids(mail)))[:2]:
            assert f"] {url}" in mail.text
    clock = Clock()
    second = article_url(letter, "second")
    with live(letter, clock) as client:
        answer = client.get(path_of(click_ids(bob)[0]))
        assert answer.status_code == 302 and answer.headers["location"] == second
        client.get(path_of(click_ids(bob)[0]))
        assert client.head(path_of(click_ids(ann)[0])).status_code == 302
    with letter.engine.connect() as conn:
        rows = conn.execute(
            select(subscribers.c.email, subscriber_clicks.c.clicks, click_links.c.url)
            .join(subscribers, subscribers.c.id == subscriber_clicks.c.subscriber_id)
            .join(click_links, click_links.c.id == subscriber_clicks.c.link_id)
        ).all()
    assert [tuple(r) for r in rows] == [("bob@example.org", 2, second)]
    assert counts(letter, send_id)[second] == 2

    code, stdout, stderr = cli_run(letter, "report", "weekly-1")
    assert code == 0, stderr
    assert "clicks: 2 clicks on 3 links" in stdout
    assert f"  2  {second}" in stdout
    assert "bob@example.org: 2 clicks on" in stdout
    code, stdout, _ = cli_run(letter, "report", "weekly-1", "--json")
    docs = [json.loads(line) for line in stdout.splitlines()]
    clicks = [d for d in docs if d["kind"] == "click"]
    assert clicks[0]["url"] == second and clicks[0]["clicks"] == 2
    assert clicks[0]["readers"][0]["email"] == "bob@example.org"
    assert sum(d["clicks"] for d in clicks) == 2


def test_per_subscriber_early_rule_follows_the_copy(letter: Site) -> None:
    letter.configure(config(per_subscriber=True))
    with serve_smtp() as server:
        send_id = send(letter, server)
        got = mails(server)
    with letter.engine.connect() as conn:
        delivered = conn.execute(
            select(subscribers.c.email, deliveries.c.updated_at).join(
                subscribers, subscribers.c.id == deliveries.c.subscriber_id
            )
        ).all()
    at = dict((e, t) for e, t in delivered)
    clock = Clock()
    second = article_url(letter, "second")
    with live(letter, clock) as client:
        clock.at = at["ann@example.org"] + timedelta(seconds=30)
        client.get(path_of(click_ids(got[0])[0]))
        assert counts(letter, send_id)[second] == 0
        clock.at = at["ann@example.org"] + timedelta(seconds=90)
        client.get(path_of(click_ids(got[0])[0]))
        assert counts(letter, send_id)[second] == 1


def test_report_without_clicks_says_nothing_of_them(letter: Site) -> None:
    letter.configure(config(count=False))
    with serve_smtp() as server:
        send_id = send(letter, server)
        got = mails(server)
    first, second = article_url(letter, "first"), article_url(letter, "second")
    for mail in got:
        assert not click_ids(mail) and "/c/" not in mail.text and "/c/" not in mail.html
        assert first in mail.hrefs and second in mail.hrefs
        assert f"] {first}" in mail.text
    with letter.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(click_links)) == 0
    code, stdout, _ = cli_run(letter, "report", "weekly-1")
    assert code == 0 and "click" not in stdout
    assert send_id == 1


def cli_run(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Any text at all, percent-encoded into one path segment (the server decodes it again).
ANY_TEXT = st.text(min_size=1, max_size=80).map(lambda t: quote(t, safe=""))


def test_only_issued_ids_redirect(letter: Site) -> None:
    """Property: of any string, any one-character change of an issued id and any splice of
    two issued ids, only the issued ids redirect."""
    with serve_smtp() as server:
        send(letter, server)
        got = mails(server)
    issued = {path_of(u).removeprefix("/c/") for m in got for u in click_ids(m)}
    sample = sorted(issued)
    assert sample
    changed = st.builds(
        lambda base, at, ch: base[:at] + ch + base[at + 1 :],
        st.sampled_from(sample),
        st.integers(0, 40),
        st.sampled_from(URL_SAFE),
    )
    spliced = st.builds(
        lambda a, b, at: a[:at] + b[at:],
        st.sampled_from(sample),
        st.sampled_from(sample),
        st.integers(0, 40),
    )
    with live(letter, Clock()) as client:

        @hsettings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
        @given(st.one_of(ANY_TEXT, changed, spliced))
        def check(candidate: str) -> None:
            answer = client.get(f"/c/{candidate}")
            if unquote(candidate) in issued:
                assert answer.status_code == 302
            else:
                assert answer.status_code == 404, (candidate, answer.status_code)
                assert "location" not in answer.headers

        check()


def test_previews_keep_plain_links(letter: Site) -> None:
    """A preview (and so a test copy or an approval preview: the same TestCopies) of a list
    that counts clicks links to the articles themselves and records no link."""
    first = article_url(letter, "first")
    for fmt in ("html", "text", "eml"):
        code, stdout, stderr = cli_run(letter, "preview", "weekly", "--format", fmt, "--offline")
        assert code == 0, stderr
        assert first in stdout and "/c/" not in stdout
    with letter.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(click_links)) == 0


def test_click_ids_never_reach_a_log() -> None:
    """A per-subscriber click id names a reader: log lines hold ``/c/<token>`` instead."""
    ids = ClickIds(Signer(SECRET))
    for made in (ids.make(3, 7), ids.make(3, 7, 42)):
        line = redact(f'127.0.0.1:5000 - "GET /c/{made}?x=1 HTTP/1.1" 302')
        assert made not in line and "/c/<token>?x=1" in line


def test_post_mails_count_body_links(letter: Site) -> None:
    """A post list mails each article in full: the links in its body lead through /c/ too,
    in the HTML and in the text's "text (URL)"."""
    letter.configure(config().replace('title = "Weekly"', 'title = "Weekly"\nmode = "post"'))
    stamp = (wall() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    letter.write(
        "third.md",
        f"---\ntitle: third\ndate: {stamp}\n---\n\n"
        "Read [the source](https://source.example.net/report?id=7&lang=en) first.\n",
    )
    with serve_smtp() as server:
        settings = letter.settings
        articles = read_site(settings, letter.engine, now=wall(), offline=True).articles

        async def go() -> None:
            transport = smtp(server)
            sender = Sender(
                settings, letter.engine, transport, Signer(SECRET), clock=wall, policy=fast()
            )
            try:
                await sender.run("weekly", articles)
            finally:
                await transport.close()

        asyncio.run(go())
        got = mails(server)
    source = "https://source.example.net/report?id=7&lang=en"
    mine = [m for m in got if "third" in str(m.message["Subject"])]
    assert mine, [str(m.message["Subject"]) for m in got]
    for mail in mine:
        assert source not in mail.hrefs and source not in mail.text
        with letter.engine.connect() as conn:
            stored = {r.url for r in conn.execute(select(click_links.c.url))}
        assert source in stored
    with live(letter, Clock()) as client:
        for url in dict.fromkeys(click_ids(mine[0])):
            answer = client.get(path_of(url))
            assert answer.status_code == 302
            if answer.headers["location"] == source:
                assert f"the source ({url})" in " ".join(mine[0].text.split()), mine[0].text
                break
        else:
            raise AssertionError("no /c/ link of the mail leads to the body's link")


def test_settings_are_off_by_default_and_checked() -> None:
    good = '[publication]\ntitle = "T"\nbase_url = "https://example.org/"\n'
    parsed = parse_config(good + '[lists.weekly]\ntitle = "Weekly"\n')
    assert parsed.lists["weekly"].count_clicks is False
    assert parsed.analytics.per_subscriber is False and parsed.analytics.scanner_window == 60
    with pytest.raises(ConfigError) as info:
        parse_config(
            good + '[lists.weekly]\ntitle = "Weekly"\ncount_clicks = "yes"\n'
            "[analytics]\nper_subscriber = 1\nscanner_window = -5\nip = true\n"
        )
    said = "\n".join(info.value.problems)
    assert "lists.weekly.count_clicks: input should be a valid boolean" in said
    assert "analytics.per_subscriber: input should be a valid boolean" in said
    assert "analytics.scanner_window: input should be greater than or equal to 0" in said
    assert "analytics.ip: unknown key" in said

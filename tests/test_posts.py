"""Issue 16, full-article mails: a list with mode = "post" mails each new article on its own,
in full, on the same ledger as digests; `send --article ID` mails one chosen article once
(again only with --again); schedule = "on-publish" mails it after the poll that finds it.
Real parts: `syndicate` commands (click's runner), an aiosmtpd server, the store on SQLite
and PostgreSQL, the service's poll driven directly with an injected clock."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.digest.post import post_digest
from syndicate.digest.postrender import render_post
from syndicate.models import Article
from syndicate.service.work import Work
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp

SECRET = "test-secret-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "content" / "kazakhstan-mediator.txt"
READERS = ["ann@example.org", "bob@example.org"]
JOINED = datetime(2026, 10, 1, tzinfo=UTC)


def config(port: int, *, lists: str) -> str:
    return (
        '\n[email]\nfrom_name = "Test Letter"\nfrom_address = "letters@news.example.org"\n\n'
        f"{lists}\n"
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nconnections = 1\n'
        "timeout = 10\nwait_for_retries = 0\n"
    )


POSTS = '[lists.posts]\ntitle = "Every essay"\nmode = "post"\n'
WEEKLY = '[lists.weekly]\ntitle = "Weekly"\n'


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def subscribe(site: Site, list_name: str, emails: list[str] = READERS) -> None:
    csv = "email,name\n" + "".join(f"{a},\n" for a in emails)
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    assert not import_rows(site.engine, list_name, rows, now=JOINED).problems


def ago(days: float) -> str:
    """A date ``days`` before now: new articles are dated within the week before a send
    (``backdated_within``), as real ones are."""
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def article(site: Site, name: str, title: str, date: str, body: str) -> None:
    site.write(name, f"---\ntitle: {title}\ndate: {date}\nauthor: Ada Writer\n---\n\n{body}\n")


def parsed(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def parts(data: bytes) -> tuple[str, str]:
    """The text and the HTML part of a received message."""
    msg = parsed(data)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def subjects(server: SmtpServer, to: str = READERS[0]) -> list[str]:
    """The subjects ``to`` received, in the order the server took them."""
    return [str(parsed(m.data)["Subject"]) for m in server.messages if to in m.recipients]


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


@pytest.fixture
def posts(any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Site:
    """A site with a post list (and a digest list), two readers on each."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    any_site.configure(config(server.port, lists=POSTS + "\n" + WEEKLY))
    article(any_site, "first.md", "The first one", "2026-10-20T08:00:00Z", "Older news.")
    subscribe(any_site, "posts")
    subscribe(any_site, "weekly")
    return any_site


def test_each_new_article_is_mailed_on_its_own_in_full_in_date_order_once(
    posts: Site, server: SmtpServer
) -> None:
    code, _, stderr = cli(posts, "send", "posts", "--yes", "--offline")
    assert code == 0, stderr  # a new list's first run: the newest article only
    assert subjects(server) == ["The first one"]

    # Two new articles, the newer written first: they arrive oldest first.
    shutil.copy(SAMPLE, posts.content / "kazakhstan.txt")  # undated: dated by its mtime
    yesterday = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    os.utime(posts.content / "kazakhstan.txt", (yesterday, yesterday))
    article(posts, "b.md", "Pipelines under the Caspian", ago(2), "Body of B.")
    code, stdout, stderr = cli(posts, "send", "posts", "--yes", "--offline", "--json")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert [p["title"] for p in doc["posts"]] == [
        "Pipelines under the Caspian",
        "Among Conflicts and Sanctions: Kazakhstan’s Role in Navigating Peace and Resolving Crises",
    ]
    assert subjects(server)[1:] == [p["title"] for p in doc["posts"]]
    assert sorted(r for m in server.messages[2:] for r in m.recipients) == sorted(READERS * 2)

    mine = [m for m in server.messages if READERS[0] in m.recipients]
    b_text, b_html = parts(mine[1].data)
    k_text, k_html = parts(mine[2].data)
    assert "Body of B." in b_text and "Body of B." in b_html
    assert "Kassym-Jomart Tokayev" not in b_text + b_html  # each its own body...
    assert "Body of B." not in k_text + k_html
    # ...in full: every paragraph, the credit, the author and bio, the related reading
    last = "bring lasting peace to the region"
    for needle in (last, "Photo by the official website", "Ernest Gallo is an academic"):
        assert needle in k_text and needle in k_html
    assert "RELATED READING" in k_text and "Related reading" in k_html
    assert "On the Prospects of a Third World War" in k_text
    assert "On the Prospects of a Third World War" in k_html
    msg = parsed(mine[2].data)
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert "/unsubscribe/" in str(msg["List-Unsubscribe"])  # each reader's own link

    code, stdout, stderr = cli(posts, "send", "posts", "--yes", "--offline")
    assert code == 0, stderr
    assert "nothing new since the last post; nothing sent" in stdout
    assert len(server.messages) == 3 * len(READERS)  # a rerun mails nothing

    code, stdout, _ = cli(posts, "sends", "posts")
    assert code == 0
    assert "posts-2 'Pipelines under the Caspian' (done" in stdout
    code, stdout, _ = cli(posts, "report", "posts-2")
    assert code == 0 and stdout.startswith("posts-2 'Pipelines under the Caspian' (done)")
    code, stdout, _ = cli(posts, "status", "--json")
    titles = {s["digest"]: s["title"] for s in json.loads(stdout)["sends"]}
    assert titles["posts-1"] == "The first one"


def test_max_articles_per_run_the_rest_next_time(posts: Site, server: SmtpServer) -> None:
    posts.configure(config(server.port, lists=POSTS + "max_articles = 2\n"))
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    for n in range(1, 4):
        article(posts, f"n{n}.md", f"New {n}", ago(4 - n), f"Body {n}.")
    code, stdout, stderr = cli(posts, "send", "posts", "--dry-run", "--offline")
    assert code == 0, stderr
    assert "1 more new article wait for the next run (max_articles = 2)" in stdout
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    assert subjects(server) == ["The first one", "New 1", "New 2"]
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    assert subjects(server) == ["The first one", "New 1", "New 2", "New 3"]
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    assert len(subjects(server)) == 4


def test_article_goes_once_to_a_list_then_only_with_again(posts: Site, server: SmtpServer) -> None:
    code, stdout, _ = cli(posts, "articles", "--json", "--offline")
    (found,) = json.loads(stdout)["articles"]
    code, _, stderr = cli(posts, "send", "weekly", "--article", found["id"], "--yes", "--offline")
    assert code == 0, stderr  # a digest list takes one article on its own too
    assert subjects(server) == ["The first one"]
    text, html = parts(server.messages[0].data)
    assert "Older news." in text and "Older news." in html

    code, _, stderr = cli(posts, "send", "weekly", "--article", found["id"], "--yes", "--offline")
    assert code == 1
    assert "was already mailed to weekly as weekly-1" in stderr
    assert "add --again to mail it to the list again" in stderr
    assert len(server.messages) == len(READERS)  # refused: nothing more went out

    args = ("send", "weekly", "--article", found["id"], "--again", "--yes", "--offline")
    code, stdout, stderr = cli(posts, *args)
    assert code == 0, stderr
    assert "weekly-2 'The first one': 2 sent (finished)" in stdout
    assert subjects(server) == ["The first one", "The first one"]

    code, _, stderr = cli(posts, "send", "weekly", "--article", "no-such-id", "--yes")
    assert code == 1 and "no article with id 'no-such-id'" in stderr
    assert "`syndicate articles` lists each article's id" in stderr
    code, _, stderr = cli(posts, "send", "weekly", "--again", "--yes")
    assert code == 1 and "--again goes with --article ID" in stderr
    assert len(server.messages) == 2 * len(READERS)


def test_a_digest_list_is_unaffected(posts: Site, server: SmtpServer) -> None:
    article(posts, "b.md", "Second", ago(1), "Newer news.")
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    code, stdout, stderr = cli(posts, "send", "weekly", "--yes", "--offline")
    assert code == 0, stderr
    assert "weekly-1: 2 sent (finished)" in stdout
    digest = [m for m in server.messages if str(parsed(m.data)["Subject"]).startswith("Weekly")]
    assert len(digest) == len(READERS)
    text, _ = parts(digest[0].data)
    assert "Issue 1" in text and "Second" in text and "The first one" in text
    assert str(parsed(digest[0].data)["Subject"]) == "Weekly: Second and 1 more"


class _Tags(HTMLParser):
    """Every start tag with its attributes: an independent look at what the mail holds."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


HOSTILE = (
    'Hello <script>alert("s")</script> reader. <a href="javascript:alert(1)">one</a> '
    '<a href=" JaVaScRiPt:alert(2)">two</a> <img src="https://x.example/a.png" '
    'onerror="alert(3)"> <span onclick="alert(4)" onmouseover="alert(5)">span</span> '
    '<iframe src="https://evil.example/"></iframe> <svg onload="alert(6)"></svg> '
    '<form action="https://evil.example/"><input name="q"></form>'
    '<a href="vbscript:msgbox(7)">three</a> <a href="data:text/html,<script>8</script>">4</a>'
)


def test_hostile_article_html_never_reaches_the_mail(posts: Site, server: SmtpServer) -> None:
    article(posts, "bad.md", "Bad markup", "2026-10-22T08:00:00Z", HOSTILE)
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    (subject,) = set(subjects(server))
    assert subject == "Bad markup"
    text, html = parts(server.messages[0].data)
    assert "Hello" in html and "reader." in html and "span" in html  # the text stays
    body = html[html.index("</head>") :]  # the head holds the template's own style
    seen = _Tags()
    seen.feed(body)
    names = {tag for tag, _ in seen.tags}
    assert not names & {"script", "iframe", "svg", "form", "input", "style", "object"}
    for tag, attrs in seen.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            scheme = (value or "").strip().lower()
            assert not scheme.startswith(("javascript:", "vbscript:", "data:")), (tag, name)
    assert "alert" not in html and "alert" not in text


def test_a_post_recorded_for_workers_is_delivered_by_a_worker(
    posts: Site, server: SmtpServer
) -> None:
    code, stdout, stderr = cli(posts, "send", "posts", "--yes", "--offline", "--workers")
    assert code == 0, stderr
    assert "`syndicate worker` delivers it" in stdout
    assert not server.messages
    code, _, stderr = cli(posts, "worker", "--once")
    assert code == 0, stderr
    assert subjects(server) == ["The first one"]  # rebuilt from the record, as a post
    text, _ = parts(server.messages[0].data)
    assert "Older news." in text and "Issue" not in text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_post_stopped_by_the_server_is_resumed_then_the_rest_go(
    posts: Site, server: SmtpServer
) -> None:
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    article(posts, "b.md", "Bee", ago(2), "Body B.")
    article(posts, "c.md", "Cee", ago(1), "Body C.")
    posts.configure(config(_closed_port(), lists=POSTS))
    code, _, stderr = cli(posts, "send", "posts", "--yes", "--offline")
    assert code == 1 and "cannot connect to 127.0.0.1" in stderr
    posts.configure(config(server.port, lists=POSTS))
    code, _, stderr = cli(posts, "send", "posts", "--yes", "--offline")
    assert code == 0, stderr
    assert "resuming posts-2" in stderr
    assert subjects(server) == ["The first one", "Bee"]  # the resumed post only...
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    assert subjects(server) == ["The first one", "Bee", "Cee"]  # ...then the rest, once
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    assert len(server.messages) == 3 * len(READERS)


def test_on_publish_mails_a_new_article_after_the_next_poll(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    on_publish = POSTS + 'schedule = "on-publish"\n'
    site.configure(config(server.port, lists=on_publish))
    article(site, "first.md", "The first one", "2026-11-01T08:00:00Z", "Older news.")
    subscribe(site, "posts")
    clock = [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]

    async def poll(work: Work) -> None:
        await work.poll()
        await work.drain(timedelta(seconds=60))  # the sends the poll started

    async def go() -> list[list[str]]:
        work = Work(site.settings, site.engine, Signer(SECRET), clock=lambda: clock[0])
        seen = []
        await poll(work)
        seen.append(subjects(server))
        article(site, "new.md", "Just in", "2026-12-01T08:30:00Z", "Fresh.")
        article(site, "later.md", "Scheduled", "2026-12-01T12:00:00Z", "Not yet.")
        clock[0] += timedelta(minutes=5)
        await poll(work)
        seen.append(subjects(server))
        clock[0] += timedelta(minutes=5)
        await poll(work)  # nothing new: nothing sent
        seen.append(subjects(server))
        clock[0] = datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC)  # its date arrives
        await poll(work)
        seen.append(subjects(server))
        work.stop()
        work.cancel_due()
        return seen

    first, second, third, fourth = asyncio.run(go())
    assert first == ["The first one"]
    assert second == ["The first one", "Just in"]
    assert third == second
    assert fourth == ["The first one", "Just in", "Scheduled"]
    assert len(server.messages) == 3 * len(READERS)


def test_on_publish_needs_mode_post(site: Site) -> None:
    site.configure('\n[lists.weekly]\ntitle = "Weekly"\nschedule = "on-publish"\n')
    code, _, stderr = cli(site, "check")
    assert code == 2
    assert 'lists.weekly: schedule: "on-publish" mails each article as it appears' in stderr
    assert 'set mode = "post"' in stderr
    site.configure('\n[lists.news]\ntitle = "News"\nmode = "post"\nschedule = "on-publish"\n')
    code, stdout, stderr = cli(site, "schedule")
    assert code == 0, stderr
    assert (
        stdout == "news: on-publish (UTC), next after each content poll that finds a new article\n"
    )
    code, stdout, _ = cli(site, "schedule", "--json")
    assert json.loads(stdout)["lists"][0]["next_run"] is None


def test_the_mail_sanitises_the_article_again_whatever_the_store_holds(site: Site) -> None:
    """An article whose stored HTML was never cleaned (an older version, a hand-edited
    store) is cleaned when its mail is made: both parts."""
    site.configure(config(25, lists=POSTS))
    settings = site.settings
    now = datetime(2026, 12, 1, tzinfo=UTC)
    raw = Article(
        id="x1",
        source="content",
        key="x.md",
        slug="x",
        title="Raw",
        url="https://news.example.org/x/",
        published=now,
        updated=None,
        first_seen=now,
        author=None,
        author_bio=None,
        teaser="Teaser.",
        tags=(),
        image=None,
        image_credit=None,
        html=HOSTILE,
        related=(),
        content_hash="0" * 64,
    )
    cfg = settings.mailing_list("posts")
    post = post_digest("posts", cfg, raw, issue=1, publication=settings.publication, now=now)
    rendered = render_post(post, settings)
    assert rendered.subject == "Raw"
    seen = _Tags()
    seen.feed(rendered.html[rendered.html.index("</head>") :])
    assert not {t for t, _ in seen.tags} & {"script", "iframe", "svg", "form", "input"}
    for tag, attrs in seen.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith(("javascript:", "vbscript:"))
    assert "alert" not in rendered.html and "alert" not in rendered.text
    assert "Hello" in rendered.text and "reader." in rendered.text


def test_a_test_copy_of_a_post_has_inert_links_and_records_nothing(
    posts: Site, server: SmtpServer
) -> None:
    code, stdout, stderr = cli(
        posts, "send", "weekly", "--to", "desk@example.org", "--article", "first"
    )
    assert code == 0, stderr  # an article's slug names it too
    assert "test copy of weekly-1" in stdout
    (msg,) = server.messages
    assert msg.recipients == ["desk@example.org"]
    mail = parsed(msg.data)
    assert str(mail["Subject"]) == "The first one"
    assert "/test-copy/unsubscribe" in str(mail["List-Unsubscribe"])
    text, html = parts(msg.data)
    assert "Older news." in text and "Older news." in html
    for body in (text, html):  # weekly-1 does not exist: no link to its archive page
        assert "/archive/" not in body and "in your browser" not in body
    code, stdout, _ = cli(posts, "preview", "posts", "--article", "first", "--format", "text")
    assert code == 0 and "Older news." in stdout and "/archive/" not in stdout
    code, stdout, _ = cli(posts, "sends")
    assert code == 0 and "no sends yet" in stdout
    code, _, stderr = cli(posts, "send", "posts", "--yes", "--note", str(posts.root / "x.md"))
    assert code == 1 and "--note goes with digests" in stderr


def test_a_post_killed_mid_send_is_resumed_and_every_reader_gets_each_article_once(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    readers = [f"r{i}@example.org" for i in range(150)]
    # One connection, never grown (adaptive concurrency would add connections on a busy
    # machine, whose slow loopback looks like a far relay): so one copy in flight at most.
    site.configure(config(server.port, lists=POSTS) + "max_connections = 1\n")
    article(site, "first.md", "The first one", "2026-10-20T08:00:00Z", "Older news.")
    subscribe(site, "posts", readers)
    assert cli(site, "send", "posts", "--yes", "--offline")[0] == 0
    article(site, "b.md", "Bee", ago(2), "Body B.")
    article(site, "c.md", "Cee", ago(1), "Body C.")
    before = len(server.messages)
    server.set_fault("*", "slow-rcpt", delay=0.01)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--site", str(site.root), "send", "posts", "--yes"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    limit = time.monotonic() + 60
    while len(server.messages) < before + 20:  # the first post is going out
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < limit, "no progress within 60 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    with server.handler._lock:
        server.handler._faults.clear()
    for _ in range(3):  # resume the killed post, then the rest, then nothing is left
        code, _, stderr = cli(site, "send", "posts", "--yes", "--offline")
        assert code == 0, stderr
    got = Counter(
        (str(parsed(m.data)["Subject"]), r) for m in server.messages[before:] for r in m.recipients
    )
    for subject in ("Bee", "Cee"):
        assert {r for s, r in got if s == subject} == set(readers)
    assert sum(n - 1 for n in got.values()) <= 1  # at most the one copy in flight, twice
    assert set(subjects(server, readers[0])) == {"The first one", "Bee", "Cee"}


def test_post_subject_and_the_post_templates_are_the_sites_to_change(site: Site) -> None:
    lists = POSTS + 'post_subject = "{{ list.title }} · {{ article.title|upper }}"\n'
    site.configure(config(25, lists=lists))
    article(site, "first.md", "The first one", "2026-10-20T08:00:00Z", "Older news.")
    own = site.root / "templates" / "post.txt.j2"
    own.parent.mkdir()
    own.write_text(
        "{{ article.title }}\n{{ body.text }}\n{{ article.nope }}\n{{ unsubscribe_url }}\n"
    )
    code, _, stderr = cli(site, "check", "--offline")
    assert code == 1
    assert "templates/post.txt.j2:3: " in stderr and "no attribute 'nope'" in stderr
    own.write_text("OWN TEMPLATE {{ article.title }}\n{{ body.text }}\n{{ unsubscribe_url }}\n")
    later = own.stat().st_mtime + 10  # a new version, whatever the clock's resolution
    os.utime(own, (later, later))
    assert cli(site, "check", "--offline")[0] == 0
    code, stdout, stderr = cli(site, "preview", "posts", "--format", "text", "--offline")
    assert code == 0, stderr
    assert stdout.startswith("OWN TEMPLATE The first one\nOlder news.")
    code, stdout, stderr = cli(site, "preview", "posts", "--format", "eml", "--offline")
    assert code == 0, stderr
    assert str(parsed(stdout.encode())["Subject"]) == "Every essay · THE FIRST ONE"


def test_an_article_send_is_the_lists_first_mail_older_articles_are_not_new(
    posts: Site, server: SmtpServer
) -> None:
    # trial16 B2: after `send LIST --article <newest>` on a post list that never ran, the
    # next run mailed the old article before it as new (the first-run rule took it).
    article(posts, "b.md", "The newest", ago(1), "Newest news.")
    code, stdout, _ = cli(posts, "articles", "--json", "--offline")
    newest = next(a for a in json.loads(stdout)["articles"] if a["title"] == "The newest")
    code, _, stderr = cli(posts, "send", "posts", "--article", newest["id"], "--yes", "--offline")
    assert code == 0, stderr
    assert subjects(server) == ["The newest"]

    code, stdout, stderr = cli(posts, "send", "posts", "--dry-run", "--offline")
    assert code == 0, stderr
    assert "The first one" not in stdout and "nothing new" in stdout
    code, stdout, stderr = cli(posts, "send", "posts", "--yes", "--offline")
    assert code == 0, stderr
    assert subjects(server) == ["The newest"]  # the old article is not "new" for the list

    # What appears after that first mail is new, a backdated one within the window too.
    article(posts, "c.md", "Written after", ago(0.5), "Later news.")
    article(posts, "d.md", "Backdated a little", ago(3), "Backdated news.")
    code, stdout, stderr = cli(posts, "send", "posts", "--yes", "--offline")
    assert code == 0, stderr
    assert subjects(server) == ["The newest", "Backdated a little", "Written after"]


def test_send_article_json_lists_the_post_under_posts_as_readme_says(
    posts: Site, server: SmtpServer
) -> None:
    # trial16 U10: `send --article --json` had "posts": [] (README: a post list's send
    # --json has "posts": [{"digest", "title", "resumed", "finished", "counts"}]).
    for list_name in ("posts", "weekly"):  # a digest list's --article send is a post too
        args = ("send", list_name, "--article", "first", "--yes", "--offline", "--json")
        code, stdout, stderr = cli(posts, *args)
        assert code == 0, stderr
        doc = json.loads(stdout)
        (post,) = doc["posts"]
        assert set(post) == {"digest", "title", "resumed", "finished", "counts"}
        assert post["digest"] == doc["digest"] == f"{list_name}-1"
        assert post["title"] == doc["title"] == "The first one"
        assert post["finished"] is True and post["resumed"] is False
        assert post["counts"] == doc["counts"] and post["counts"]["sent"] == len(READERS)
    code, stdout, stderr = cli(posts, "send", "weekly", "--yes", "--offline", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["posts"] == []  # a digest is not a post


def test_a_dry_run_of_one_post_does_not_say_each_oldest_first(
    posts: Site, server: SmtpServer
) -> None:
    # trial16 U3: "1 new article, each mailed on its own, oldest first"
    code, stdout, stderr = cli(posts, "send", "posts", "--dry-run", "--offline")
    assert code == 0, stderr
    assert "posts: 1 new article, mailed on its own\n" in stdout
    assert cli(posts, "send", "posts", "--yes", "--offline")[0] == 0
    article(posts, "b.md", "Second", ago(2), "B.")
    article(posts, "c.md", "Third", ago(1), "C.")
    code, stdout, stderr = cli(posts, "send", "posts", "--dry-run", "--offline")
    assert code == 0, stderr
    assert "posts: 2 new articles, each mailed on its own, oldest first\n" in stdout

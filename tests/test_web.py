"""The web app through httpx's ASGI transport, on a real store (SQLite, and PostgreSQL when
configured): feed files with conditional GET and gzip, and the subscriber pages."""

from __future__ import annotations

import asyncio
import email
import gzip
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import policy
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from syndicate.content.reader import read_site
from syndicate.digest.archive import archive_path
from syndicate.errors import ConfigError
from syndicate.feeds.build import build_feeds
from syndicate.models import Source, Status
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change, NewSubscriber
from syndicate.store.tables import outbox
from syndicate.subscribers.address import normalize_address
from syndicate.subscribers.signup import Signups
from syndicate.subscribers.tokens import Purpose, Signer
from syndicate.web import create_app
from syndicate.web.files import accepts_gzip
from syndicate.web.ratelimit import RateLimiter
from syndicate.web.render import web_env
from tests.conftest import NOW, Site

SECRET = "web-test-secret-0123456789abcdef"
FROM = "letters@news.example.org"
WEB_CONFIG = f"""
[email]
from_name = "Test Letter"
from_address = "{FROM}"

[lists.weekly]
title = "Weekly"
description = "The week's articles"
tags = ["trade", "diplomacy"]

[lists.daily]
title = "Daily"
tags = ["trade", "energy"]
"""
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


# --- helpers (test_outbox.py uses them too) --------------------------------------------------


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Web:
    """An httpx client on the app through the ASGI transport, all on one event loop."""

    def __init__(self, app: Starlette, client: tuple[str, int] = ("192.0.2.10", 50000)) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=client)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://test")

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def raw(self, url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        """A GET whose body is returned as sent (not gzip-decoded)."""

        async def go() -> tuple[httpx.Response, bytes]:
            async with self.client.stream("GET", url, headers=headers) as response:
                return response, b"".join([chunk async for chunk in response.aiter_raw()])

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def carry_out(site: Site, clock: Clock) -> Callable[[], None]:
    """What ``syndicate run``'s outbox sender does first when the form rings, done at once:
    the recorded subscribe requests are carried out (pending lists, confirmation mails)."""
    signups = Signups(site.settings, site.engine, signer=Signer(SECRET), env=web_env(site.root))

    def ring() -> None:
        signups(clock())

    return ring


def make_app(
    site: Site,
    clock: Clock,
    *,
    limiter: RateLimiter | None = None,
    on_outbox: Callable[[], None] | None = None,
) -> Starlette:
    """The app; ``on_outbox`` by default carries out each subscribe request at once."""
    return create_app(
        site.settings,
        site.engine,
        signer=Signer(SECRET),
        clock=clock,
        on_outbox=on_outbox or carry_out(site, clock),
        limiter=limiter or RateLimiter(capacity=1000, period=1),
    )


def add(site: Site, address: str, statuses: dict[str, Status], topics: tuple[str, ...] = ()) -> int:
    """A subscriber with the given status (and ``topics``) on each list; their id."""
    valid = normalize_address(address)
    with site.engine.begin() as conn:
        new = NewSubscriber(email=valid.email, key=valid.key, name=None, attributes=())
        sid = repo.insert_subscribers(conn, [new], now=NOW)[valid.key]
        repo.apply_changes(
            conn,
            [
                Change(subscriber_id=sid, list_name=n, status=s, previous=None, source=Source.CLI)
                for n, s in statuses.items()
            ],
            now=NOW,
        )
        for n in statuses:
            repo.set_topics(conn, n, [(sid, topics)])
    return sid


def status_of(site: Site, sid: int, list_name: str) -> Status | None:
    with site.engine.connect() as conn:
        return repo.statuses(conn, [sid], list_name).get(sid)


def events(site: Site, sid: int) -> list[repo.Event]:
    with site.engine.connect() as conn:
        return repo.events_of(conn, sid)


def outbox_rows(site: Site) -> list[Any]:
    with site.engine.connect() as conn:
        return list(conn.execute(select(outbox).order_by(outbox.c.id)))


def make_token(purpose: Purpose, sid: int, list_name: str, now: datetime = NOW) -> str:
    return Signer(SECRET).make(purpose, sid, list_name, now=now)


def confirm(web: Web, path: str) -> httpx.Response:
    """Use a confirm link as a person does: open it (a page with one button, which changes
    nothing), then press the button (a POST to the same address); the last answer."""
    page = web.get(path)
    if page.status_code != 200:
        return page
    assert re.search(
        r'<form method="post">\s*<button type="submit">Confirm my subscription', page.text
    )
    return web.post(path)


def confirm_paths(message: bytes) -> list[str]:
    """The confirm links (as paths) in the text part of a confirmation mail."""
    parsed = email.message_from_bytes(message, policy=policy.default)
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()  # type: ignore[attr-defined]
    return re.findall(r"https://news\.example\.org(/confirm/[A-Za-z0-9_.-]+)", text)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web_site(any_site: Site) -> Site:
    """A site with two lists and an [email] section, on each configured database."""
    any_site.configure(WEB_CONFIG)
    return any_site


@pytest.fixture
def web(web_site: Site, clock: Clock) -> Iterator[Web]:
    client = Web(make_app(web_site, clock))
    yield client
    client.close()


@pytest.fixture
def feed_site(site: Site) -> Site:
    """A built publication (SQLite): main feeds and tag feeds."""
    site.configure(WEB_CONFIG)
    for n, tags in enumerate((["trade"], ["trade", "energy"], ["diplomacy"]), start=1):
        body = f"The first paragraph of article {n}, on trade and diplomacy. " * 8
        site.write(
            f"a{n}.md",
            f"---\ntitle: Article {n}\ndate: 2026-01-0{n} 08:00:00\ntags: {tags}\n---\n{body}\n",
        )
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    assert not report.problems
    build_feeds(site.settings, site.engine, report.articles)
    return site


@pytest.fixture
def files(feed_site: Site, clock: Clock) -> Iterator[Web]:
    client = Web(make_app(feed_site, clock))
    yield client
    client.close()


# --- feeds and archive ------------------------------------------------------------------------


def test_each_feed_has_its_content_type_and_bytes(feed_site: Site, files: Web) -> None:
    folder = feed_site.settings.feeds_dir
    expected = {
        "rss.xml": "application/rss+xml; charset=utf-8",
        "atom.xml": "application/atom+xml; charset=utf-8",
        "feed.json": "application/feed+json; charset=utf-8",
        "tags/trade/rss.xml": "application/rss+xml; charset=utf-8",
        "tags/energy/atom.xml": "application/atom+xml; charset=utf-8",
        "tags/diplomacy/feed.json": "application/feed+json; charset=utf-8",
    }
    for rel, media_type in expected.items():
        response = files.get(f"/feeds/{rel}")
        assert response.status_code == 200, rel
        assert response.headers["content-type"] == media_type
        assert response.content == (folder / rel).read_bytes()
        assert response.headers["etag"].startswith('"')  # strong
        assert "max-age" in response.headers["cache-control"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_conditional_get_with_etag_is_304_without_body(feed_site: Site, files: Web) -> None:
    first = files.get("/feeds/atom.xml")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for value in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        again = files.get("/feeds/atom.xml", headers={"if-none-match": value})
        assert again.status_code == 304, value
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["last-modified"] == modified
    other = files.get("/feeds/atom.xml", headers={"if-none-match": '"other"'})
    assert other.status_code == 200 and other.content == first.content
    # The file changes: the old ETag no longer matches.
    path = feed_site.settings.feeds_dir / "atom.xml"
    path.write_bytes(path.read_bytes().replace(b"Article 1", b"Article One"))
    changed = files.get("/feeds/atom.xml", headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert b"Article One" in changed.content


def test_conditional_get_with_if_modified_since(feed_site: Site, files: Web) -> None:
    first = files.get("/feeds/rss.xml")
    modified = first.headers["last-modified"]
    same = files.get("/feeds/rss.xml", headers={"if-modified-since": modified})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == first.headers["etag"]
    older = files.get(
        "/feeds/rss.xml", headers={"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert older.status_code == 200 and older.content == first.content
    # If-None-Match takes precedence over If-Modified-Since.
    both = files.get(
        "/feeds/rss.xml", headers={"if-none-match": '"stale"', "if-modified-since": modified}
    )
    assert both.status_code == 200


def test_gzip_when_accepted(feed_site: Site, files: Web) -> None:
    data = (feed_site.settings.feeds_dir / "feed.json").read_bytes()
    response, raw = files.raw("/feeds/feed.json", {"accept-encoding": "gzip, br"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert len(raw) < len(data)
    assert gzip.decompress(raw) == data
    for refused in ("gzip;q=0", "identity", "br", "*;q=0"):
        plain, body = files.raw("/feeds/feed.json", {"accept-encoding": refused})
        assert "content-encoding" not in plain.headers, refused
        assert plain.headers["vary"] == "Accept-Encoding"
        assert body == data
    star, body = files.raw("/feeds/feed.json", {"accept-encoding": "*"})
    assert star.headers["content-encoding"] == "gzip"
    # A revalidation of the gzipped copy is a 304 that names the gzipped ETag.
    again = files.get(
        "/feeds/feed.json",
        headers={"accept-encoding": "gzip", "if-none-match": response.headers["etag"]},
    )
    assert again.status_code == 304 and again.headers["etag"] == response.headers["etag"]


def test_accept_encoding_parsing() -> None:
    assert accepts_gzip(b"gzip")
    assert accepts_gzip(b"deflate, gzip;q=0.5")
    assert accepts_gzip(b"*")
    assert not accepts_gzip(b"gzip;q=0")
    assert not accepts_gzip(b"gzip; q=0.000")
    assert not accepts_gzip(b"*;q=0")
    assert not accepts_gzip(b"*, gzip;q=0")
    assert not accepts_gzip(b"br, deflate")
    assert not accepts_gzip(b"gzip;q=nonsense")


def test_head_has_the_headers_and_no_body(feed_site: Site, files: Web) -> None:
    full = files.get("/feeds/rss.xml")
    head = files.request("HEAD", "/feeds/rss.xml")
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "last-modified", "content-type", "content-length"):
        assert head.headers[name] == full.headers[name]
    assert files.post("/feeds/rss.xml").status_code == 405


def test_paths_outside_the_feeds_folder_are_refused(feed_site: Site, files: Web) -> None:
    folder = feed_site.settings.feeds_dir
    secret = feed_site.root / "secret.txt"
    secret.write_text("do not serve")
    (folder / "leak.xml").symlink_to(secret)
    (folder / "tags" / "alias.xml").symlink_to(folder / "rss.xml")  # inside: fine
    (folder / ".hidden.xml").write_text("<rss/>")
    for path in (
        "/feeds/../secret.txt",
        "/feeds/%2e%2e/secret.txt",
        "/feeds/tags/..%2f..%2fsecret.txt",
        "/feeds/tags/%2e%2e/%2e%2e/syndicate.toml",
        f"/feeds/{secret}",
        "/feeds//etc/passwd",
        "/feeds/leak.xml",
        "/feeds/rss.xml%00",
        "/feeds/.hidden.xml",
        "/feeds/tags",
        "/feeds/tags\\..\\..\\secret.txt",
    ):
        response = files.get(path)
        assert response.status_code == 404, path
        assert b"do not serve" not in response.content
    assert files.get("/feeds/tags/alias.xml").content == (folder / "rss.xml").read_bytes()


def test_paths_are_checked_as_the_server_decoded_them(feed_site: Site, clock: Clock) -> None:
    """Raw ASGI scopes, as a server hands them over after percent-decoding."""
    app = make_app(feed_site, clock)
    (feed_site.root / "secret.txt").write_text("do not serve")

    async def get(path: str) -> int:
        sent: list[dict[str, Any]] = []
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode("latin-1", "replace"),
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("test", 80),
            "client": ("192.0.2.1", 1),
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    for path in ("/feeds/../secret.txt", "/feeds/tags/../../secret.txt", "/feeds/rss.xml\x00"):
        assert asyncio.run(get(path)) == 404, path
    assert asyncio.run(get("/feeds/tags/../rss.xml")) == 404  # dot segments are never followed
    assert asyncio.run(get("/feeds/rss.xml")) == 200


def test_archive_copies_are_served_as_html(feed_site: Site, files: Web) -> None:
    path = archive_path(feed_site.settings, "weekly", 3)
    path.parent.mkdir(parents=True)
    path.write_text("<!doctype html><title>Weekly 3</title>", encoding="utf-8")
    response = files.get("/archive/weekly/3.html")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<!doctype html><title>Weekly 3</title>"
    again = files.get("/archive/weekly/3.html", headers={"if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    (path.parent / "0.html").write_text("zero")
    (path.parent / "notes.txt").write_text("notes")
    for bad in ("/archive/weekly/0.html", "/archive/weekly/notes.txt", "/archive/Weekly/3.html"):
        assert files.get(bad).status_code == 404, bad


# --- subscribing ------------------------------------------------------------------------------


def subscribe(
    web: Web, address: str, *lists: str, name: str = "", **headers: str
) -> httpx.Response:
    form = {"email": address, "name": name, "list": list(lists)}
    return web.post("/subscribe", data=form, headers=headers)


def test_subscribe_form_lists_the_declared_lists(web: Web) -> None:
    page = web.get("/subscribe?list=daily")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    assert 'name="viewport"' in page.text
    assert '<label for="email">' in page.text
    assert re.search(r'value="daily" checked', page.text)
    assert not re.search(r'value="weekly" checked', page.text)
    assert "The week&#39;s articles" in page.text


def test_subscribe_answer_is_the_same_for_new_pending_and_active(web_site: Site, web: Web) -> None:
    pending = add(web_site, "pending@example.org", {"weekly": Status.PENDING})
    active = add(web_site, "active@example.org", {"weekly": Status.ACTIVE})
    answers = [
        subscribe(web, address, "weekly")
        for address in ("new@example.org", "pending@example.org", "active@example.org")
    ]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].content == answers[1].content == answers[2].content
    assert answers[0].headers == answers[1].headers == answers[2].headers
    assert "Check your inbox" in answers[0].text
    # Mail for the new and the pending one; the active one is left alone.
    assert [row.recipient for row in outbox_rows(web_site)] == [
        "new@example.org",
        "pending@example.org",
    ]
    assert status_of(web_site, pending, "weekly") is Status.PENDING
    assert status_of(web_site, active, "weekly") is Status.ACTIVE
    with web_site.engine.connect() as conn:
        new = repo.subscriber_by_key(conn, "new@example.org")
    assert new is not None and status_of(web_site, new.id, "weekly") is Status.PENDING
    trail = events(web_site, new.id)
    assert trail[-1].source is Source.WEB and "192.0.2.10" in (trail[-1].detail or "")
    # Asking again at once sends nothing more to a pending address.
    assert subscribe(web, "pending@example.org", "weekly").content == answers[0].content
    assert len(outbox_rows(web_site)) == 2


def test_subscribe_never_unsuppresses_bounced_or_complained(web_site: Site, web: Web) -> None:
    bounced = add(web_site, "bounced@example.org", {"weekly": Status.BOUNCED})
    complained = add(web_site, "complained@example.org", {"weekly": Status.COMPLAINED})
    left = add(web_site, "left@example.org", {"weekly": Status.UNSUBSCRIBED})
    reference = subscribe(web, "someone@example.org", "weekly").content
    for address in ("bounced@example.org", "complained@example.org", "left@example.org"):
        assert subscribe(web, address, "weekly").content == reference
    assert status_of(web_site, bounced, "weekly") is Status.BOUNCED
    assert status_of(web_site, complained, "weekly") is Status.COMPLAINED
    # Someone who left may ask again: pending until they confirm it themselves.
    assert status_of(web_site, left, "weekly") is Status.PENDING
    recipients = [row.recipient for row in outbox_rows(web_site)]
    assert recipients == ["someone@example.org", "left@example.org"]


def test_one_mail_and_one_click_for_several_lists(web_site: Site, web: Web) -> None:
    subscribe(web, "ann@example.org", "weekly", "daily")
    rows = outbox_rows(web_site)
    assert len(rows) == 1
    [path] = confirm_paths(rows[0].data)  # one button, not one per list
    with web_site.engine.connect() as conn:
        found = repo.subscriber_by_key(conn, "ann@example.org")
    assert found is not None
    page = confirm(web, path)
    assert page.status_code == 200 and "Weekly and Daily" in page.text
    # One click confirmed everything the request asked for: nothing stays pending.
    assert status_of(web_site, found.id, "weekly") is Status.ACTIVE
    assert status_of(web_site, found.id, "daily") is Status.ACTIVE


def test_a_multi_list_link_confirms_what_is_still_wanted(web_site: Site, web: Web) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.PENDING, "daily": Status.PENDING})
    token = Signer(SECRET).make(Purpose.CONFIRM, sid, ["weekly", "daily"], now=NOW)
    with web_site.engine.begin() as conn:  # left daily after the link was sent
        change = Change(
            subscriber_id=sid,
            list_name="daily",
            status=Status.UNSUBSCRIBED,
            previous=Status.PENDING,
            source=Source.WEB,
        )
        repo.apply_changes(conn, [change], now=NOW + timedelta(minutes=5))
    page = confirm(web, f"/confirm/{token}")
    assert page.status_code == 200
    assert "You unsubscribed from Daily after this link was sent" in page.text
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE
    assert status_of(web_site, sid, "daily") is Status.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"email": "not-an-address", "list": "weekly"}, "valid email address"),
        ({"email": "ann@example.org\r\nBcc: x@evil.example", "list": "weekly"}, "valid email"),
        ({"email": "ann@example.org", "list": "weekly", "name": "Ann\r\nBcc: x@e.example"}, "name"),
        ({"email": "ann@example.org", "list": "weekly", "name": "=?utf-8?q?=0D=0A?="}, "name"),
        ({"email": "ann@example.org", "list": "weekly", "name": "A" * 201}, "name"),
        ({"email": "ann@example.org"}, "at least one list"),
        ({"email": "ann@example.org", "list": "secret"}, "does not exist"),
    ],
)
def test_bad_subscribe_input_shows_the_form_again(
    web_site: Site, web: Web, form: dict[str, str], error: str
) -> None:
    response = web.post("/subscribe", data=form)
    assert response.status_code == 400
    assert error in response.text
    assert "<form" in response.text and 'role="alert"' in response.text
    assert outbox_rows(web_site) == []
    with web_site.engine.connect() as conn:
        assert repo.counts(conn) == {}


def test_script_in_a_name_or_address_is_escaped(web_site: Site, web: Web) -> None:
    script = "<script>alert(1)</script>"
    bad = web.post("/subscribe", data={"email": f"{script}@x", "name": script, "list": "weekly"})
    assert bad.status_code == 400
    ok = subscribe(web, "ann@example.org", "weekly", name=script)
    assert ok.status_code == 200
    for response in (bad, ok, web.get(f"/subscribe?list={script}")):
        assert "<script" not in response.text
    assert "&lt;script&gt;" in bad.text
    [row] = outbox_rows(web_site)
    html = email.message_from_bytes(row.data, policy=policy.default)
    body = html.get_body(preferencelist=("html",))
    assert body is not None
    assert "<script" not in body.get_content()  # type: ignore[attr-defined]


def test_rate_limit_per_client(web_site: Site, clock: Clock) -> None:
    now = [0.0]
    limiter = RateLimiter(capacity=2, period=600, clock=lambda: now[0])
    app = make_app(web_site, clock, limiter=limiter)
    first, second = Web(app, ("192.0.2.1", 1)), Web(app, ("192.0.2.2", 1))
    try:
        assert subscribe(first, "a@example.org", "weekly").status_code == 200
        assert subscribe(first, "b@example.org", "weekly").status_code == 200
        limited = subscribe(first, "c@example.org", "weekly")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert "Too many requests" in limited.text
        assert subscribe(second, "d@example.org", "weekly").status_code == 200
        now[0] += 301  # one token back after period / capacity
        assert subscribe(first, "c@example.org", "weekly").status_code == 200
    finally:
        first.close()
        second.close()
    assert [r.recipient for r in outbox_rows(web_site)] == [
        "a@example.org",
        "b@example.org",
        "d@example.org",
        "c@example.org",
    ]


def test_posts_from_another_site_are_refused(web_site: Site, web: Web) -> None:
    foreign = subscribe(web, "ann@example.org", "weekly", origin="https://evil.example")
    assert foreign.status_code == 403
    null = subscribe(web, "ann@example.org", "weekly", origin="null")
    assert null.status_code == 403
    referer = subscribe(web, "ann@example.org", "weekly", referer="https://evil.example/x")
    assert referer.status_code == 403
    assert outbox_rows(web_site) == []
    assert subscribe(web, "ann@example.org", "weekly", origin="http://test").status_code == 200
    own = subscribe(web, "bob@example.org", "weekly", origin="https://news.example.org")
    assert own.status_code == 200
    assert len(outbox_rows(web_site)) == 2


def test_the_publications_own_site_may_post_the_form_by_default(site: Site, clock: Clock) -> None:
    # The pages run on their own host; the form is embedded on the magazine's website.
    site.configure(
        WEB_CONFIG.replace(
            "[email]", '[web]\nbase_url = "https://subscribe.example.org"\n\n[email]'
        )
    )
    toml = site.root / "syndicate.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace('"https://news.example.org"', '"https://Magazine.example:443/"'),
        encoding="utf-8",
    )
    client = Web(make_app(site, clock))
    try:
        embedded = subscribe(client, "ann@example.org", "weekly", origin="https://magazine.example")
        assert embedded.status_code == 200
        from_page = subscribe(
            client, "bob@example.org", "weekly", referer="https://magazine.example/signup/"
        )
        assert from_page.status_code == 200
        pages = subscribe(
            client, "cy@example.org", "weekly", origin="https://subscribe.example.org"
        )
        assert pages.status_code == 200
        # Not another scheme, port or subdomain of it.
        for other in (
            "http://magazine.example",
            "https://magazine.example:8443",
            "https://www.magazine.example",
        ):
            assert subscribe(client, "eve@example.org", "weekly", origin=other).status_code == 403
    finally:
        client.close()


def test_allowed_origins_lets_other_sites_post_the_form(site: Site, clock: Clock) -> None:
    site.configure(
        WEB_CONFIG.replace(
            "[email]",
            '[web]\nallowed_origins = ["https://signup.partner.example", "http://localhost:8080"]'
            "\n\n[email]",
        )
    )
    assert site.settings.config.web.allowed_origins == [
        "https://signup.partner.example",
        "http://localhost:8080",
    ]
    client = Web(make_app(site, clock))
    try:
        for n, origin in enumerate(["https://signup.partner.example", "http://localhost:8080"]):
            response = subscribe(client, f"a{n}@example.org", "weekly", origin=origin)
            assert response.status_code == 200, origin
        # The pages' own origin always may; the site not listed any more may not.
        assert subscribe(client, "own@example.org", "weekly", origin="https://news.example.org")
        refused = subscribe(client, "x@example.org", "weekly", origin="https://evil.example")
        assert refused.status_code == 403
    finally:
        client.close()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"https://magazine.example/signup"', "no path, query or user"),
        ('"magazine.example"', "must be an origin such as"),
        ('"ftp://magazine.example"', "must be an origin such as"),
        ('"https://*.magazine.example"', "without spaces or wildcards"),
        ('"https://magazine.example:99999"', "bad port"),
    ],
)
def test_allowed_origins_must_be_origins(site: Site, value: str, expected: str) -> None:
    site.configure(f"[web]\nallowed_origins = [{value}]\n")
    with pytest.raises(ConfigError) as info:
        site.settings  # noqa: B018 - loading is what is tested
    [problem] = info.value.problems
    assert problem.startswith("syndicate.toml: web.allowed_origins[0]: "), problem
    assert expected in problem, problem


def test_international_addresses_are_unicode_to_people_and_punycode_on_the_wire(
    web_site: Site, web: Web
) -> None:
    assert subscribe(web, "ann@Bücher.example", "weekly", name="Ann").status_code == 200
    [row] = outbox_rows(web_site)
    assert row.recipient == "ann@xn--bcher-kva.example"  # the SMTP envelope
    message = email.message_from_bytes(row.data, policy=policy.default)
    assert message["To"] == "ann@xn--bcher-kva.example"
    assert b"\nTo: ann@xn--bcher-kva.example\r\n" in row.data  # as written, ASCII
    text = message.get_body(("plain",))
    assert text is not None and "subscribe ann@bücher.example to" in text.get_content()
    with web_site.engine.connect() as conn:
        found = repo.subscriber_by_key(conn, "ann@xn--bcher-kva.example")
    assert found is not None
    page = web.get(f"/preferences/{make_token(Purpose.PREFERENCES, found.id, 'weekly')}")
    assert "For <strong>ann@bücher.example</strong>" in page.text
    assert "xn--" not in page.text


def test_an_address_with_a_non_ascii_local_part_gets_its_confirmation(
    web_site: Site, web: Web
) -> None:
    # email-validator accepts "jörg@…" (SMTPUTF8): the form must not answer 500 for it.
    assert subscribe(web, "jörg@bücher.example", "weekly", name="Jörg").status_code == 200
    [row] = outbox_rows(web_site)
    assert row.recipient == "jörg@xn--bcher-kva.example"
    message = email.message_from_bytes(row.data, policy=policy.default)
    assert message["To"] == "jörg@xn--bcher-kva.example"
    text = message.get_body(("plain",))
    assert text is not None and "subscribe jörg@bücher.example to" in text.get_content()
    assert confirm_paths(row.data)


def test_the_confirmation_text_fits_78_columns_and_signs_off_properly(
    web_site: Site, web: Web
) -> None:
    subscribe(web, "ann@example.org", "weekly", name="Ann")
    [row] = outbox_rows(web_site)
    message = email.message_from_bytes(row.data, policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    long = [line for line in text.splitlines() if len(line) > 78 and "://" not in line]
    assert long == []
    assert "-- " in text.splitlines()  # the signature separator plain-text mail readers recognise


# --- confirming -------------------------------------------------------------------------------


def test_confirm_link_activates(web_site: Site, web: Web, clock: Clock) -> None:
    subscribe(web, "ann@example.org", "weekly")
    [row] = outbox_rows(web_site)
    [path] = confirm_paths(row.data)
    clock.advance(timedelta(hours=2))
    page = confirm(web, path)
    assert page.status_code == 200
    assert "You’re subscribed" in page.text
    assert page.headers["cache-control"] == "no-store"
    with web_site.engine.connect() as conn:
        found = repo.subscriber_by_key(conn, "ann@example.org")
    assert found is not None
    assert status_of(web_site, found.id, "weekly") is Status.ACTIVE
    assert [(e.status, e.source) for e in events(web_site, found.id)] == [
        (Status.PENDING, Source.WEB),
        (Status.ACTIVE, Source.WEB),
    ]
    # The page links to the preferences, with a token that works.
    preferences = re.search(r'href="(/preferences/[^"]+)"', page.text)
    assert preferences is not None and web.get(preferences.group(1)).status_code == 200
    # Twice: the same good news, no new event.
    assert confirm(web, path).status_code == 200
    assert len(events(web_site, found.id)) == 2


def test_expired_confirm_link_asks_again(web_site: Site, web: Web, clock: Clock) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.PENDING})
    path = f"/confirm/{make_token(Purpose.CONFIRM, sid, 'weekly')}"
    clock.advance(timedelta(days=8))
    page = web.get(path)
    assert page.status_code == 400
    assert "expired" in page.text and 'href="/subscribe"' in page.text
    assert status_of(web_site, sid, "weekly") is Status.PENDING


def test_confirm_after_unsubscribing_does_not_reactivate(
    web_site: Site, web: Web, clock: Clock
) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.PENDING})
    link = f"/confirm/{make_token(Purpose.CONFIRM, sid, 'weekly')}"
    clock.advance(timedelta(hours=1))
    unsubscribe = f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, sid, 'weekly', clock.now)}"
    assert web.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    clock.advance(timedelta(hours=1))
    page = confirm(web, link)
    assert page.status_code == 409 and "unsubscribed after this link" in page.text
    assert status_of(web_site, sid, "weekly") is Status.UNSUBSCRIBED
    # Subscribing again makes it pending; the old link still does not activate it.
    subscribe(web, "ann@example.org", "weekly")
    assert status_of(web_site, sid, "weekly") is Status.PENDING
    assert confirm(web, link).status_code == 409
    assert status_of(web_site, sid, "weekly") is Status.PENDING
    [path] = confirm_paths(outbox_rows(web_site)[-1].data)
    assert confirm(web, path).status_code == 200
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE


# --- unsubscribing ----------------------------------------------------------------------------


def test_one_click_unsubscribe_without_cookies_and_repeats(web_site: Site, web: Web) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.ACTIVE, "daily": Status.ACTIVE})
    path = f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, sid, 'weekly')}"
    page = web.get(path)
    assert page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE  # a GET changes nothing
    for _ in range(2):
        done = web.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
        assert done.status_code == 200
        assert "You’re unsubscribed" in done.text
        assert not web.client.cookies
    assert status_of(web_site, sid, "weekly") is Status.UNSUBSCRIBED
    assert status_of(web_site, sid, "daily") is Status.ACTIVE
    trail = events(web_site, sid)
    assert [(e.list_name, e.status, e.source) for e in trail[2:]] == [
        ("weekly", Status.UNSUBSCRIBED, Source.WEB)
    ]


def test_one_click_as_multipart_form_data(web_site: Site, web: Web) -> None:
    """RFC 8058's own example posts multipart/form-data."""
    sid = add(web_site, "ann@example.org", {"weekly": Status.PENDING})
    path = f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, sid, 'weekly')}"
    done = web.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    assert done.status_code == 200
    assert status_of(web_site, sid, "weekly") is Status.UNSUBSCRIBED


def test_one_click_with_a_garbled_body_still_unsubscribes(web_site: Site, web: Web) -> None:
    """The POST itself is the request (RFC 8058): a body we cannot parse does not undo it."""
    sid = add(web_site, "ann@example.org", {"weekly": Status.ACTIVE})
    path = f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, sid, 'weekly')}"
    broken = {"content-type": "multipart/form-data; boundary=xyz"}
    done = web.post(path, content=b"--xyz\r\nnot a part", headers=broken)
    assert done.status_code == 200
    assert status_of(web_site, sid, "weekly") is Status.UNSUBSCRIBED


def forgeries(purpose: Purpose, sid: int) -> list[str]:
    """Tokens for ``purpose`` that must not pass: altered, foreign, wrong purpose, garbage."""
    good = make_token(purpose, sid, "weekly")
    payload, _, tag = good.partition(".")
    flipped = tag[:-2] + ("A" if tag[-2] != "A" else "B") + tag[-1]
    other = next(p for p in Purpose if p is not purpose)
    other_list = make_token(purpose, sid, "daily").partition(".")[0]
    return [
        f"{payload}.{flipped}",
        f"{other_list}.{tag}",  # another list, same signature
        Signer("another-secret-0123456789abcdef").make(purpose, sid, "weekly", now=NOW),
        make_token(other, sid, "weekly"),
        "garbage",
        good + "x",
    ]


def test_forged_or_altered_tokens_are_refused(web_site: Site, web: Web) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.ACTIVE, "daily": Status.PENDING})
    for bad in forgeries(Purpose.UNSUBSCRIBE, sid):
        response = web.post(
            f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
        )
        assert response.status_code == 400, bad
        assert "not valid" in response.text
        assert web.get(f"/unsubscribe/{bad}").status_code == 400
    for bad in forgeries(Purpose.CONFIRM, sid):
        assert web.get(f"/confirm/{bad}").status_code == 400, bad
    for bad in forgeries(Purpose.PREFERENCES, sid):
        assert web.get(f"/preferences/{bad}").status_code == 400, bad
        assert web.post(f"/preferences/{bad}", data={"list": ["daily"]}).status_code == 400
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE
    assert status_of(web_site, sid, "daily") is Status.PENDING
    assert len(events(web_site, sid)) == 2


# --- preferences ------------------------------------------------------------------------------


def fieldset(page: str, list_name: str) -> str:
    """The part of the preferences page about one list."""
    opening = f'<fieldset class="list" id="prefs-{list_name}">'
    found = re.search(re.escape(opening) + "(.*?)</fieldset>", page, re.S)
    assert found is not None, f"no fieldset for {list_name}"
    return found.group(1)


def test_preferences_offer_and_save_topics_per_list(web_site: Site, web: Web) -> None:
    sid = add(
        web_site,
        "ann@example.org",
        {"weekly": Status.ACTIVE, "daily": Status.UNSUBSCRIBED},
        topics=("local news",),
    )
    with web_site.engine.begin() as conn:  # "local news" was chosen on weekly only
        repo.set_topics(conn, "daily", [(sid, ())])
    path = f"/preferences/{make_token(Purpose.PREFERENCES, sid, 'weekly')}"
    page = web.get(path)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    weekly, daily = fieldset(page.text, "weekly"), fieldset(page.text, "daily")
    # Each list offers its own tags, plus what the reader already has on that list.
    offered = r'name="topic:{}" value="([^"]+)"'
    assert re.findall(offered.format("weekly"), weekly) == ["diplomacy", "local news", "trade"]
    assert re.findall(offered.format("daily"), daily) == ["energy", "trade"]
    assert re.search(r'value="local news" checked', weekly)
    assert re.search(r'value="weekly" checked', weekly)
    assert not re.search(r'value="daily" checked', daily)
    saved = web.post(
        path,
        data={
            "topic:weekly": ["trade", "energy", "made-up"],  # energy is daily's, not weekly's
            "topic:daily": ["energy"],
            "list": ["daily"],
        },
        headers={},
    )
    assert saved.status_code == 200 and "saved" in saved.text
    assert status_of(web_site, sid, "weekly") is Status.UNSUBSCRIBED
    # Coming back to a list they left needs their consent again: pending, and a mail.
    assert status_of(web_site, sid, "daily") is Status.PENDING
    assert "To get <strong>Daily</strong>, please confirm" in saved.text
    assert [row.recipient for row in outbox_rows(web_site)] == ["ann@example.org"]
    with web_site.engine.connect() as conn:
        assert repo.topics_of(conn, sid) == {"weekly": ("trade",), "daily": ("energy",)}
        on_daily = repo.subscriber_by_key(conn, "ann@example.org", "daily")
    assert on_daily is not None and on_daily.topics == ("energy",)
    again = web.get(path).text
    assert re.search(r'value="trade" checked', fieldset(again, "weekly"))
    assert not re.search(r'value="trade" checked', fieldset(again, "daily"))
    trail = [(e.list_name, e.status, e.source) for e in events(web_site, sid)[2:]]
    assert sorted(trail) == [
        ("daily", Status.PENDING, Source.WEB),
        ("weekly", Status.UNSUBSCRIBED, Source.WEB),
    ]
    # From another site: refused, nothing changes.
    refused = web.post(path, data={"list": ["weekly"]}, headers={"origin": "https://evil.example"})
    assert refused.status_code == 403
    assert status_of(web_site, sid, "weekly") is Status.UNSUBSCRIBED


def test_preferences_keep_bounced_lists_suppressed(web_site: Site, web: Web) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.BOUNCED})
    path = f"/preferences/{make_token(Purpose.PREFERENCES, sid, 'weekly')}"
    assert re.search(r'value="weekly"[^>]*disabled', web.get(path).text)
    web.post(path, data={"list": ["weekly", "daily"]})
    assert status_of(web_site, sid, "weekly") is Status.BOUNCED
    # They get no list: joining one needs a confirmation, as on the subscribe form.
    assert status_of(web_site, sid, "daily") is Status.PENDING


def test_preferences_show_a_pending_list_ticked_and_unticking_withdraws_it(
    web_site: Site, web: Web
) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.ACTIVE, "daily": Status.PENDING})
    path = f"/preferences/{make_token(Purpose.PREFERENCES, sid, 'weekly')}"
    page = web.get(path).text
    assert re.search(r'value="daily"[^>]*checked', page), page  # they asked for it
    web.post(path, data={"list": ["weekly"]})
    assert status_of(web_site, sid, "daily") is Status.UNSUBSCRIBED
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE


# --- every page -------------------------------------------------------------------------------


def test_security_headers_and_error_pages(web_site: Site, web: Web) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.ACTIVE})
    pages = [
        web.get("/subscribe"),
        web.get(f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, sid, 'weekly')}"),
        web.get("/unsubscribe"),
        web.get("/nowhere"),
        web.get("/confirm/bad"),
    ]
    for page in pages:
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] in ("no-referrer", "same-origin")
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "<!doctype html>" in page.text
    assert pages[3].status_code == 404 and "Not found" in pages[3].text
    assert web.request("DELETE", "/subscribe").status_code == 405


def test_web_needs_no_email_section_to_serve_pages(site: Site, clock: Clock) -> None:
    """Without [email], the form still shows, and a post explains instead of failing."""
    site.configure('[lists.weekly]\ntitle = "Weekly"\n')
    client = Web(make_app(site, clock))
    try:
        assert client.get("/subscribe").status_code == 200
        response = subscribe(client, "ann@example.org", "weekly")
        assert response.status_code == 503
    finally:
        client.close()
    assert outbox_rows(site) == []


def test_symlinked_feeds_folder_inside_site_still_works(site: Site, clock: Clock) -> None:
    real = site.root / "built"
    real.mkdir()
    (real / "rss.xml").write_text("<rss version='2.0'><channel/></rss>")
    os.symlink(real, site.root / "feeds")
    client = Web(make_app(site, clock))
    try:
        response = client.get("/feeds/rss.xml")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    finally:
        client.close()


def test_unknown_xml_and_json_are_sniffed(site: Site, clock: Clock) -> None:
    folder = site.settings.feeds_dir
    folder.mkdir()
    (folder / "custom.xml").write_text('<?xml version="1.0"?><feed xmlns="x"/>')
    (folder / "other.xml").write_text('<?xml version="1.0"?><urlset/>')
    (folder / "custom.json").write_text('{"version": "https://jsonfeed.org/version/1.1"}')
    (folder / "data.json").write_text("{}")
    client = Web(make_app(site, clock))
    try:
        types = {n: client.get(f"/feeds/{n}").headers["content-type"] for n in os.listdir(folder)}
    finally:
        client.close()
    assert types == {
        "custom.xml": "application/atom+xml; charset=utf-8",
        "other.xml": "application/xml; charset=utf-8",
        "custom.json": "application/feed+json; charset=utf-8",
        "data.json": "application/json",
    }

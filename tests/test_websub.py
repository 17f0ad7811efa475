"""WebSub: after a build that changed a feed, the hub hears about it (`hub.mode=publish`);
a hub that fails is retried by later builds and by `run`, and never fails a build."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.feeds.build import build_feeds
from syndicate.feeds.websub import backoff, queue_pings, send_pings
from syndicate.service.work import Work
from syndicate.store import pings
from syndicate.subscribers.tokens import Signer
from tests.conftest import NOW, Site
from tests.httpserver import FeedServer, serve


def with_hub(site: Site, hub: str) -> None:
    site.configure(f'\n[feeds]\nhub = "{hub}"\nitems = 2\n')
    for n in range(1, 4):
        site.write(f"a{n}.md", f"---\ntitle: A{n}\ndate: 2026-11-0{n}\ntags: [Trade]\n---\nx\n")


def build(site: Site, when: datetime = NOW) -> list[str]:
    report = read_site(site.settings, site.engine, now=when, offline=True)
    built = build_feeds(site.settings, site.engine, report.articles)
    queue_pings(site.settings, site.engine, built.written, now=when)
    return list(built.written)


def pinged(server: FeedServer) -> list[str]:
    urls = []
    for request in server.requests_for("/hub"):
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = parse_qs(request.body.decode())
        assert form["hub.mode"] == ["publish"]
        urls.extend(form["hub.url"])
    return urls


def test_changed_feeds_are_published_to_the_hub(site: Site) -> None:
    with serve() as server:
        server.route("/hub", status=204, content_type="text/plain")
        with_hub(site, server.url("/hub"))
        written = build(site)
        assert any(rel.startswith("archive/") for rel in written)
        report = send_pings(site.settings, site.engine, now=NOW)
        feeds = site.settings.feeds_url
        expected = sorted(
            f"{feeds}/{folder}{fmt}"
            for folder in ("", "tags/trade/")
            for fmt in ("atom.xml", "feed.json", "rss.xml")
        )
        assert sorted(pinged(server)) == expected  # archive pages are not subscribed to
        assert sorted(report.sent) == expected and report.failed == [] and report.pending == 0
        # Nothing changed: nothing to tell.
        assert build(site) == []
        assert send_pings(site.settings, site.engine, now=NOW).sent == []
        assert len(pinged(server)) == len(expected)
        # A new article changes the main feeds (and its tag feed).
        site.write("a4.md", "---\ntitle: A4\ndate: 2026-11-04\n---\nx\n")
        build(site)
        send_pings(site.settings, site.engine, now=NOW)
        assert sorted(pinged(server)[len(expected) :]) == [
            f"{feeds}/atom.xml",
            f"{feeds}/feed.json",
            f"{feeds}/rss.xml",
        ]


def test_a_failing_hub_is_retried_with_backoff(any_site: Site) -> None:
    site = any_site  # the queue on SQLite and PostgreSQL
    with serve() as server:
        server.route("/hub", status=503, body=b"busy, come back later", content_type="text/plain")
        with_hub(site, server.url("/hub"))
        build(site)
        report = send_pings(site.settings, site.engine, now=NOW)
        assert report.sent == [] and report.pending == 6
        assert len(report.failed) == 6 and "HTTP 503: busy, come back later" in report.failed[0]
        assert all(f.endswith("(will retry)") for f in report.failed)
        # Not due again before the backoff has passed.
        tried = len(server.requests_for("/hub"))
        assert send_pings(site.settings, site.engine, now=NOW + timedelta(seconds=1)).failed == []
        assert len(server.requests_for("/hub")) == tried
        server.route("/hub", status=202, content_type="text/plain")
        later = NOW + backoff(0)
        report = send_pings(site.settings, site.engine, now=later)
        assert len(report.sent) == 6 and report.pending == 0
        with site.engine.connect() as conn:
            assert pings.pending(conn) == []


def test_a_refused_ping_is_not_retried(site: Site) -> None:
    with serve() as server:
        server.route("/hub", status=400, body=b"unknown topic", content_type="text/plain")
        with_hub(site, server.url("/hub"))
        build(site)
        report = send_pings(site.settings, site.engine, now=NOW)
        assert len(report.failed) == 6 and report.pending == 0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_hub_never_fails_the_build(site: Site) -> None:
    with_hub(site, f"http://127.0.0.1:{closed_port()}/hub")
    runner = CliRunner()
    result = runner.invoke(main, ["--site", str(site.root), "build", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["problems"] == [] and doc["written"]
    # The first connection failure ends the round: the other five wait for the next.
    assert len(doc["websub"]["failed"]) == 1 and doc["websub"]["pending"] == 6
    assert "cannot reach the hub" in result.stderr and "syndicate run" in result.stderr
    # Offline: queued, not sent.
    site.write("a4.md", "---\ntitle: A4\ndate: 2026-11-04\n---\nx\n")
    result = runner.invoke(main, ["--site", str(site.root), "build", "--json", "--offline"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["websub"] == {"sent": [], "failed": [], "pending": 6}


def test_run_retries_pings_the_hub_did_not_take(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    with serve() as server:
        server.route("/hub", status=500, content_type="text/plain")
        with_hub(site, server.url("/hub"))

        class Clock:
            now = NOW

            def __call__(self) -> datetime:
                return self.now

        clock = Clock()

        async def go() -> None:
            work = Work(
                site.settings, site.engine, Signer("test-secret-0123456789abcdef"), clock=clock
            )
            await work.poll()  # builds, pings, fails
            assert len(server.requests_for("/hub")) == 6
            server.route("/hub", status=204, content_type="text/plain")
            clock.now = NOW + timedelta(minutes=5)  # the next poll, past the backoff
            await work.poll()
            work.stop()

        caplog.set_level(logging.WARNING, logger="syndicate.service.work")
        asyncio.run(go())
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 6 and all("HTTP 500" in w for w in warned)
        assert len(server.requests_for("/hub")) == 12
        with site.engine.connect() as conn:
            assert pings.pending(conn) == []

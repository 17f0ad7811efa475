"""Articles dated ahead: held back from feeds, digests and archives until their date; `run`
publishes them when due; `articles` lists them as scheduled."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.digest.prepare import prepare
from syndicate.feeds.build import build_feeds
from syndicate.service.work import Work
from syndicate.subscribers.tokens import Signer
from tests.conftest import NOW, Site

LIST = '\n[lists.weekly]\ntitle = "Weekly"\n'


def post(site: Site, name: str, when: datetime) -> None:
    site.write(f"{name}.md", f"---\ntitle: {name}\ndate: {when.isoformat()}\n---\n\nBody.\n")


def feed_titles(site: Site) -> dict[str, list[str]]:
    root = site.settings.feeds_dir
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.xml")):
        out[path.relative_to(root).as_posix()] = [
            e.title for e in feedparser.parse(path.read_bytes()).entries
        ]
    for path in sorted(root.rglob("feed.json")):
        doc = json.loads(path.read_bytes())
        out[path.relative_to(root).as_posix()] = [i["title"] for i in doc["items"]]
    return out


def test_future_article_appears_nowhere_until_due_then_everywhere(site: Site) -> None:
    site.configure(LIST + "\n[feeds]\nitems = 1\n")
    post(site, "past", NOW - timedelta(days=2))
    post(site, "older", NOW - timedelta(days=3))
    post(site, "future", NOW + timedelta(days=21))
    report = read_site(site.settings, site.engine, now=NOW, offline=True)
    assert [a.title for a in report.articles] == ["past", "older"]
    assert [a.title for a in report.scheduled] == ["future"]
    build_feeds(site.settings, site.engine, report.articles)
    titles = feed_titles(site)
    assert titles  # main feeds and an archive page
    assert all("future" not in found for found in titles.values()), titles
    fresh = prepare(site.settings, site.engine, "weekly", report.articles, now=NOW).fresh
    assert [a.title for a in fresh] == ["past", "older"]

    # Nothing changed on disk; only time passed: the same build now publishes it.
    due = NOW + timedelta(days=21)
    report = read_site(site.settings, site.engine, now=due, offline=True)
    assert report.scheduled == ()
    built = build_feeds(site.settings, site.engine, report.articles)
    assert "rss.xml" in built.written
    titles = feed_titles(site)
    assert titles["rss.xml"] == ["future"] and titles["feed.json"] == ["future"]
    fresh = prepare(site.settings, site.engine, "weekly", report.articles, now=due).fresh
    assert fresh[0].title == "future"


def test_articles_command_shows_scheduled(site: Site) -> None:
    post(site, "now-ish", datetime(2026, 1, 1, tzinfo=UTC))
    post(site, "later", datetime(2999, 1, 1, 9, 0, tzinfo=UTC))
    runner = CliRunner()
    result = runner.invoke(main, ["--site", str(site.root), "articles", "--offline"])
    assert result.exit_code == 0, result.output
    assert "scheduled for 2999-01-01 09:00 UTC" in result.stdout
    # two are listed: the count says how they split, not "1 article, 1 scheduled"
    assert result.stdout.rstrip().endswith("\n2 articles: 1 published, 1 scheduled")
    result = runner.invoke(main, ["--site", str(site.root), "check", "--offline"])
    assert "ok: 1 article read and 1 scheduled, 0 problems" in result.stdout
    result = runner.invoke(main, ["--site", str(site.root), "articles", "--json", "--offline"])
    doc = json.loads(result.stdout)
    assert {a["title"]: a["scheduled"] for a in doc["articles"]} == {
        "later": True,
        "now-ish": False,
    }
    assert doc["problems"] == []
    result = runner.invoke(main, ["--site", str(site.root), "build", "--json", "--offline"])
    assert json.loads(result.stdout)["scheduled"] == 1
    rss = (site.settings.feeds_dir / "rss.xml").read_bytes()
    assert [e.title for e in feedparser.parse(rss).entries] == ["now-ish"]


def test_run_rebuilds_when_a_scheduled_article_falls_due(site: Site) -> None:
    wall = datetime.now(UTC).replace(microsecond=0)
    due = wall + timedelta(seconds=4)
    post(site, "soon", due)
    post(site, "before", wall - timedelta(days=1))
    rss = site.settings.feeds_dir / "rss.xml"

    def titles() -> list[str]:
        return [e.title for e in feedparser.parse(rss.read_bytes()).entries]

    async def go() -> list[str]:
        work = Work(site.settings, site.engine, Signer("test-secret-0123456789abcdef"))
        await work.poll()
        if datetime.now(UTC) < due:  # a loaded machine may take longer than that to poll
            assert titles() == ["before"]
        else:
            pytest.skip("the first poll took until the article was due; nothing left to test")
        # No further poll is due for minutes: only the one-off rebuild can publish it.
        for _ in range(300):
            await asyncio.sleep(0.1)
            if titles() != ["before"]:
                break
        work.stop()
        return titles()

    assert asyncio.run(go()) == ["soon", "before"]

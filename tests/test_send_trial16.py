"""Issue 16, a new user's trial of sends: a queued article that a waiting digest holds is
refused when queued (not skipped when due); "already mailed … on" is when the send
finished (or says it is in progress); a chosen article's dry run says who gets it and who
does not, in the send's words; `--at nonsense` is a usage error (exit 2); the dry run's
JSON names the chosen article; `sends` shows a queued article's title.

Real parts: `syndicate` commands (click's runner), an aiosmtpd server, the service's
queue and schedule driven with an injected clock, SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from syndicate.service import scheduler as sched
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_queue import (
    BERLIN,
    READERS,
    cli,
    got,
    outbox_round,
    rows,
    run,
    setup_site,
    work_for,
)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


# --- 1. a queued article that a waiting send holds ----------------------------------------


def test_an_article_a_digest_waiting_for_approval_holds_is_refused_when_queued(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=True)
    run(work_for(site, clock), lambda: sched.run_digest("weekly"))  # weekly-1 holds Alpha
    at = (clock.now + timedelta(hours=1)).isoformat()
    refused = cli(site, "send", "weekly", "--at", at, "--article", "alpha")
    assert refused.exit_code == 1
    said = " ".join(refused.stderr.split())
    assert "weekly-1 of weekly waits for approval (queued send 1) and holds " in said
    assert "the article would go to weekly twice" in said
    assert "add --again" in said and "`syndicate sends cancel 1`" in said
    assert len(rows(site)) == 1  # nothing was queued
    again = cli(site, "send", "weekly", "--at", at, "--article", "alpha", "--again")
    assert again.exit_code == 0, again.output
    assert len(rows(site)) == 2


def test_an_article_a_digest_queued_before_it_would_carry_is_refused(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=False)
    first = (clock.now + timedelta(hours=1)).astimezone(BERLIN)
    assert cli(site, "send", "weekly", "--at", f"{first:%Y-%m-%d %H:%M}").exit_code == 0
    later = f"{first + timedelta(hours=1):%Y-%m-%d %H:%M}"
    refused = cli(site, "send", "weekly", "--at", later, "--article", "alpha")
    assert refused.exit_code == 1
    said = " ".join(refused.stderr.split())
    assert f"queued send 1 (the next digest of weekly at {first:%Y-%m-%d %H:%M} CET)" in said
    assert "comes first and would carry" in said and "would go to weekly twice" in said
    # Before that digest the article goes first, and the digest leaves it out: allowed.
    earlier = f"{first - timedelta(minutes=30):%Y-%m-%d %H:%M}"
    assert cli(site, "send", "weekly", "--at", earlier, "--article", "alpha").exit_code == 0
    # The same article queued a second time: refused, naming the first.
    twice = cli(site, "send", "weekly", "--at", later, "--article", "alpha")
    assert twice.exit_code == 1
    assert "queued send 2 mails " in twice.stderr and "twice" in twice.stderr


# --- 2. "already mailed … on": when the send finished ---------------------------------------


def test_already_mailed_shows_when_the_send_finished_or_that_it_is_in_progress(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=True)
    work = work_for(site, clock)
    prepared_at = clock.now
    run(work, lambda: sched.run_digest("weekly"))  # prepared now, previewed
    outbox_round(site, clock)
    clock.now += timedelta(hours=3)  # the editor approves three hours later
    assert cli(site, "approve", "weekly").exit_code == 0
    run(work, sched.run_queued)
    assert got(server)[READERS[0]] == 1
    refused = cli(site, "send", "weekly", "--article", "alpha", "--dry-run", "--offline")
    assert refused.exit_code == 1
    said = " ".join(refused.stderr.split())
    assert f"in the digest weekly-1 on {clock.now:%Y-%m-%d %H:%M} UTC" in said
    assert f"on {prepared_at:%Y-%m-%d %H:%M} UTC" not in said


def test_already_mailed_says_a_send_still_going_is_in_progress(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_site(site, server, monkeypatch, approve=False)
    recorded = cli(site, "send", "weekly", "--yes", "--workers", "--offline")
    assert recorded.exit_code == 0, recorded.output  # recorded, not delivered
    refused = cli(site, "send", "weekly", "--article", "alpha", "--yes", "--offline")
    assert refused.exit_code == 1
    said = " ".join(refused.stderr.split())
    assert "is being mailed to weekly in the digest weekly-1: its send is in progress" in said
    assert "already mailed" not in said
    assert not server.messages


# --- 3. a chosen article's dry run ----------------------------------------------------------

TOPICS = "email,name,topics\nsam@example.org,Sam,sport\n"


def test_a_chosen_articles_dry_run_says_who_gets_it_in_the_sends_words(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=False)
    csv = read_rows(io.BytesIO(TOPICS.encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", csv, now=clock.now - timedelta(days=3)).problems
    dry = cli(site, "send", "weekly", "--article", "alpha", "--dry-run", "--offline")
    assert dry.exit_code == 0, dry.output
    assert "no new article" not in dry.stdout and "send_empty" not in dry.stdout
    lines = dry.stdout.splitlines()
    assert (
        "readers without topics: 2 subscribers · the article in full · subject 'Alpha'"
        in (lines[1])
    )
    assert "topics sport: 1 subscriber · skipped: not their topics (they get nothing)" in lines[2]
    sent = cli(site, "send", "weekly", "--article", "alpha", "--yes", "--offline")
    assert "(1 subscriber skipped: not their topics)" in sent.stdout  # the same words
    assert got(server) == Counter(READERS)


# --- 4. exit codes, the dry run's JSON, `sends` titles ---------------------------------------


def test_at_nonsense_is_a_usage_error_naming_the_option_and_forms(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_site(site, server, monkeypatch, approve=False)
    for text in ("nonsense", "2020-01-01 08:00", "2026-12-24"):
        said = cli(site, "send", "weekly", "--at", text)
        assert said.exit_code == 2, said.output
        assert f"--at '{text}'" in said.stderr
        assert "Usage:" in said.stderr and "Traceback" not in said.output
    nonsense = " ".join(cli(site, "send", "weekly", "--at", "nonsense").stderr.split())
    assert "'2026-12-24 08:00' (in the list's time zone, Europe/Berlin)" in nonsense
    assert not rows(site)


def test_the_dry_runs_json_names_the_article_and_sends_shows_its_title(
    site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = setup_site(site, server, monkeypatch, approve=False)
    dry = cli(site, "send", "weekly", "--article", "alpha", "--dry-run", "--json", "--offline")
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.stdout)
    assert doc["title"] == "Alpha" and doc["article"]
    at = (clock.now + timedelta(hours=1)).isoformat()
    queued = cli(site, "send", "weekly", "--at", at, "--article", "alpha", "--json")
    queued = json.loads(queued.stdout)
    assert queued["article"] == doc["article"] and queued["title"] == "Alpha"
    listed = cli(site, "sends")
    assert listed.stdout.startswith(f"queued 1: article {doc['article']} 'Alpha', due ")
    (shown,) = json.loads(cli(site, "sends", "--json").stdout)["queued"]
    assert shown["title"] == "Alpha"
    cancelled = cli(site, "sends", "cancel", "1")
    assert cancelled.stdout.startswith(f"queued send 1 (article {doc['article']} 'Alpha', due ")
    # A digest's plan names no article.
    digest = json.loads(cli(site, "send", "weekly", "--dry-run", "--json", "--offline").stdout)
    assert "article" not in digest and "title" not in digest

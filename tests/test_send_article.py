"""Issue 16, `send LIST --article ID` (trial 16 #3, #7, #9, #10): a scheduled article may be
queued for after its date (and is mailed when due); an article the list already had in a
digest needs --again, and the dry run says where it went; a mistyped slug gets a hint; a
chosen article's skipped readers are "not their topics", in the summary and in run's log.
Real parts: `syndicate` commands (click's runner), an aiosmtpd server, the store on SQLite
and PostgreSQL, the service's queue driven directly with an injected clock."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.delivery.report import SendReport
from syndicate.delivery.setup import make_transport
from syndicate.service import scheduler as sched
from syndicate.service.posts import start_article_send
from syndicate.service.sendlog import describe
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_queue import (
    BERLIN,
    READERS,
    SECRET,
    article,
    cli,
    got,
    mails_to,
    run,
    setup_site,
    work_for,
)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def test_a_scheduled_article_can_be_queued_for_after_its_date_and_goes_when_due(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=False)
    article(site, "later", "Later", clock.now + timedelta(hours=2))  # scheduled
    now_send = cli(site, "send", "weekly", "--article", "later", "--yes")
    assert now_send.exit_code == 1
    assert "is scheduled for" in now_send.stderr and "once it is published" in now_send.stderr
    # trial16 U4: the refusal names the way out
    assert "`syndicate send weekly --at TIME --article " in now_send.stderr
    assert "queues it for TIME at or after that date" in now_send.stderr
    early = (clock.now + timedelta(hours=1)).astimezone(BERLIN)
    refused = cli(site, "send", "weekly", "--at", f"{early:%Y-%m-%d %H:%M}", "--article", "later")
    assert refused.exit_code == 1 and "is scheduled for" in refused.stderr  # before its date

    due = (clock.now + timedelta(hours=3)).astimezone(BERLIN)
    queued = cli(site, "send", "weekly", "--at", f"{due:%Y-%m-%d %H:%M}", "--article", "later")
    assert queued.exit_code == 0, queued.output
    assert queued.stdout.startswith("queued ")

    work = work_for(site, clock)
    clock.now = due.replace(second=0).astimezone(UTC)
    run(work, sched.run_queued)
    assert got(server) == Counter(READERS)
    assert {m["Subject"] for m in mails_to(server, READERS[0])} == {"Later"}


def test_an_article_the_list_had_in_a_digest_needs_again_and_the_dry_run_says_where(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    setup_site(site, server, monkeypatch, approve=False)
    sent = cli(site, "send", "weekly", "--yes", "--offline")
    assert sent.exit_code == 0, sent.output
    assert "weekly-1" in sent.stdout  # the digest carried Alpha

    dry = cli(site, "send", "weekly", "--article", "alpha", "--dry-run", "--offline")
    assert dry.exit_code == 1
    assert "was already mailed to weekly in the digest weekly-1 on " in dry.stderr
    assert "add --again to mail it to the list again" in dry.stderr
    refused = cli(site, "send", "weekly", "--article", "alpha", "--yes", "--offline")
    assert refused.exit_code == 1 and "in the digest weekly-1" in refused.stderr
    assert len(server.messages) == len(READERS)  # nothing more went out

    args = ("send", "weekly", "--article", "alpha", "--again", "--offline")
    dry = cli(site, *args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "note: " in dry.stderr and "in the digest weekly-1 on " in dry.stderr
    assert "--again mails it once more" in dry.stderr
    asked = CliRunner().invoke(main, ["--site", str(site.root), *args], input="n\n")
    assert asked.exit_code == 1
    shown = asked.stderr
    assert shown.index("in the digest weekly-1") < shown.index("Send weekly-2")  # before it
    assert cli(site, *args, "--yes").exit_code == 0
    assert got(server) == Counter({r: 2 for r in READERS})


def test_a_mistyped_slug_gets_a_did_you_mean(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=False)
    article(site, "hostile-takeover", "Takeover", clock.now - timedelta(hours=3))
    wrong = cli(site, "send", "weekly", "--article", "hostile-takeovr", "--dry-run", "--offline")
    assert wrong.exit_code == 1
    assert "no article with id 'hostile-takeovr' (did you mean 'hostile-takeover'?)" in (
        wrong.stderr
    )


TOPICS = "email,name,topics\nada@example.org,Ada,\nsam@example.org,Sam,sport\n"


def test_a_chosen_article_skips_readers_as_not_their_topics_in_summary_and_log(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    clock = setup_site(site, server, monkeypatch, approve=False)
    rows = read_rows(io.BytesIO(TOPICS.encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=clock.now - timedelta(days=3)).problems
    dry = cli(site, "send", "weekly", "--article", "alpha", "--dry-run", "--offline")
    assert "'Alpha' on its own, 2 recipients (1 subscriber skipped: not their topics)" in (
        dry.stdout
    )
    sent = cli(site, "send", "weekly", "--article", "alpha", "--yes", "--offline")
    assert sent.exit_code == 0, sent.output
    assert "(1 subscriber skipped: not their topics)" in sent.stdout
    assert "nothing new" not in sent.stdout

    article(site, "beta", "Beta", clock.now - timedelta(hours=1))

    async def send() -> SendReport:
        transport = make_transport(site.settings)
        try:
            return await start_article_send(
                site.engine, site.settings, "weekly", "beta", again=False, now=clock,
                signer=Signer(SECRET), transport=transport, offline=True,
            )  # fmt: skip
        finally:
            await transport.close()

    line = describe(asyncio.run(send()))  # what run's log says of the send
    assert line == "weekly-2 'Beta': 2 sent (1 subscriber skipped: not their topics) (finished)"

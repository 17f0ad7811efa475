"""The desk's send report, ``syndicate report`` and the API's send report say what
``syndicate send`` printed about readers whose topics had nothing new ("1 subscriber
skipped: nothing new for their topics"), for a past send: real sends, SQLite and PostgreSQL
when configured.

Those readers get no ledger row; the send keeps their number in ``sends.topic_skipped``
(migration 0027), written with its last ledger rows. NULL is "not known" (a send made
before): the desk then keeps its note, and nothing claims a zero.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, update

from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender
from syndicate.delivery.report import SendReport
from syndicate.store import open_store
from syndicate.store.engine import _alembic_config
from syndicate.store.tables import deliveries, digests, sends
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_click_rates import configured_site
from tests.test_clicks import cli_run, config
from tests.test_queue import setup_site
from tests.test_report_clicks import READERS, WEB, desk
from tests.test_send import SECRET, fast, smtp, wall
from tests.test_send_article import TOPICS

TAGS = 'count_clicks = true\ntags = ["trade", "sport"]'
CARD = re.compile(r'<div class="card"><strong>([0-9,]+) recipients</strong>([^<]*)</div>')
NOTE = "Readers whose topics had nothing new in this issue got no copy"


@pytest.fixture
def site(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    site = configured_site(any_site, monkeypatch, per_subscriber=False)
    site.configure(config().replace("count_clicks = true", TAGS) + WEB)
    return site


def sport_readers(site: Site, n: int, *, first: int = 0) -> None:
    """``n`` readers who chose only "sport": no article of the issue carries it."""
    lines = "".join(f"sam{i}@example.org,Sam {i},sport\n" for i in range(first, first + n))
    rows = read_rows(io.BytesIO(f"email,name,topics\n{lines}".encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=3)).problems


def run(site: Site, server: SmtpServer, *, deliver: bool = True) -> SendReport:
    """One real send of weekly (``deliver=False``: as if killed before any mail)."""
    settings = site.settings
    articles = read_site(settings, site.engine, now=wall(), offline=True).articles

    async def go() -> SendReport:
        transport = smtp(server)
        sender = Sender(settings, site.engine, transport, Signer(SECRET), clock=wall, policy=fast())
        try:
            return await sender.run("weekly", articles, deliver=deliver)
        finally:
            await transport.close()

    report = asyncio.run(go())
    assert report.send_id is not None and report.plan is not None
    return report


def stored(site: Site, send_id: int) -> int | None:
    with site.engine.connect() as conn:
        found: int | None = conn.scalar(select(sends.c.topic_skipped).where(sends.c.id == send_id))
    return found


def ledger_rows(site: Site, send_id: int) -> int:
    with site.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).where(deliveries.c.send_id == send_id)) or 0)


def shown(site: Site, send_id: int, digest: str) -> tuple[str, str, dict[str, object]]:
    """The desk's report page, the API's report, and ``report`` as text and its JSON head."""
    with desk(site) as (client, token):
        page = client.get(f"/admin/sends/{send_id}").text
        answer = client.get(
            f"/api/v1/sends/{send_id}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 200, answer.text
    code, text, stderr = cli_run(site, "report", digest)
    assert code == 0, stderr
    code, lines, stderr = cli_run(site, "report", digest, "--json")
    assert code == 0, stderr
    head = json.loads(lines.splitlines()[0])
    assert head["kind"] == "send"
    return page, text, {"api": answer.json()["topic_skipped"], "cli": head["topic_skipped"]}


@pytest.mark.parametrize("skipped", [1, 2])
def test_the_readers_a_digest_passed_over_are_kept_and_shown(site: Site, skipped: int) -> None:
    sport_readers(site, skipped)
    with serve_smtp() as server:
        report = run(site, server)
        assert len(server.messages) == len(READERS)  # the sport readers got nothing
    send_id = report.send_id or 0
    assert report.plan is not None
    # What `syndicate send` printed ("N subscribers skipped") is what the send kept.
    assert stored(site, send_id) == report.plan.skipped_readers == skipped
    rows_n = ledger_rows(site, send_id)
    assert rows_n == len(READERS)  # no ledger row for them, as before

    page, text, docs = shown(site, send_id, report.digest_id or "")
    card = CARD.search(page)
    assert card is not None, page
    assert int(card.group(1).replace(",", "")) == rows_n
    readers = "1 reader" if skipped == 1 else f"{skipped} readers"
    assert card.group(2) == f" · {readers} skipped: nothing new for their topics"
    assert NOTE not in page  # the count says it: no note about a number not known
    assert docs == {"api": skipped, "cli": skipped}
    subscribers = "1 subscriber" if skipped == 1 else f"{skipped} subscribers"
    assert f"{rows_n} sent ({subscribers} skipped: nothing new for their topics)" in text


def test_a_send_that_passed_nobody_over_says_nothing(site: Site) -> None:
    with serve_smtp() as server:
        report = run(site, server)
    send_id = report.send_id or 0
    assert stored(site, send_id) == 0  # known: nobody, not "not known"
    page, text, docs = shown(site, send_id, report.digest_id or "")
    card = CARD.search(page)
    assert card is not None and card.group(2) == "", page
    assert NOTE not in page and "skipped" not in text
    assert docs == {"api": 0, "cli": 0}


def test_a_send_from_before_the_count_keeps_the_note(site: Site) -> None:
    sport_readers(site, 1)
    with serve_smtp() as server:
        report = run(site, server)
    send_id = report.send_id or 0
    with site.engine.begin() as conn:  # as a send made before migration 0027
        conn.execute(update(sends).where(sends.c.id == send_id).values(topic_skipped=None))
    page, text, docs = shown(site, send_id, report.digest_id or "")
    card = CARD.search(page)
    assert card is not None and card.group(2) == "", page  # no number claimed
    assert NOTE in page and "skipped: nothing new for their topics" in page
    assert docs == {"api": None, "cli": None}
    assert "skipped" not in text


def test_a_post_gets_no_note_about_digests_and_shows_its_title(site: Site) -> None:
    """A post keeps no topic count by design: the "made before the count" note (in digest
    words) is not about it; its page names the article, as ``report`` does."""
    sport_readers(site, 1)
    with serve_smtp() as server:
        report = run(site, server)
    send_id = report.send_id or 0
    with site.engine.begin() as conn:  # as `send --article` records it
        conn.execute(update(sends).where(sends.c.id == send_id).values(topic_skipped=None))
        conn.execute(
            update(digests)
            .where(digests.c.id == report.digest_id)
            .values(kind="post", title="A Note <on> Security")
        )
    page, _, _ = shown(site, send_id, report.digest_id or "")
    assert NOTE not in page and "nothing new for their topics" not in page
    assert "A Note &lt;on&gt; Security" in page


def test_a_resumed_send_keeps_the_first_count(site: Site) -> None:
    sport_readers(site, 1)
    with serve_smtp() as server:
        queued = run(site, server, deliver=False)  # as if killed before any mail
        assert server.messages == []
        send_id = queued.send_id or 0
        assert stored(site, send_id) == 1
        sport_readers(site, 2, first=1)  # two more who get nothing, after it was prepared
        resumed = run(site, server)
        assert resumed.resumed and resumed.send_id == send_id and resumed.finished
        assert len(server.messages) == len(READERS)
    assert stored(site, send_id) == 1  # the send passed over one reader, not three
    assert ledger_rows(site, send_id) == len(READERS)


def test_the_migration_adds_and_drops_the_count_and_keeps_the_ledger(site: Site) -> None:
    sport_readers(site, 1)
    with serve_smtp() as server:
        report = run(site, server)
    send_id = report.send_id or 0
    assert stored(site, send_id) == 1
    rows_n = ledger_rows(site, send_id)
    command.downgrade(_alembic_config(site.engine), "0026")
    with site.engine.connect() as conn:
        down = {c["name"] for c in inspect(conn).get_columns("sends")}
        kept = conn.scalar(select(func.count()).where(deliveries.c.send_id == send_id))
    site.engine.dispose()
    engine = open_store(site.db_url)  # a store of the release before 0027: migrated on open
    try:
        with engine.connect() as conn:
            up = {c["name"] for c in inspect(conn).get_columns("sends")}
            again = conn.scalar(select(sends.c.topic_skipped).where(sends.c.id == send_id))
    finally:
        engine.dispose()
    assert "topic_skipped" not in down and "topic_skipped" in up
    assert kept == rows_n == len(READERS)  # dropping the column left the ledger alone
    assert again is None  # a send made before the count: not known, not zero


def test_a_post_keeps_no_count_its_skips_are_not_their_topics(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A post mails one chosen article: its skipped readers are "not their topics", not
    # "nothing new", so the send keeps no count of them (null: not known), as before.
    with serve_smtp() as server:
        clock = setup_site(any_site, server, monkeypatch, approve=False)
        rows = read_rows(io.BytesIO(TOPICS.encode()), "in.csv")
        made = import_rows(any_site.engine, "weekly", rows, now=clock.now - timedelta(days=3))
        assert not made.problems
        code, stdout, stderr = cli_run(
            any_site, "send", "weekly", "--article", "alpha", "--yes", "--offline"
        )
        assert code == 0, stderr
        assert "(1 subscriber skipped: not their topics)" in stdout
    code, lines, stderr = cli_run(any_site, "report", "weekly-1", "--json")
    assert code == 0, stderr
    assert json.loads(lines.splitlines()[0])["topic_skipped"] is None

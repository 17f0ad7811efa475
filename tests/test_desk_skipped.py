"""The desk's send report and ``syndicate send`` agree on who got nothing: a real send in
which one reader's topics had nothing new (the CLI's "1 subscriber skipped: nothing new for
their topics"; SQLite, and PostgreSQL when configured).

Readers skipped by their topics get no ledger row: the desk's report counts the copies of
the ledger and no longer prints a "0 skipped" beside them that contradicts the CLI.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from syndicate.store.tables import deliveries
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import Site
from tests.smtpserver import serve_smtp
from tests.test_click_rates import configured_site
from tests.test_clicks import cli_run, config, send
from tests.test_report_clicks import READERS, WEB, desk
from tests.test_send import wall

TOPICS = "email,name,topics\nsam@example.org,Sam,sport\n"


@pytest.fixture
def site(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    return configured_site(any_site, monkeypatch, per_subscriber=False)


def test_a_topic_skip_is_not_a_zero_on_the_desk(site: Site) -> None:
    tags = 'count_clicks = true\ntags = ["trade", "sport"]'
    site.configure(config().replace("count_clicks = true", tags) + WEB)
    rows = read_rows(io.BytesIO(TOPICS.encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=3)).problems
    with serve_smtp() as server:
        send_id = send(site, server)
        assert len(server.messages) == len(READERS)  # sam (sport) got nothing
    with site.engine.connect() as conn:
        rows_n = conn.scalar(select(func.count()).where(deliveries.c.send_id == send_id))
    assert rows_n == len(READERS)
    with desk(site) as (client, _):
        page = client.get(f"/admin/sends/{send_id}").text
    card = re.search(r'<div class="card"><strong>([0-9,]+) recipients</strong>([^<]*)</div>', page)
    assert card is not None, page
    assert int(card.group(1)) == rows_n and card.group(2) == ""  # no "(0 skipped)"
    assert "skipped: nothing new for their topics" in page
    code, stdout, stderr = cli_run(site, "report", "weekly-1")
    assert code == 0, stderr
    assert f"{len(READERS)} sent" in stdout

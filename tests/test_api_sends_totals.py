"""``GET /api/v1/sends`` reads a finished send's counts from the ``send_totals`` rollup and
counts the ledger only of a send still open, with the same figures as each send's report
(which counts the ledger): a real finished send and a real interrupted one (its copies
queued), through the real app (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import event

from syndicate.cli import main
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_click_rates import configured_site
from tests.test_clicks import send
from tests.test_report_clicks import READERS, c_paths, desk
from tests.test_send import article, wall


@pytest.fixture
def site(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    return configured_site(any_site, monkeypatch, per_subscriber=False)


def prepare_only(site: Site, server: SmtpServer) -> int:
    """A real send of weekly's next digest whose ledger is written but no copy tried."""
    return send(site, server, deliver=False)


@contextmanager
def ledger_reads(site: Site) -> Iterator[list[str]]:
    """The statements that read the ledger (``deliveries``) while the block runs."""
    seen: list[str] = []

    def spy(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "deliveries" in statement:
            seen.append(statement)

    event.listen(site.engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(site.engine, "before_cursor_execute", spy)


def get(client: httpx.Client, token: str, path: str) -> Any:
    answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_list_figures_are_the_reports_for_finished_and_open_sends(site: Site) -> None:
    finished, _ = c_paths(site)
    article(site, "third", wall() - timedelta(hours=2))
    with serve_smtp() as server:
        running = prepare_only(site, server)
    with desk(site) as (client, token):
        listed = {item["id"]: item for item in get(client, token, "/api/v1/sends")["items"]}
        assert sorted(listed) == sorted([finished, running])
        for send_id, item in listed.items():
            report = get(client, token, f"/api/v1/sends/{send_id}")
            assert item == report["send"], send_id
        assert listed[finished]["counts"] == {"sent": len(READERS)}
        assert listed[finished]["state"] == "done"
        assert listed[running]["counts"] == {"queued": len(READERS)}
        assert listed[running]["state"] == "interrupted"

        # A page of finished sends only: their counts come from the rollup, not the ledger.
        with ledger_reads(site) as seen:
            page = get(client, token, f"/api/v1/sends?before={running}")["items"]
        assert [item["id"] for item in page] == [finished]
        assert page[0] == listed[finished]
        assert seen == []
        # An open send's ledger is counted (its figures move).
        with ledger_reads(site) as seen:
            get(client, token, f"/api/v1/sends?before={running + 1}&limit=1")
        assert seen, "the open send's ledger was not counted"


def test_an_abandoned_send_lists_its_frozen_counts(site: Site) -> None:
    article(site, "third", wall() - timedelta(hours=2))
    with serve_smtp() as server:
        running = prepare_only(site, server)
    result = CliRunner().invoke(main, ["--site", str(site.root), "sends", "abandon", "weekly-1"])
    assert result.exit_code == 0, result.output
    with desk(site) as (client, token):
        with ledger_reads(site) as seen:
            item = get(client, token, "/api/v1/sends")["items"][0]
        assert seen == []
        assert item["id"] == running and item["state"] == "abandoned"
        assert item["counts"] == {"abandoned": len(READERS)}
        assert item == get(client, token, f"/api/v1/sends/{running}")["send"]

"""How clicks are told, from real rows: a real send into aiosmtpd, its mails' ``/c/`` links
followed against the real app under uvicorn, then the desk (report, sends list, dashboard),
``syndicate report`` and the HTTP API read back (SQLite, and PostgreSQL when configured).

Proves: without ``[analytics] per_subscriber`` a click count is given as a count, never as
a "% of delivered" (one reader clicking more often than there are copies gave "200 %");
with it, the distinct readers who clicked over the copies delivered is the rate, the API
gives them as ``clickers``, and the desk's report lists who clicked, each linked to their
page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from syndicate.service.clickrate import rate_text
from syndicate.store.tables import subscribers
from tests.admintools import add_admin
from tests.conftest import Site
from tests.smtpserver import serve_smtp
from tests.test_clicks import cli_run, config, mails, send
from tests.test_report_clicks import (
    C_LINK,
    READERS,
    WEB,
    c_paths,
    desk,
    follow,
    report_json,
    sends_row,
)
from tests.test_send import article, csv_of, load, wall

CARDS = re.compile(r'<div class="card">(.*?)</div>', re.S)
WHO = re.compile(
    r'<tr><td><a href="/admin/subscribers/(\d+)">([^<]*)</a></td><td class="num">([0-9,]+)</td>'
)


def configured_site(
    any_site: Site, monkeypatch: pytest.MonkeyPatch, *, per_subscriber: bool
) -> Site:
    monkeypatch.setenv("SYNDICATE_SECRET", "test-secret-0123456789abcdef")
    any_site.configure(config(per_subscriber=per_subscriber) + WEB)
    article(any_site, "first", wall() - timedelta(days=1))
    article(any_site, "second", wall() - timedelta(hours=20))
    load(any_site, csv_of(READERS))
    add_admin(any_site, "ed")
    return any_site


@pytest.fixture
def anonymous(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield configured_site(any_site, monkeypatch, per_subscriber=False)


@pytest.fixture
def named(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield configured_site(any_site, monkeypatch, per_subscriber=True)


def cards(page: str) -> list[str]:
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in CARDS.findall(page)
    ]


def paths_by_reader(site: Site) -> tuple[int, dict[str, list[str]]]:
    """One send of weekly; its id and each reader's ``/c/`` paths, by address."""
    with serve_smtp() as server:
        send_id = send(site, server)
        got = mails(server)
    found = {}
    for mail in got:
        hits = [C_LINK.match(h) for h in mail.hrefs]
        found[mail.to] = list(dict.fromkeys(f"/c/{m.group(1)}" for m in hits if m))
    assert sorted(found) == sorted(READERS)
    return send_id, found


def test_without_per_subscriber_clicks_are_a_count_not_a_rate(anonymous: Site) -> None:
    send_id, paths = c_paths(anonymous)
    ann = paths[0]
    with desk(anonymous) as (client, token):
        # One reader, many clicks: more clicks than copies delivered.
        expected = follow(client, [ann[0]] * 6 + [ann[1]] * 2)
        total = sum(expected.values())
        assert total > len(READERS)
        doc = report_json(client, token, send_id)
        assert doc["clicks"] == total and doc["clickers"] is None
        links = len(doc["links"])  # type: ignore[arg-type]
        page = client.get(f"/admin/sends/{send_id}").text
        told = [c for c in cards(page) if "click" in c]
        assert told == [f"{total} clicks on {links} links"], told
        assert "Who clicked" not in page
        for path in ("/admin/sends", "/admin/", "/admin/deliverability"):
            row = sends_row(client.get(path).text, "weekly-1")
            assert row[-1] == str(total), (path, row)  # the count alone, no "%"
    code, stdout, stderr = cli_run(anonymous, "report", "weekly-1")
    assert code == 0, stderr
    line = next(x for x in stdout.splitlines() if x.startswith("clicks:"))
    assert line == f"clicks: {total} clicks on {links} links"


def test_with_per_subscriber_the_rate_is_readers_who_clicked(named: Site) -> None:
    send_id, paths = paths_by_reader(named)
    ann, bob = paths["ann@example.org"], paths["bob@example.org"]
    assert ann != bob  # each copy's ids name its reader
    with named.engine.connect() as conn:
        ids = dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())
    with desk(named) as (client, token):
        follow(client, [bob[0]] * 3)  # bob: 3 clicks on one link
        follow(client, [ann[0], ann[1]])  # ann: 2 clicks on two links; cy: none
        clickers = 2
        doc = report_json(client, token, send_id)
        assert doc["clicks"] == 5 and doc["clickers"] == clickers
        delivered = doc["delivered"]
        assert delivered == len(READERS)
        rate = rate_text(clickers / delivered)
        page = client.get(f"/admin/sends/{send_id}").text
        told = [c for c in cards(page) if "click" in c]
        links = len(doc["links"])  # type: ignore[arg-type]
        assert told == [
            f"5 clicks on {links} links",
            f"{clickers} readers of {delivered} ({rate}) clicked",
        ], told
        who = page.split("<h2>Who clicked</h2>", 1)[1]
        rows = [(int(i), html.unescape(e), int(n)) for i, e, n in WHO.findall(who)]
        assert rows == [
            (ids["bob@example.org"], "bob@example.org", 3),
            (ids["ann@example.org"], "ann@example.org", 2),
        ]
        # Each address links to a subscriber's desk page, theirs.
        for sid, email, _ in rows:
            assert email in client.get(f"/admin/subscribers/{sid}").text
        for path in ("/admin/sends", "/admin/", "/admin/deliverability"):
            row = sends_row(client.get(path).text, "weekly-1")
            assert row[-1] == f"5 · {clickers} readers ({rate})", (path, row)
    code, stdout, stderr = cli_run(named, "report", "weekly-1")
    assert code == 0, stderr
    line = next(x for x in stdout.splitlines() if x.startswith("clicks:"))
    assert line == f"clicks: 5 clicks on {links} links; {clickers} readers of 3 ({rate}) clicked"


def test_per_subscriber_before_any_click_says_nobody_clicked(named: Site) -> None:
    send_id, _ = c_paths(named)
    with desk(named) as (client, token):
        doc = report_json(client, token, send_id)
        assert doc["clicks"] == 0 and doc["clickers"] == 0
        page = client.get(f"/admin/sends/{send_id}").text
        assert "0 readers of 3 (0.00 %) clicked" in cards(page)
        assert "Nobody clicked yet." in page

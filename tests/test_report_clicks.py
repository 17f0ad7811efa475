"""Clicks in the send reports, from real click rows: a real send with ``count_clicks = true``
into aiosmtpd, its mails' ``/c/`` links followed against the real app under uvicorn, then
the HTTP API's ``GET /api/v1/sends/{id}``, the desk's ``/admin/sends/{id}``, the sends list
and the dashboard read back (SQLite, and PostgreSQL when configured).

Proves: each report shows the clicks per link the redirect counted (scanners and HEADs
left out), most clicked first, and their total (a count, see tests/test_click_rates.py); a
send of a list that stopped counting keeps its figures; a send whose list did not count
clicks shows no figure anywhere (``clicks: null`` in the API, no clicks column on the
desk), never "0 %".
"""

from __future__ import annotations

import html
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest

from syndicate.store.clicks import click_counts
from tests.admintools import add_admin, sign_in
from tests.conftest import Site
from tests.smtpserver import serve_smtp
from tests.test_api import make_token
from tests.test_clicks import Clock, config, live, mails, send
from tests.test_send import article, csv_of, load, wall

WEB = '\n[web]\nbase_url = "http://127.0.0.1"\n'
READERS = ["ann@example.org", "bob@example.org", "cy@example.org"]
C_LINK = re.compile(r"^http://127\.0\.0\.1/c/([A-Za-z0-9_-]+)$")
LINK_ROW = re.compile(r'<tr><td>([^<]*)</td><td class="num">([0-9,]+)</td></tr>')
_TOKENS = itertools.count()
SCANNER = "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1) Microsoft SafeLinks"


@pytest.fixture
def site(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("SYNDICATE_SECRET", "test-secret-0123456789abcdef")
    any_site.configure(config() + WEB)
    article(any_site, "first", wall() - timedelta(days=1))
    article(any_site, "second", wall() - timedelta(hours=20))
    load(any_site, csv_of(READERS))
    add_admin(any_site, "ed")
    return any_site


@contextmanager
def desk(site: Site) -> Iterator[tuple[httpx.Client, str]]:
    """The app on a free port with an editor signed in; the client and an API token."""
    token = make_token(site, f"reports-{next(_TOKENS)}", "sends:read")
    with live(site, Clock()) as client:
        signed = sign_in(client, "ed")
        assert signed.status_code == 303, signed.text
        yield client, token


def c_paths(site: Site) -> tuple[int, list[list[str]]]:
    """One send of weekly; its id and, per copy, the ``/c/`` paths of its HTML part."""
    with serve_smtp() as server:
        send_id = send(site, server)
        got = mails(server)
    assert len(got) == len(READERS)
    paths = []
    for mail in got:
        found = [C_LINK.match(h) for h in mail.hrefs]
        paths.append(list(dict.fromkeys(f"/c/{m.group(1)}" for m in found if m)))
    return send_id, paths


def follow(client: httpx.Client, paths: list[str]) -> Counter[str]:
    """Follow each path as a reader would; the redirect targets, counted."""
    seen: Counter[str] = Counter()
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 302, (path, answer.status_code)
        seen[answer.headers["location"]] += 1
    return seen


def report_json(client: httpx.Client, token: str, send_id: int) -> dict[str, object]:
    answer = client.get(f"/api/v1/sends/{send_id}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    doc: dict[str, object] = answer.json()
    return doc


def desk_links(page: str) -> list[tuple[str, int]]:
    """The desk report's clicks-per-link table: (URL, clicks), in the page's order."""
    section = page.split("<h2>Clicks per link</h2>", 1)[1]
    return [(html.unescape(u), int(n.replace(",", ""))) for u, n in LINK_ROW.findall(section)]


def sends_row(page: str, digest: str) -> list[str]:
    """The cells of a send's row in a sends table, as text."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if f">{digest}</a>" in row:
            cells = re.findall(r"<td\b[^>]*>(.*?)</td>", row, re.S)
            return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
    raise AssertionError(f"no row of {digest}")


def test_reports_show_the_clicks_the_redirect_counted(site: Site) -> None:
    send_id, paths = c_paths(site)
    ann, bob, cy = paths
    assert ann == bob == cy and len(ann) >= 3  # without per_subscriber: the same ids
    with desk(site) as (client, token):
        expected = follow(client, [ann[0], bob[0], cy[0], ann[1], bob[1], ann[2], ann[0]])
        # Not counted: a HEAD and a link scanner's GET.
        assert client.head(ann[1]).status_code == 302
        assert client.get(ann[2], headers={"user-agent": SCANNER}).status_code == 302
        with site.engine.connect() as conn:
            stored = {link.url: link.clicks for link in click_counts(conn, send_id)}
        assert stored == dict(expected)  # the click rows are what was followed
        total = sum(expected.values())
        ranked = sorted(expected.values(), reverse=True)

        doc = report_json(client, token, send_id)
        links = doc["links"]
        assert isinstance(links, list)
        assert {link["url"]: link["clicks"] for link in links} == dict(expected)
        assert [link["clicks"] for link in links] == ranked  # most clicked first
        assert doc["clicks"] == total

        page = client.get(f"/admin/sends/{send_id}")
        assert page.status_code == 200
        assert dict(desk_links(page.text)) == dict(expected)
        assert [n for _, n in desk_links(page.text)] == ranked
        delivered = doc["delivered"]
        assert delivered == len(READERS)
        links_in_mail = len(links)
        assert f"<strong>{total} clicks</strong> on {links_in_mail} links" in page.text
        assert "of delivered" not in page.text  # a count, not a rate (no per_subscriber)

        for path in ("/admin/sends", "/admin/", "/admin/deliverability"):
            listing = client.get(path).text
            assert '<th scope="col" class="num">Clicks</th>' in listing, path
            row = sends_row(listing, "weekly-1")
            assert len(row) == 11 and row[-1] == str(total), (path, row)

        # The list stops counting: the send's figures stay (its mail still has the links).
        site.configure(config(count=False) + WEB)
    with desk(site) as (client, token):
        assert report_json(client, token, send_id)["clicks"] == total
        page = client.get(f"/admin/sends/{send_id}").text
        assert dict(desk_links(page)) == dict(expected)
        assert sends_row(client.get("/admin/sends").text, "weekly-1")[-1] == str(total)


def test_a_list_without_click_counting_shows_no_click_figure(site: Site) -> None:
    site.configure(config(count=False) + WEB)
    send_id, paths = c_paths(site)
    assert paths == [[], [], []]  # no /c/ link in any copy
    with desk(site) as (client, token):
        doc = report_json(client, token, send_id)
        assert doc["clicks"] is None and doc["links"] == []
        assert doc["delivered"] == len(READERS)
        page = client.get(f"/admin/sends/{send_id}").text
        assert "Click counting is off for this send" in page
        assert desk_links(page) == [] and " clicks (" not in page
        for path in ("/admin/sends", "/admin/", "/admin/deliverability"):
            listing = client.get(path).text
            assert "weekly-1" in listing, path
            assert ">Clicks</th>" not in listing, path
            row = sends_row(listing, "weekly-1")
            assert len(row) == 10 and row[-1] == "0.00 %", (path, row)  # complaints last
    # Counting turned on later: that old send still has no figure (it counted nothing).
    site.configure(config(count=True) + WEB)
    with desk(site) as (client, token):
        assert report_json(client, token, send_id)["clicks"] is None
        assert ">Clicks</th>" not in client.get("/admin/sends").text

"""The desk's pages in words (trial 17): empty states that say what to do, filters that
name nothing said so, plurals, times in the list's zone with the zone's name, and the
deliverability alerts as sentences; addresses with their Unicode domain, the preview's
title, and Reject's confirm page. A real uvicorn (port 0) and httpx; SQLite and
PostgreSQL where the store answers."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from syndicate.service.desk_preview import retitled
from syndicate.store import clicks as click_repo
from syndicate.store import deliveries as ledger
from syndicate.store import feedback as feedback_repo
from syndicate.store import queued as queued_repo
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.admintools import ADMIN_SECRET, add_admin, csrf_of, live_server, sign_in
from tests.conftest import NOW, Site
from tests.test_desk_store import feedback_row

CONFIG = """
[web]
base_url = "http://127.0.0.1"

[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"
editors = ["desk@example.org"]

[lists.weekly]
title = "Weekly"
timezone = "Europe/Berlin"
"""
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def client(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    site.configure(CONFIG)
    add_admin(site, "ed")
    app = create_app(site.settings, site.engine, signer=Signer(ADMIN_SECRET), clock=lambda: NOW)
    with live_server(app) as server, httpx.Client(base_url=server.url) as http:
        assert sign_in(http, "ed").status_code == 303
        yield http


def words(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    return " ".join(answer.text.split())


def test_an_empty_site_says_how_to_add_subscribers(site: Site, client: httpx.Client) -> None:
    board = words(client.get("/admin/"))
    assert "No subscribers yet: <code>syndicate subscribers import weekly FILE.csv</code>" in board
    assert "<svg" not in board  # no flat, empty charts
    listing = words(client.get("/admin/subscribers"))
    assert "No subscribers yet." in listing and "Nobody matches" not in listing
    searched = words(client.get("/admin/subscribers", params={"q": "ada"}))
    assert "Nobody matches." in searched and "No subscribers yet" not in searched
    csv = io.BytesIO(b"email,name\nada@example.org,Ada\n")
    import_rows(site.engine, "weekly", read_rows(csv, "in.csv"), now=NOW - timedelta(days=2))
    board = words(client.get("/admin/"))
    assert "No subscribers yet" not in board and board.count('class="chart"') == 2


def test_unknown_filters_are_said_not_ignored(site: Site, client: httpx.Client) -> None:
    for params, said in (
        ({"list": "nope"}, "unknown list nope (known: weekly)"),
        ({"status": "nope"}, "unknown status nope (known: pending, active"),
        ({"list": HOSTILE}, "unknown list &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"),
    ):
        page = words(client.get("/admin/subscribers", params=params))
        assert said in page, params
        assert HOSTILE not in page
    fine = words(client.get("/admin/subscribers", params={"list": "weekly", "status": "active"}))
    assert "unknown" not in fine


def test_a_send_report_counts_in_words_and_the_lists_zone(site: Site, client: httpx.Client) -> None:
    csv = io.BytesIO(b"email,name\nada@example.org,Ada\n")
    import_rows(site.engine, "weekly", read_rows(csv, "in.csv"), now=NOW - timedelta(days=2))
    with site.engine.connect() as conn:
        (ada,) = (s.id for s, _ in repo.iter_list(conn, "weekly"))
    with site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, send_id, [(ada, "[]")], now=NOW)
        ledger.record(conn, send_id, ada, DeliveryStatus.SENT, now=NOW, code=250, reply="ok")
        assert send_repo.finish_if_done(conn, send_id, now=NOW + timedelta(minutes=1))
    report = words(client.get(f"/admin/sends/{send_id}"))
    assert "<strong>1 recipient</strong></div>" in report  # no "0 skipped" beside it
    # NOW is 09:00 UTC, 10:00 in Berlin in November: the list's zone, by name.
    assert "started 2026-11-27 10:00 CET" in report and "finished 2026-11-27 10:01 CET" in report
    listing = words(client.get("/admin/sends"))
    assert '<td class="when">2026-11-27 10:00 CET</td>' in listing
    subscribers = words(client.get("/admin/subscribers"))  # no list: UTC, said so
    assert "2026-11-25 09:00 UTC" in subscribers


def test_deliverability_alerts_are_sentences_that_point_below(
    site: Site, client: httpx.Client
) -> None:
    from syndicate.store import outbox as outbox_repo
    from syndicate.store.outbox import OutboxStatus

    calm = words(client.get("/admin/deliverability"))
    assert 'role="alert"' not in calm
    with site.engine.begin() as conn:
        for n in range(2):
            row = outbox_repo.enqueue(
                conn, sender="s@example.org", recipient=f"r{n}@example.org", data=b"x",
                now=NOW - timedelta(hours=1),
            )  # fmt: skip
            outbox_repo.record(
                conn, row, OutboxStatus.FAILED, now=NOW - timedelta(minutes=30),
                code=550, reply="550 5.7.1 refused",
            )  # fmt: skip
    page = words(client.get("/admin/deliverability"))
    assert (
        '<p class="alert" role="alert">2 confirmation, welcome or preview mails could not be '
        "delivered in the last 7 days (given up after retrying; the last server reply: "
        "550 5.7.1 refused).</p>"
    ) in page
    assert "single mail" not in page and "`" not in page


def test_idn_addresses_are_shown_in_unicode_and_reader_times_in_the_lists_zone(
    site: Site, client: httpx.Client
) -> None:
    """trial17 F11, trial17b N3: every desk page that names a reader shows the domain as the
    CLI does (stored ASCII below it only as "Sent as"); a reader's trail rows, copies and
    feedback belong to a list and are in its zone, their "since" in UTC, said so."""
    csv = io.BytesIO("email,name\nzoë@exämple.de,Zoë\n".encode())
    import_rows(site.engine, "weekly", read_rows(csv, "in.csv"), now=NOW - timedelta(days=2))
    stored, shown = "zoë@xn--exmple-cua.de", "zoë@exämple.de"
    with site.engine.begin() as conn:
        zoe = repo.find_subscribers(conn, [stored])[stored].id
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, send_id, [(zoe, "[]")], now=NOW)
        ledger.record(conn, send_id, zoe, DeliveryStatus.FAILED, now=NOW, code=550, reply="no")
        feedback_repo.record(
            conn,
            feedback_row(
                1, send_id, zoe, "complaint", diagnostic="abuse report", at=NOW + timedelta(hours=1)
            ),
        )
        link = click_repo.register_links(conn, send_id, ["https://example.org/a"])
        click_repo.count_click(conn, link["https://example.org/a"], subscriber_id=zoe, now=NOW)
    report = words(client.get(f"/admin/sends/{send_id}"))
    search = words(client.get("/admin/subscribers", params={"q": "zo"}))
    page = words(client.get(f"/admin/subscribers/{zoe}"))
    # the failure, the complaint and who clicked: three rows naming her, none in ASCII
    assert report.count(shown) == 3 and stored not in report
    assert f'">{shown}</a></td>' in search and stored not in search
    assert f'<h1 class="address">{shown}</h1>' in page and f"<dd>{stored}</dd>" in page
    # NOW is 09:00 UTC: trail (the import, two days before), copy, complaint in Berlin time
    assert '<td class="when">2026-11-25 10:00 CET</td><td class="id">weekly</td>' in page
    assert '<td class="when">2026-11-27 10:00 CET</td>' in page  # the failed copy
    assert '<td class="when">2026-11-27 11:00 CET</td>' in page  # the complaint
    assert "<dt>Since</dt><dd>2026-11-25 09:00 UTC</dd>" in page


def test_the_preview_is_titled_as_a_desk_page(site: Site, client: httpx.Client) -> None:
    """trial17 F22: the preview's tab said only the mail's subject."""
    answer = client.get("/admin/previews/weekly")
    assert answer.status_code == 200, answer.text
    assert "sandbox" in answer.headers["content-security-policy"]
    (title,) = re.findall(r"<title>(.*?)</title>", answer.text, re.S)
    assert title.startswith("Preview: ") and title.endswith(" · Test Letter admin"), title
    assert len(title) > len("Preview:  · Test Letter admin")  # the subject is in it


def test_retitled_replaces_or_inserts_the_title_escaped_and_nothing_else() -> None:
    hostile = "Q&A </title><script>x()</script>"
    safe = "Q&amp;A &lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;"
    mail = (
        '<!doctype html><html><HEAD><meta charset="utf-8"><Title id="t">Old &amp; subject'
        "</TITLE></HEAD><body><svg><title>chart</title></svg></body></html>"
    )
    assert retitled(mail, hostile) == mail.replace(
        '<Title id="t">Old &amp; subject</TITLE>', f"<title>{safe}</title>"
    )
    untitled = "<html><head lang=en><style>p{}</style></head><body><title>x</title></body></html>"
    assert retitled(untitled, "New") == untitled.replace(
        "<head lang=en>", "<head lang=en><title>New</title>"
    )
    bare = "<p>no head at all</p><title>in the body</title>"
    assert retitled(bare, "New") == bare  # nowhere safe to put it
    assert retitled("<header><title>a</title></header>", "New") == (
        "<header><title>a</title></header>"
    )


HELD = f"""{CONFIG}
[lists.held]
title = "Held letter"
approve = true
"""


def _hold(site: Site, digest_id: str) -> None:
    """``digest_id`` of the held list waits for approval (until NOW + 1 day)."""
    with site.engine.begin() as conn:
        assert queued_repo.hold_for_approval(
            conn, list_name="held", row_id=None, owner=None, due=NOW, now=NOW,
            digest_id=digest_id, prepared="{}", wait_until=NOW + timedelta(days=1),
        )  # fmt: skip


def _held_status(site: Site) -> list[tuple[str | None, str]]:
    with site.engine.connect() as conn:
        rows = queued_repo.listed(conn, "held", closed_since=NOW - timedelta(days=1), limit=10)
    return [(r.digest_id, r.status.value) for r in rows]


def test_reject_asks_first_on_a_page_that_changes_nothing(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trial17 desk: one click on Reject dropped a digest; now the Sends page's Reject is a
    GET to a confirm page, whose POST (CSRF) rejects exactly the digest it named."""
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    site.configure(HELD)
    add_admin(site, "ed")
    _hold(site, "held-5")
    app = create_app(site.settings, site.engine, signer=Signer(ADMIN_SECRET), clock=lambda: NOW)
    with live_server(app) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/admin/reject/held").status_code == 303  # signed out: sign in first
        assert sign_in(http, "ed").status_code == 303
        sends = words(http.get("/admin/sends"))
        assert '<form method="get" action="/admin/reject/held">' in sends
        assert '<form method="post" action="/admin/reject/held">' not in sends
        before = _held_status(site)
        ask = words(http.get("/admin/reject/held"))
        again = words(http.get("/admin/reject/held?reject=held-5"))
        assert _held_status(site) == before == [("held-5", "awaiting")]  # GET changed nothing
        assert "<h1>Reject held-5?</h1>" in ask and "Its articles go into the next digest." in ask
        assert "held-5 waits for your approval until 2026-11-28 09:00 UTC" in ask and again
        assert '<form method="post" action="/admin/reject/held">' in ask
        assert 'name="reject" value="held-5"' in ask
        token = csrf_of(ask)
        assert http.post("/admin/reject/held", data={"reject": "held-5"}).status_code == 403
        assert _held_status(site) == before  # no CSRF: nothing
        assert http.get("/admin/reject/weekly").status_code == 409  # asks for no approval
        assert http.get("/admin/reject/nope").status_code == 404
        # Another digest waits by the time the form is sent: it is not the one confirmed.
        stale = http.post("/admin/reject/held", data={"csrf": token, "reject": "held-4"})
        assert stale.status_code == 409 and "held-4 no longer waits" in stale.text
        assert _held_status(site) == before
        done = http.post("/admin/reject/held", data={"csrf": token, "reject": "held-5"})
        assert done.status_code == 303
        assert _held_status(site) == [("held-5", "rejected")]
        notice = words(http.get(done.headers["location"]))
        assert "held-5 rejected by ed (admin desk): nothing was sent" in notice
        gone = http.get("/admin/reject/held")
        assert gone.status_code == 409 and "nothing waits for approval on held" in gone.text

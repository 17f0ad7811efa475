"""The desk's pages in headless Debian Chromium, JavaScript off, signed in as an editor:
the dashboard with its charts (screenshots, light and dark, in ``test-artifacts/``), a held
digest previewed and approved from the sends page (then sent to the readers by ``run``,
exactly as for ``syndicate approve``), and a send's report with the server's replies.

Everything is real: the digest is held by the scheduler's own job, the send's ledger and
feedback are written by the store functions the courier and the intake use, the app is
``create_app`` under uvicorn on a free port. Without Chromium or Playwright the module is
skipped on a developer's machine; with ``CI`` set it fails instead.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from syndicate.models import Source, Status
from syndicate.service import scheduler as sched
from syndicate.store import deliveries as ledger
from syndicate.store import feedback as feedback_repo
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.queued import QueuedStatus
from syndicate.store.subscribers import Change
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.admintools import add_admin, csrf_of, live_server, sign_in, sign_in_page
from tests.browsers import require_browser, shot
from tests.conftest import Site
from tests.smtpserver import SmtpServer
from tests.test_desk_store import feedback_row
from tests.test_queue import READERS, got, rows, run, setup_site, work_for
from tests.test_queue import server as server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

SECRET = "test-secret-0123456789abcdef"  # tests/test_queue.py's
WEB = '\n[web]\nbase_url = "http://127.0.0.1"\n'
HOSTILE = '<script>alert("x")</script>'

require_browser()


def history(site: Site, clock: Any) -> int:
    """A month of the list, and a finished send with failures and feedback; its id."""
    with site.engine.connect() as conn:
        ada, grace = (s.id for s, _ in repo.iter_list(conn, "weekly"))
    then = clock.now - timedelta(days=20)
    with site.engine.begin() as conn:
        repo.apply_changes(
            conn,
            [Change(subscriber_id=grace, list_name="weekly", status=Status.UNSUBSCRIBED,
                    previous=Status.ACTIVE, source=Source.WEB)],
            now=then,
        )  # fmt: skip
        repo.apply_changes(
            conn,
            [Change(subscriber_id=grace, list_name="weekly", status=Status.ACTIVE,
                    previous=Status.UNSUBSCRIBED, source=Source.WEB)],
            now=then + timedelta(days=3),
        )  # fmt: skip
        send_id = send_repo.create_send(conn, "weekly", "weekly-0", now=then)
        ledger.enqueue(conn, send_id, [(ada, "[]"), (grace, "[]")], now=then)
        ledger.record(conn, send_id, ada, DeliveryStatus.SENT, now=then, code=250, reply="ok")
        ledger.record(
            conn, send_id, grace, DeliveryStatus.FAILED, now=then, code=550,
            reply=f"5.1.1 mailbox unavailable {HOSTILE}",
        )  # fmt: skip
        assert send_repo.finish_if_done(conn, send_id, now=then + timedelta(minutes=5))
        feedback_repo.record(
            conn,
            feedback_row(
                1,
                send_id,
                ada,
                "complaint",
                diagnostic="abuse report",
                at=then + timedelta(hours=1),
            ),
        )
    return send_id


def in_thread(work: Any, job: Any) -> None:
    """``tests.test_queue.run`` in a thread of its own: Playwright's sync API keeps an event
    loop running in this one."""
    failed: list[BaseException] = []

    def go() -> None:
        try:
            run(work, job)
        except BaseException as exc:  # handed to the test below
            failed.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    thread.join(120)
    assert not thread.is_alive() and not failed, failed


# The table cells (ids, dates, figures, a subscriber's lists) that take more than one line.
ONE_LINE = """() => [...document.querySelectorAll("td.id, td.when, td.num, span.id")]
  .filter(el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const tall = range.getBoundingClientRect().height;
    return tall > 1.5 * parseFloat(getComputedStyle(el).lineHeight);
  })
  .map(el => el.textContent)"""


def test_dashboard_charts_approve_and_report(
    site: Site,
    server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    browser: Browser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = setup_site(site, server, monkeypatch, approve=True, extra=WEB)
    send_id = history(site, clock)
    work = work_for(site, clock)
    in_thread(work, lambda: sched.run_digest("weekly"))  # the schedule fires: weekly-1 is held
    (held,) = rows(site)
    assert held.status is QueuedStatus.AWAITING and held.digest_id == "weekly-1"
    add_admin(site, "ed")
    app = create_app(site.settings, site.engine, signer=Signer(SECRET), clock=clock)
    with live_server(app) as live:
        with httpx.Client(base_url=live.url, follow_redirects=False) as client:
            for path in ("/admin/sends", f"/admin/sends/{send_id}", "/admin/deliverability",
                         "/admin/previews/weekly"):  # fmt: skip
                answer = client.get(path)
                assert answer.status_code == 303, path
                assert answer.headers["location"].startswith("/admin/sign-in?next=")
            assert client.post("/admin/approve/weekly").status_code == 403
            assert sign_in(client, "ed").status_code == 303
            page_html = client.get("/admin/sends").text
            assert client.post("/admin/approve/weekly", data={}).status_code == 403  # no csrf
            assert client.post(
                "/admin/approve/weekly", data={"csrf": csrf_of(page_html)},
                headers={"Origin": "https://evil.example"},
            ).status_code == 403  # fmt: skip
            assert client.get("/admin/previews/nope").status_code == 404
            preview = client.get("/admin/previews/weekly")
            assert (
                preview.status_code == 200
                and "sandbox" in preview.headers["content-security-policy"]
            )
            assert "For approval" in preview.text and "/test-copy/" in preview.text  # inert
            # The desk's preview points at the buttons, not at commands in backticks.
            assert "Approve or reject it on the Sends page of the admin desk." in preview.text
            assert "syndicate approve" not in preview.text and "`" not in preview.text
            assert (" CET" in preview.text) != (" CEST" in preview.text)  # the list's zone
            # The dashboard says what waits, until when, in words and the list's zone.
            board = " ".join(client.get("/admin/").text.split())
            assert "weekly-1 waits for your approval until " in board
            assert '<a href="/admin/sends#approval">Review</a>' in board
            listing = " ".join(page_html.split())
            assert "weekly-1 waits for your approval until" in listing
            assert "weekly-1 awaiting" not in listing
            # A notice names only a digest really in that state: not the query string's.
            for forged in ("ALL SENDS DELETED. Call +1-555", "weekly-1", "weekly-0"):
                for done in ("approved", "rejected"):
                    shown = client.get("/admin/sends", params={"done": done, "digest": forged})
                    assert shown.status_code == 200 and 'class="notice"' not in shown.text
                    assert "DELETED" not in shown.text
            # Every desk 404 is the desk's; a digest id goes to its send's numbered page.
            for missing in ("/admin/sends/999", "/admin/sends/abc", "/admin/sends/weekly-77",
                            "/admin/sends/" + "9" * 30, "/admin/sends/%C2%B2"):  # fmt: skip
                answer = client.get(missing)
                assert answer.status_code == 404, missing
                assert "Signed in as" in answer.text, missing
                assert "There is no page at this address." not in answer.text, missing
            wrong_method = client.get("/admin/approve/weekly")
            assert wrong_method.status_code == 405 and "Signed in as" in wrong_method.text
            by_digest = client.get("/admin/sends/weekly-0")
            assert by_digest.status_code == 303
            assert by_digest.headers["location"] == f"/admin/sends/{send_id}"
        assert rows(site)[0].status is QueuedStatus.AWAITING  # nothing refused moved it

        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 1200, "height": 900}
        )
        page = context.new_page()
        sign_in_page(page, live.url, "ed")
        page.goto(live.url + "/admin/")
        charts = page.locator("svg.chart")
        assert charts.count() == 2  # active readers, weekly changes (one list)
        for i in range(2):
            assert charts.nth(i).is_visible()
            box = charts.nth(i).bounding_box()
            assert box is not None and box["width"] > 250 and box["height"] > 80
        assert "Weekly: active subscribers" in (
            charts.nth(0).locator("title").first.text_content() or ""
        )
        assert page.locator("text=2 active subscribers").is_visible()
        table = page.locator("table.sends")
        assert "weekly-0" in table.inner_text() and "50.0 %" in table.inner_text()
        shot(page, "desk-dashboard.png")
        page.emulate_media(color_scheme="dark")
        shot(page, "desk-dashboard-dark.png")
        label = page.locator("svg.chart .chart-label").first
        colour = label.evaluate("e => getComputedStyle(e).fill")
        assert colour != "rgb(0, 0, 0)"  # the axis labels follow the dark scheme
        page.emulate_media(color_scheme="light")

        page.set_viewport_size({"width": 380, "height": 800})  # a phone: nothing overflows
        page.goto(live.url + "/admin/")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 380 + 1
        # The charts' labels stay readable although the SVG is scaled down to the phone.
        for i in range(page.locator("svg.chart .chart-label").count()):
            box = page.locator("svg.chart .chart-label").nth(i).bounding_box()
            assert box is not None and box["height"] >= 10, i
        shot(page, "desk-dashboard-380.png")
        for where in ("/admin/", "/admin/sends", "/admin/subscribers"):
            page.goto(live.url + where)
            assert page.evaluate("document.documentElement.scrollWidth") <= 380 + 1, where
            assert page.evaluate(ONE_LINE) == [], where  # ids, dates, figures: one line each
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(live.url + "/admin/")
        assert page.evaluate(ONE_LINE) == []
        page.set_viewport_size({"width": 1200, "height": 900})

        page.goto(live.url + f"/admin/sends/{send_id}")
        text = page.locator("main").inner_text()
        assert f"550 5.1.1 mailbox unavailable {HOSTILE}" in text  # shown, as text
        assert page.locator("script").count() == 0
        assert "abuse report" in text and "Click counting is off" in text
        shot(page, "desk-send-report.png")

        page.goto(live.url + "/admin/sends")
        shot(page, "desk-sends-waiting.png")
        approve = page.locator("text=Approve and send weekly-1").bounding_box()
        reject = page.locator("button:text-is('Reject')").bounding_box()
        assert approve is not None and reject is not None
        assert abs(approve["height"] - reject["height"]) < 1  # the same height,
        assert abs(approve["y"] - reject["y"]) < 1 and reject["x"] > approve["x"]  # side by side
        with page.expect_navigation():
            page.click("text=Approve and send weekly-1")
        notice = page.locator("p.notice").inner_text()
        assert notice == "weekly-1 approved by ed (admin desk): going out now."
        cell = " ".join(page.locator("#approval").inner_text().split())
        assert "weekly-1 approved by ed (admin desk); going out now" in cell
        assert "waits until" not in cell and "`" not in notice
        audit = [r for r in caplog.records if r.name == "syndicate.web.admin.pages_sends"]
        assert [(r.levelno, r.getMessage()) for r in audit] == [
            (logging.INFO, "weekly: weekly-1 approved by ed (admin desk)")
        ]
        shot(page, "desk-approved.png")
        (row,) = rows(site)
        assert row.status is QueuedStatus.APPROVED and "approved by ed" in (row.detail or "")
        page.goto(live.url + "/admin/deliverability")
        assert page.locator("svg.chart").count() == 2
        shot(page, "desk-deliverability.png")
        context.close()
    in_thread(work, sched.run_queued)  # `run` sends what the desk approved, to the readers
    assert got(server) - Counter(e for e in got(server) if e not in READERS) == Counter(READERS)

    # A send in progress: the dashboard shows it with its progress and refreshes itself.
    with site.engine.connect() as conn:
        ada, grace = (s.id for s, _ in repo.iter_list(conn, "weekly"))
    with site.engine.begin() as conn:
        running = send_repo.create_send(conn, "weekly", "weekly-9", now=clock.now)
        ledger.enqueue(conn, running, [(ada, "[]"), (grace, "[]")], now=clock.now)
        ledger.record(conn, running, ada, DeliveryStatus.SENT, now=clock.now, code=250)
    with live_server(app) as live, httpx.Client(base_url=live.url) as client:
        assert sign_in(client, "ed").status_code == 303
        board = client.get("/admin/")
        assert board.status_code == 200 and board.headers["refresh"] == "10"
        words = " ".join(board.text.split())
        assert "Sending now" in words and "1 of 2 copies answered (50 %): 1 delivered" in words
        report = client.get(f"/admin/sends/{running}")
        assert report.status_code == 200 and report.headers["refresh"] == "10"
        assert '<progress max="100" value="50.0">' in report.text
        found = client.get("/admin/subscribers", params={"q": "ADA@", "status": "active"})
        assert found.status_code == 200 and "ada@example.org" in found.text
        assert "grace@example.org" not in found.text
        odd = client.get("/admin/subscribers", params={"q": HOSTILE, "after": "forged"})
        assert odd.status_code == 200 and HOSTILE not in odd.text and "Nobody matches" in odd.text
        assert "not valid any more" in odd.text

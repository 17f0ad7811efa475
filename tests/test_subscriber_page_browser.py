"""A subscriber's desk page in headless Debian Chromium, JavaScript off: an editor signs in,
searches a reader, opens their page, unsubscribes them from one list, and sees the status
change and the consent trail say it (source ``admin``, the editor's name and reason).
Screenshots (light, dark) in ``test-artifacts/``; on a phone-sized screen nothing overflows.

Everything is real: ``create_app`` under uvicorn on a free port, the store on SQLite. The
browser fixture is ``tests/browsers.py``'s. Without Chromium or Playwright the
module is skipped on a developer's machine; with ``CI`` set it fails instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from syndicate.models import Source, Status
from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.admintools import ADMIN_SECRET, add_admin, live_server, sign_in_page
from tests.browsers import require_browser, shot
from tests.conftest import NOW, Site
from tests.test_subscriber_page import HOSTILE, failed_send, newest, people, statuses

if TYPE_CHECKING:
    from playwright.sync_api import Browser


require_browser()

# Date and id cells (the send, the list) that take more than two lines.
TALL_DATES = """() => [...document.querySelectorAll("td.when, td.id")]
  .filter(el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const tall = range.getBoundingClientRect().height;
    return tall > 2.5 * parseFloat(getComputedStyle(el).lineHeight);
  })
  .map(el => el.textContent)"""


def test_search_open_and_unsubscribe_a_reader(
    site: Site, monkeypatch: pytest.MonkeyPatch, browser: Browser
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    monkeypatch.setenv("TEST_CRM_SECRET", "crm-secret-0123456789abcdef0123")
    ids = people(site)
    add_admin(site, "ed")
    send_id = failed_send(site, ids.ada)
    app = create_app(site.settings, site.engine, signer=Signer(ADMIN_SECRET), clock=lambda: NOW)
    with live_server(app) as live:
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 1200, "height": 900}
        )
        page = context.new_page()
        sign_in_page(page, live.url, "ed")
        page.goto(live.url + "/admin/subscribers")
        page.fill("#q", "ada@")
        with page.expect_navigation():
            page.click("button:has-text('Search')")
        with page.expect_navigation():
            page.click("table.subscribers a:has-text('ada@example.org')")
        assert page.url == f"{live.url}/admin/subscribers/{ids.ada}"
        assert page.locator("h1").inner_text() == "ada@example.org"
        assert HOSTILE in page.locator("dl.facts").inner_text()  # shown as text, not run
        assert page.locator("script").count() == 0
        copy = page.locator("table.deliveries tbody tr").first
        assert f"552 5.2.2 mailbox full {HOSTILE}" in copy.inner_text()
        assert copy.locator("a").get_attribute("href") == f"/admin/sends/{send_id}"
        weekly = page.locator("#list-weekly")
        assert weekly.locator(".status").inner_text() == "active"

        weekly.locator("input[name=reason]").fill("asked on the phone")
        with page.expect_navigation():
            weekly.locator("button:has-text('Unsubscribe from weekly')").click()
        assert page.locator("p.notice").inner_text() == "Unsubscribed from weekly."
        assert page.locator("#list-weekly .status").inner_text() == "unsubscribed"
        assert page.locator("#list-daily .status").inner_text() == "active"
        top = page.locator("table.trail tbody tr").first.locator("td")
        assert [top.nth(i).inner_text() for i in range(1, 5)] == [
            "weekly",
            "active → unsubscribed",
            "admin",
            "admin ed: unsubscribed; reason: asked on the phone",
        ]
        assert page.locator("#list-weekly button:has-text('Resubscribe to weekly')").is_visible()
        shot(page, "desk-subscriber.png")
        page.emulate_media(color_scheme="dark")
        shot(page, "desk-subscriber-dark.png")
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background != "rgb(255, 255, 255)"  # the dark scheme applies here too
        page.emulate_media(color_scheme="light")

        page.set_viewport_size({"width": 380, "height": 800})  # a phone: nothing overflows
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 380 + 1
        assert page.evaluate(TALL_DATES) == []  # no date wraps to 3 or 4 lines
        detail = page.locator("table.trail tbody tr").first.locator("td.detail").bounding_box()
        assert detail is not None and detail["x"] >= 0
        assert detail["x"] + detail["width"] <= 380 + 1  # the reason is on screen, no scrolling
        shot(page, "desk-subscriber-narrow.png")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.reload()
        assert page.evaluate(TALL_DATES) == []
        context.close()
    assert statuses(site, ids.ada) == {"weekly": Status.UNSUBSCRIBED, "daily": Status.ACTIVE}
    entry = newest(site, ids.ada)
    assert entry.source is Source.ADMIN and entry.detail is not None and "admin ed" in entry.detail

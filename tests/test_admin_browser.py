"""Signing in to the admin desk with headless Debian Chromium (Playwright, JavaScript off)
against a real uvicorn: without and with TOTP (the code computed with pyotp), landing on the
page asked for, signing out; wrong codes refused; no console error (so the strict CSP lets
the stylesheet in and nothing else is needed). Screenshots go to ``test-artifacts/admin/``.

Without Chromium or Playwright the module is skipped on a developer's machine; with ``CI``
set it fails instead, so CI cannot pass by skipping it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.admintools import ADMIN_SECRET, PASSWORD, add_admin, live_server, totp_code
from tests.browsers import require_browser
from tests.conftest import Site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "admin"
require_browser()


@pytest.fixture
def served(site: Site, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Site, str, str | None]]:
    monkeypatch.setenv("SYNDICATE_SECRET", ADMIN_SECRET)
    site.configure('\n[web]\nbase_url = "http://127.0.0.1"\n')
    add_admin(site, "ed")
    key = add_admin(site, "ann", totp=True)
    app = create_app(site.settings, site.engine, signer=Signer(ADMIN_SECRET))
    with live_server(app) as server:
        yield site, server.url, key


class Tab:
    """A browser tab without JavaScript that collects console errors."""

    def __init__(self, browser: Browser, **options: Any) -> None:
        self.context = browser.new_context(java_script_enabled=False, **options)
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.styles: list[int] = []  # the status of each /admin/admin.css load
        self.page.on("console", self._on_console)
        self.page.on(
            "response",
            lambda r: self.styles.append(r.status) if r.url.endswith("/admin/admin.css") else None,
        )
        self.page.on("pageerror", lambda error: self.console.append(str(error)))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(f"{self.page.url}: {message.text}")

    def sign_in(self, name: str, password: str, code: str = "") -> int:
        page = self.page
        page.fill("#name", name)
        page.fill("#password", password)
        page.fill("#code", code)
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.request.resource_type == "document"
        ) as posted:
            page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state("load")
        return posted.value.status

    def expected(self, status: int) -> None:
        """The console's notes of answers with ``status`` were expected: forget them; any
        other console error stays."""
        note = f"the server responded with a status of {status} "
        self.console = [line for line in self.console if note not in line]

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def test_sign_in_and_out_without_totp(
    browser: Browser, served: tuple[Site, str, str | None]
) -> None:
    _, base, _ = served
    tab = Tab(browser, viewport={"width": 1000, "height": 700})
    page = tab.page
    try:
        page.goto(base + "/admin/?from=test")
        assert page.url == base + "/admin/sign-in?next=%2Fadmin%2F%3Ffrom%3Dtest"
        assert page.locator("h1").inner_text() == "Sign in"
        assert tab.styles == [200]  # the stylesheet came (and the CSP let it in)
        tab.shot("01-sign-in")
        assert tab.sign_in("ed", "wrong password, surely") == 400
        assert page.get_by_role("alert").inner_text() == "The name, password or code is not right."
        assert page.locator("#name").input_value() == "ed"
        assert page.locator("#password").input_value() == ""
        tab.shot("02-sign-in-refused")
        tab.expected(400)
        assert tab.sign_in("ed", PASSWORD) == 303
        assert page.url == base + "/admin/?from=test"  # where it was going
        page.goto(base + "/admin/")
        assert page.locator("h1").inner_text() == "Dashboard"
        assert "Signed in as ed" in page.locator("header").inner_text()
        nav = page.get_by_role("navigation", name="Admin")
        assert nav.get_by_role("link").all_inner_texts() == [
            "Dashboard",
            "Subscribers",
            "Sends",
            "Deliverability",
        ]
        tab.shot("03-dashboard")
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        assert page.url == base + "/admin/sign-in"
        page.goto(base + "/admin/")
        assert page.url.startswith(base + "/admin/sign-in?next=")
        assert tab.console == [], tab.console
    finally:
        tab.close()


def test_sign_in_with_totp(browser: Browser, served: tuple[Site, str, str | None]) -> None:
    _, base, key = served
    assert key is not None
    tab = Tab(browser, viewport={"width": 390, "height": 800}, color_scheme="dark")
    page = tab.page
    try:
        page.goto(base + "/admin/")
        assert tab.sign_in("ann", PASSWORD) == 400  # the code is needed
        stale = totp_code(key, datetime.now(UTC) - timedelta(minutes=10))
        assert tab.sign_in("ann", PASSWORD, stale) == 400
        tab.shot("04-totp-refused-dark-narrow")
        tab.expected(400)
        assert tab.sign_in("ann", PASSWORD, totp_code(key)) == 303
        assert page.url == base + "/admin/"
        assert "Signed in as ann" in page.locator("header").inner_text()
        tab.shot("05-dashboard-dark-narrow")
        assert tab.console == [], tab.console
    finally:
        tab.close()

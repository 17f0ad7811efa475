"""The subscriber pages end to end: a real ``syndicate run``, a real SMTP server, a browser.

A ``syndicate run`` subprocess serves a site on 127.0.0.1 whose ``[smtp]`` is a local
aiosmtpd server and whose ``[web] base_url`` is the process's own address. Headless Debian
Chromium (``/usr/bin/chromium``, driven by Playwright) with JavaScript disabled subscribes,
takes the confirm link out of the mail the outbox delivered, presses the confirm page's
button, chooses topics on the preferences page, then follows the List-Unsubscribe link of
a digest that ``syndicate send`` delivered into the same server and clicks the one button.
The store is checked after each change; every page must answer 200 and log no console
error. Full-page screenshots of each step go to ``test-artifacts/web/``.

Without Chromium or Playwright the module is skipped on a developer's machine; with ``CI``
set it fails instead, so CI cannot pass by skipping it.
"""

from __future__ import annotations

import email
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from tests.browsers import require_browser
from tests.smtpserver import Message, SmtpServer, serve_smtp

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Response

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "web"
SECRET = "browser-test-secret-0123456789abcdef"
START = re.compile(r"listening on http://127\.0\.0\.1:(\d+); ")
MAIL_WITHIN = 20.0  # the outbox runs every 5 s, and at once when the form queues a mail
STOP_WITHIN = 40.0  # the drain waits up to 30 s for sends in flight; none run at the end
ADDRESS = "reader@example.org"


require_browser()

CONFIG = """\
[publication]
title = "The Browser Letter"
base_url = "https://browser-letter.example.org"
description = "Essays on trade and energy."
language = "en"
author = "The Editors"

[database]
url = "sqlite:///{db}"

[content]
folder = "content"

[email]
from_name = "The Browser Letter"
from_address = "letter@browser-letter.example.org"
postal_address = "The Browser Letter, 1 Test Street, Berlin"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
connections = 1

[web]
base_url = "{web}"

[lists.weekly]
title = "The Browser Letter — weekly"
description = "Every new essay, once a week."
schedule = "0 7 1 1 *"
tags = ["trade", "energy", "security"]

[lists.daily]
title = "Daily notes"
description = "Short notes, every day."
schedule = "0 7 1 1 *"
"""
ARTICLE = """\
---
title: The Middle Corridor Comes of Age
date: {date}
tags: [trade, logistics]
summary: Freight volumes on the Trans-Caspian route have more than doubled.
---

Freight volumes on the Trans-Caspian route have more than doubled.
"""


def _env() -> dict[str, str]:
    return {**os.environ, "SYNDICATE_SECRET": SECRET, "PYTHONPATH": str(REPO)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A running ``syndicate run``, the site it serves and the SMTP server it mails to."""

    root: Path
    url: str
    smtp: SmtpServer
    proc: subprocess.Popen[bytes]
    log: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``syndicate --site ROOT ARGS…`` as a separate process (a second writer)."""
        return subprocess.run(
            [sys.executable, "-m", "syndicate", "--site", str(self.root), *args],
            capture_output=True,
            text=True,
            env=_env(),
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    def subscriber(self, address: str) -> dict[str, Any]:
        """``syndicate subscribers show ADDRESS --json`` (in this process: the store is
        shared with the running service): lists, topics and consent trail."""
        args = ["--site", str(self.root), "subscribers", "show", address, "--json"]
        shown = CliRunner().invoke(main, args)
        assert shown.exit_code == 0, shown.output
        doc: dict[str, Any] = json.loads(shown.stdout)
        return doc

    def mail_to(self, address: str, match: Callable[[EmailMessage], bool]) -> EmailMessage:
        """The first mail to ``address`` that ``match`` accepts, waiting up to MAIL_WITHIN."""
        deadline = time.monotonic() + MAIL_WITHIN
        while True:
            for message in self.smtp.messages:
                parsed = _parse(message)
                if address in message.recipients and match(parsed):
                    return parsed
            if time.monotonic() > deadline:
                got = [_parse(m)["Subject"] for m in self.smtp.messages]
                pytest.fail(f"no such mail within {MAIL_WITHIN} s; got {got}; {self.log_text()}")
            time.sleep(0.1)

    def log_text(self) -> str:
        return f"log of syndicate run:\n{self.log.read_text(errors='replace')}"


def _parse(message: Message) -> EmailMessage:
    parsed = email.message_from_bytes(message.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _start(root: Path, smtp_port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``syndicate run`` on a free port named in ``[web] base_url`` beforehand.

    The port must be known before the start (the confirm links carry it), so a free one is
    picked and passed with ``--port``; if another process took it meanwhile, try again.
    """
    for _ in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        config = CONFIG.format(db=root / "state.db", smtp_port=smtp_port, web=url)
        (root / "syndicate.toml").write_text(config, encoding="utf-8")
        args = ["--site", str(root), "run", "--port", str(port)]
        with log.open("ab") as err:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "syndicate", *args],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=_env(),
            )
        assert proc.stdout is not None
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                line = proc.stdout.readline().decode() if sel.select(30.0) else ""
            found = START.search(line)
            if found and int(found[1]) == port:
                return proc, url
        except BaseException:
            _stop(proc)
            raise
        _stop(proc)
        if f"cannot listen on 127.0.0.1:{port}" not in log.read_text(errors="replace"):
            pytest.fail(f"unexpected start line {line!r}; log:\n{log.read_text()}")
    pytest.fail(f"no free port after 3 attempts; log:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, then SIGKILL if it does not exit in time; the exit status."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_WITHIN)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    return proc.returncode


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A site with one article, served by ``syndicate run``; stopped whatever happens."""
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    date = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (root / "content" / "corridor.md").write_text(ARTICLE.format(date=date), encoding="utf-8")
    log = tmp_path / "run.log"
    with serve_smtp() as smtp:
        proc, url = _start(root, smtp.port, log)
        try:
            yield Service(root=root, url=url, smtp=smtp, proc=proc, log=log)
        finally:
            code = _stop(proc)
        assert code == 0, f"syndicate run exited with {code}; log:\n{log.read_text()}"


class Visit:
    """One browser tab without JavaScript: console errors and responses are collected."""

    def __init__(self, browser: Browser, service: Service) -> None:
        self.service = service
        self.context = browser.new_context(
            java_script_enabled=False, viewport={"width": 800, "height": 900}
        )
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.documents: list[tuple[str, int]] = []  # (method url, status) of each page load
        self.insecure: list[str] = []  # pages without the pages' security headers
        self.step = 0
        self.page.on("console", self._on_console)
        self.page.on("pageerror", self._on_error)
        self.page.on("response", self._on_response)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(f"{self.page.url}: {message.text}")

    def _on_error(self, error: Error) -> None:
        self.console.append(f"{self.page.url}: {error}")

    def _on_response(self, response: Response) -> None:
        if response.request.resource_type == "document":
            what = f"{response.request.method} {response.url}"
            self.documents.append((what, response.status))
            csp = response.headers.get("content-security-policy", "")
            if "default-src 'none'" not in csp or "form-action 'self'" not in csp:
                self.insecure.append(f"{what}: Content-Security-Policy {csp!r}")

    def goto(self, url: str) -> None:
        response = self.page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, (url, response)

    def submit(self, button: str) -> None:
        """Click a submit button and wait for the page the form post answers with."""
        with self.page.expect_response(
            lambda r: r.request.method == "POST" and r.request.resource_type == "document"
        ) as posted:
            self.page.get_by_role("button", name=button).click()
        self.page.wait_for_load_state("load")
        assert posted.value.status == 200, (button, posted.value.status, self.page.content())

    def heading(self) -> str:
        return self.page.locator("h1").inner_text()

    def shot(self, name: str) -> None:
        """A full-page screenshot of the current page, numbered in order of the steps."""
        self.step += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.step:02d}-{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def _text(message: EmailMessage) -> str:
    """The decoded plain-text part of a mail ("" without one)."""
    part = message.get_body(("plain",))
    return "" if part is None else str(part.get_content())


def _link(message: EmailMessage, pattern: str) -> str:
    """The one link matching ``pattern`` in the plain-text part of a mail."""
    found: set[str] = set(re.findall(pattern, _text(message)))
    assert len(found) == 1, (pattern, found, _text(message))
    return found.pop()


def _unsubscribe_url(message: EmailMessage, base: str) -> str:
    """The http(s) URI of a mail's List-Unsubscribe header (RFC 2369: ``<uri>, <uri>``)."""
    header = str(message["List-Unsubscribe"] or "")
    urls: list[str] = re.findall(r"<(https?://[^>]+)>", header)
    assert len(urls) == 1 and urls[0].startswith(f"{base}/unsubscribe/"), header
    return urls[0]


def test_subscribe_confirm_choose_topics_and_unsubscribe_in_a_browser(
    browser: Browser, service: Service
) -> None:
    base = service.url
    visit = Visit(browser, service)
    try:
        # 1. the form: address, name, one of two lists
        visit.goto(f"{base}/subscribe")
        assert visit.heading() == "Subscribe to The Browser Letter"
        visit.shot("subscribe")
        visit.page.get_by_label("Email address").fill(ADDRESS)
        visit.page.get_by_label("Name").fill("Ann Reader")
        visit.page.get_by_label("The Browser Letter — weekly").check()
        visit.shot("subscribe-filled")
        visit.submit("Subscribe")
        assert visit.heading() == "Check your inbox"
        visit.shot("check-inbox")

        # 2. the confirmation mail: the outbox sender carries out the recorded request
        # (pending, then the mail) and sends it through the real SMTP server
        mail = service.mail_to(ADDRESS, lambda m: "/confirm/" in _text(m))
        assert service.subscriber(ADDRESS)["lists"] == {"weekly": "pending"}
        assert mail["To"] == ADDRESS  # the name typed into the form is not mailed
        confirm = _link(mail, re.escape(base) + r"/confirm/[A-Za-z0-9_.-]+")
        html = mail.get_body(("html",))
        assert html is not None and confirm in html.get_content()

        # 3. confirm: opening the link changes nothing (mail scanners open links too); the
        # page's one button does. Then the preferences page it links to.
        visit.goto(confirm)
        assert visit.heading() == "Confirm your subscription"
        visit.shot("confirm")
        assert service.subscriber(ADDRESS)["lists"] == {"weekly": "pending"}
        visit.submit("Confirm my subscription")
        assert visit.heading() == "You’re subscribed"
        visit.shot("confirmed")
        assert service.subscriber(ADDRESS)["lists"] == {"weekly": "active"}
        visit.page.get_by_role("link", name="preferences page").click()
        visit.page.wait_for_load_state("load")
        assert visit.page.url.startswith(f"{base}/preferences/")
        assert visit.heading() == "Your preferences"
        weekly = visit.page.get_by_role("group", name="The Browser Letter — weekly")
        assert weekly.get_by_label("Send me The Browser Letter — weekly").is_checked()
        visit.shot("preferences")

        # 4. choose two of the weekly's topics and save (topics belong to a list)
        weekly.get_by_label("trade", exact=True).check()
        weekly.get_by_label("security", exact=True).check()
        visit.submit("Save preferences")
        assert visit.page.get_by_role("status").inner_text() == "Your preferences are saved."
        weekly = visit.page.get_by_role("group", name="The Browser Letter — weekly")
        assert weekly.get_by_label("trade", exact=True).is_checked()
        assert not weekly.get_by_label("energy", exact=True).is_checked()
        visit.shot("preferences-saved")
        saved = service.subscriber(ADDRESS)
        assert saved["topics"] == {"weekly": ["security", "trade"]}
        assert saved["lists"] == {"weekly": "active"}
        assert saved["name"] == "Ann Reader"

        # 5. a real digest, into the same SMTP server: its List-Unsubscribe link
        sent = service.cli("send", "weekly", "--yes", "--json", "--offline")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        digest = service.mail_to(ADDRESS, lambda m: "List-Unsubscribe" in m)
        unsubscribe = _unsubscribe_url(digest, base)

        # 6. the unsubscribe page: one button, and a GET alone changes nothing
        visit.goto(unsubscribe)
        assert visit.heading() == "Unsubscribe from The Browser Letter — weekly?"
        visit.shot("unsubscribe")
        assert service.subscriber(ADDRESS)["lists"] == {"weekly": "active"}
        visit.submit("Unsubscribe")
        assert visit.heading() == "You’re unsubscribed"
        visit.shot("unsubscribed")
        left = service.subscriber(ADDRESS)
        assert left["lists"] == {"weekly": "unsubscribed"}
        assert left["trail"][-1]["source"] == "web"
        assert left["trail"][-1]["detail"].startswith("unsubscribe")

        assert [status for _, status in visit.documents if status != 200] == [], visit.documents
        assert visit.console == [], visit.console
        assert visit.insecure == [], visit.insecure
    finally:
        visit.close()


def test_one_mail_and_one_click_confirm_both_lists_in_a_browser(
    browser: Browser, service: Service
) -> None:
    base = service.url
    visit = Visit(browser, service)
    try:
        visit.goto(f"{base}/subscribe")
        visit.page.get_by_label("Email address").fill(ADDRESS)
        visit.page.get_by_label("The Browser Letter — weekly").check()
        visit.page.get_by_label("Daily notes").check()
        visit.submit("Subscribe")
        assert visit.heading() == "Check your inbox"

        mail = service.mail_to(ADDRESS, lambda m: "/confirm/" in _text(m))
        assert service.subscriber(ADDRESS)["lists"] == {"daily": "pending", "weekly": "pending"}
        links = re.findall(re.escape(base) + r"/confirm/[A-Za-z0-9_.-]+", _text(mail))
        assert len(links) == 1, links  # one button for both lists
        visit.goto(links[0])
        assert "The Browser Letter — weekly and Daily notes" in visit.page.inner_text("main")
        visit.submit("Confirm my subscription")
        assert visit.heading() == "You’re subscribed"
        assert "The Browser Letter — weekly and Daily notes" in visit.page.inner_text("main")
        assert service.subscriber(ADDRESS)["lists"] == {"daily": "active", "weekly": "active"}
        assert len([m for m in service.smtp.messages if ADDRESS in m.recipients]) == 1
        assert visit.console == [], visit.console
    finally:
        visit.close()

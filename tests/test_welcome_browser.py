"""The welcome mail end to end: a real ``syndicate run``, a real SMTP server, a browser.

Headless Chromium subscribes on the site's own page, takes the confirm link out of the mail,
presses the confirm button; the list's welcome mail then arrives once, personalized (its own
unsubscribe link and List-Unsubscribe, which work), and a second welcome never comes. Then
``syndicate run`` is killed with SIGKILL while the welcome is on the wire (the server holds
its DATA unanswered), and restarted: the reader gets exactly one welcome.

Skipped without Chromium or Playwright on a developer's machine; with ``CI`` set it fails.
"""

from __future__ import annotations

import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, select

from syndicate.store.tables import outbox, welcomes
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_web_browser import (
    ARTICLE,
    CONFIG,
    START,
    Service,
    Visit,
    _env,
    _free_port,
    _link,
    _parse,
    _stop,
    _text,
    _unsubscribe_url,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ADDRESS = "new.reader@example.org"
WELCOME = """\
---
subject: Welcome to the weekly
---

Thanks for joining us. <script>alert("no")</script>Read [how we work](/about/).
"""
QUIET = 7.0  # longer than one outbox interval (5 s): a second welcome would have come


def _config(root: Path, smtp_port: int, web: str, db_url: str | None = None) -> str:
    config = CONFIG.format(db=root / "state.db", smtp_port=smtp_port, web=web)
    if db_url is not None:
        config = re.sub(r'(?m)^url = "sqlite:///.*"$', f'url = "{db_url}"', config)
    return config.replace(
        'description = "Every new essay, once a week."\n',
        'description = "Every new essay, once a week."\nwelcome = "welcome.md"\n',
    )


def _start(
    root: Path, smtp_port: int, log: Path, db_url: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``syndicate run`` on a free port named in ``[web] base_url`` (tried up to 3 times)."""
    for _ in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        config = _config(root, smtp_port, url, db_url)
        (root / "syndicate.toml").write_text(config, encoding="utf-8")
        with log.open("ab") as err:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "syndicate",
                    "--site",
                    str(root),
                    "run",
                    "--port",
                    str(port),
                ],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=_env(),
            )
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            line = proc.stdout.readline().decode() if sel.select(30.0) else ""
        found = START.search(line)
        if found and int(found[1]) == port:
            return proc, url
        _stop(proc)
    pytest.fail(f"syndicate run did not start; log:\n{log.read_text()}")


@dataclass
class Site:
    root: Path
    log: Path
    smtp: SmtpServer


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    date = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (root / "content" / "corridor.md").write_text(ARTICLE.format(date=date), encoding="utf-8")
    (root / "welcome.md").write_text(WELCOME, encoding="utf-8")
    with serve_smtp() as smtp:
        yield Site(root=root, log=tmp_path / "run.log", smtp=smtp)


def _welcomes(service: Service) -> list[EmailMessage]:
    return [
        _parse(m)
        for m in service.smtp.messages
        if ADDRESS in m.recipients and _parse(m)["Subject"] == "Welcome to the weekly"
    ]


def _subscribe_and_confirm(visit: Visit, service: Service) -> None:
    """The form, the confirmation mail, the confirm page's button."""
    visit.goto(f"{service.url}/subscribe")
    visit.page.get_by_label("Email address").fill(ADDRESS)
    visit.page.get_by_label("The Browser Letter — weekly").check()
    visit.submit("Subscribe")
    assert visit.heading() == "Check your inbox"
    mail = service.mail_to(ADDRESS, lambda m: "/confirm/" in _text(m))
    assert not _welcomes(service)  # nothing before the confirmation
    visit.goto(_link(mail, re.escape(service.url) + r"/confirm/[A-Za-z0-9_.-]+"))
    visit.submit("Confirm my subscription")
    assert visit.heading() == "You’re subscribed"


def test_a_reader_who_confirms_in_a_browser_gets_the_welcome_once(
    browser: Browser, site: Site
) -> None:
    proc, url = _start(site.root, site.smtp.port, site.log)
    service = Service(root=site.root, url=url, smtp=site.smtp, proc=proc, log=site.log)
    visit = Visit(browser, service)
    try:
        _subscribe_and_confirm(visit, service)
        welcome = service.mail_to(ADDRESS, lambda m: m["Subject"] == "Welcome to the weekly")
        text = " ".join(_text(welcome).split())  # as read: the text part is wrapped
        assert "Thanks for joining us." in text
        assert "how we work (https://browser-letter.example.org/about/)" in text
        html_part = welcome.get_body(("html",))
        assert html_part is not None
        html = str(html_part.get_content())
        assert "Thanks for joining us." in html and "<script" not in html and "alert(" not in html
        assert welcome["Auto-Submitted"] == "auto-generated"
        assert welcome["List-Id"].endswith("<weekly.browser-letter.example.org>")
        assert re.fullmatch(
            r"<weekly-welcome\.\d+@browser-letter\.example\.org>", welcome["Message-ID"]
        )
        time.sleep(QUIET)
        assert len(_welcomes(service)) == 1

        # Its own unsubscribe link works: it is this reader's, for this list.
        visit.goto(_unsubscribe_url(welcome, url))
        visit.submit("Unsubscribe")
        assert visit.heading() == "You’re unsubscribed"
        assert service.subscriber(ADDRESS)["lists"] == {"weekly": "unsubscribed"}
        assert visit.console == [], visit.console
    finally:
        visit.close()
        code = _stop(proc)
    assert code == 0, service.log_text()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, site: Site) -> str:
    """The kill test's store: SQLite, and PostgreSQL when one is configured."""
    if request.param == "sqlite":
        return f"sqlite:///{site.root / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_kill_9_while_the_welcome_is_on_the_wire_then_exactly_one_after_restart(
    browser: Browser, site: Site, store_url: str
) -> None:
    proc, url = _start(site.root, site.smtp.port, site.log, store_url)
    service = Service(root=site.root, url=url, smtp=site.smtp, proc=proc, log=site.log)
    visit = Visit(browser, service)
    try:
        visit.goto(f"{url}/subscribe")
        visit.page.get_by_label("Email address").fill(ADDRESS)
        visit.page.get_by_label("The Browser Letter — weekly").check()
        visit.submit("Subscribe")
        confirmation = service.mail_to(ADDRESS, lambda m: "/confirm/" in _text(m))
        # From now on the server takes the data of each mail and never answers it.
        site.smtp.set_fault(ADDRESS, "hang-data")
        rcpts = len(site.smtp.handler.accepted_rcpts)
        visit.goto(_link(confirmation, re.escape(url) + r"/confirm/[A-Za-z0-9_.-]+"))
        visit.submit("Confirm my subscription")
        deadline = time.monotonic() + 20
        while len(site.smtp.handler.accepted_rcpts) == rcpts:  # the welcome is on the wire
            assert time.monotonic() < deadline, service.log_text()
            time.sleep(0.05)
        time.sleep(0.3)  # its data is sent and waits for the answer that never comes
    finally:
        visit.close()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    assert not _welcomes(service)

    engine = create_engine(store_url)
    with engine.connect() as conn:
        leased = conn.execute(select(outbox.c.status, outbox.c.lease_owner)).all()
    assert [status for status, owner in leased if owner] == ["queued"]  # held by the dead run

    site.smtp.clear_faults()
    proc, url = _start(site.root, site.smtp.port, site.log, store_url)
    service = Service(root=site.root, url=url, smtp=site.smtp, proc=proc, log=site.log)
    try:
        service.mail_to(ADDRESS, lambda m: m["Subject"] == "Welcome to the weekly")
        time.sleep(QUIET)
        assert len(_welcomes(service)) == 1
        with engine.connect() as conn:
            assert conn.execute(select(welcomes.c.status)).scalars().all() == ["queued"]
            statuses = sorted(conn.execute(select(outbox.c.status)).scalars())
        assert statuses == ["sent", "sent"]  # the confirmation, the welcome
    finally:
        code = _stop(proc)
        engine.dispose()
    assert code == 0, service.log_text()

"""Attacks on the subscriber pages (issue 13, items 6, 7, 8, 11 and 12), each against the real
ASGI app through httpx or a real ``syndicate run`` on 127.0.0.1 mailing an aiosmtpd server.
Every test here failed before its fix, except where it says *already held*.

Attacks defended:

- Link scanners confirming double opt-in: mail security scanners open every link of a mail
  (GET, some HEAD first), so a stranger could sign up any address at such a domain.
  Opening ``/confirm/<token>`` now shows a page with one button and changes nothing; only
  the POST of that button confirms, and a post from another site's page is refused. The
  same holds for every GET route of the app: each one, with valid tokens, is fetched with
  GET and HEAD and the store must not change (a new GET route is audited automatically).
  RFC 8058 one-click (``POST List-Unsubscribe=One-Click`` from a mail provider, no Origin)
  still unsubscribes.
- Subscribe timing telling who is subscribed (new addresses answered in 7.9 ms, known ones
  in 3.3 ms): the form now only records the request, the same statements for a new,
  pending, active, unsubscribed or bounced address; the outbox sender decides what it
  changes and builds the mail after the answer (``bench/subscribe_timing.py`` measures).
- A non-ASCII local part (``üser@example.com``): accepted (SMTPUTF8), and the confirmation
  reaches the SMTP server with the address as typed (*already held* on main since the fix
  of ``Address(addr_spec=…)``; tested here the whole way through ``syndicate run``).
- An old preferences link re-activating someone who unsubscribed: coming back to a list
  through the preferences page, or joining one while getting none, makes it pending and
  mails a new confirmation; only a current reader joins a new list at once.
- The name field as a spam vector (200 characters of anyone's text in a mail from the
  publication's domain): a name is at most 80 characters, holds no web address or domain
  (``://``, ``www.``, ``evil.example``, full-width dots), and is never part of the
  confirmation mail (no greeting, no display name in ``To:``).
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
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from starlette.routing import Route

from syndicate.cli import main
from syndicate.models import Status
from syndicate.store import subscribers as repo
from syndicate.store.tables import metadata
from syndicate.subscribers.tokens import Purpose
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp
from tests.test_web import (
    FROM,
    ONE_CLICK,
    SECRET,
    WEB_CONFIG,
    Clock,
    Web,
    add,
    confirm_paths,
    events,
    make_app,
    make_token,
    outbox_rows,
    status_of,
    subscribe,
)

REPO = Path(__file__).resolve().parents[2]
MAX_NAME = 80


def store_state(site: Site) -> dict[str, Any]:
    """Every row of every table: subscribers, subscriptions, the consent trail, the outbox,
    recorded subscribe requests…"""
    with site.engine.connect() as conn:
        return {name: conn.execute(select(t)).all() for name, t in metadata.tables.items()}


def waiting_requests(site: Site) -> int:
    """How many subscribe requests wait for the outbox sender."""
    with site.engine.connect() as conn:
        table = metadata.tables["signups"]
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def confirm(web: Web, path: str) -> httpx.Response:
    """Open a confirm link (one button, nothing changes), then press its button."""
    page = web.get(path)
    assert page.status_code == 200 and "Confirm my subscription</button>" in page.text
    return web.post(path)


# --- item 6: opening a link changes nothing ----------------------------------------------------


def test_opening_a_confirm_link_shows_a_button_and_changes_nothing(
    web_site: Site, web: Web
) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.PENDING, "daily": Status.PENDING})
    path = f"/confirm/{make_token(Purpose.CONFIRM, sid, 'weekly')}"
    before = store_state(web_site)
    for method in ("HEAD", "GET", "GET", "HEAD"):  # a scanner, then a preview, then again
        page = web.request(method, path)
        assert page.status_code == 200, method
    page = web.get(path)
    assert re.search(r'<form method="post">\s*<button type="submit">Confirm my subs', page.text)
    assert "<strong>Weekly</strong>" in page.text
    assert store_state(web_site) == before
    assert status_of(web_site, sid, "weekly") is Status.PENDING
    # The button (a POST to the same address) confirms, from our own page or without Origin.
    done = web.post(path, headers={"origin": "http://test"})
    assert done.status_code == 200 and "You’re subscribed" in done.text
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE
    assert status_of(web_site, sid, "daily") is Status.PENDING  # not this link's list


def test_a_confirm_post_from_another_site_is_refused(web_site: Site, web: Web) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.PENDING})
    path = f"/confirm/{make_token(Purpose.CONFIRM, sid, 'weekly')}"
    for headers in (
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/auto-submit.html"},
    ):
        assert web.post(path, headers=headers).status_code == 403, headers
    assert status_of(web_site, sid, "weekly") is Status.PENDING
    assert web.post(path).status_code == 200  # no Origin, no Referer: old browsers
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE


def _concrete(route: Route, sid: int) -> str:
    """A path for ``route`` whose parameters are valid: tokens of the route's purpose."""
    purposes = {"confirm": Purpose.CONFIRM, "unsubscribe": Purpose.UNSUBSCRIBE}
    purpose = purposes.get(route.path.split("/")[1], Purpose.PREFERENCES)
    values = {
        "token": make_token(purpose, sid, "weekly"),
        "path": "rss.xml",
        "list_name": "weekly",
        "page": "unsubscribe",
        # /c/{cid}: a signed click id of no recorded link (404). A recorded one counts a
        # click on GET by design (a counter of the send; tests/test_clicks.py).
        "cid": "AQAAAAEAAAAB4ekv07pJFIIFdsqZ6sDcAg",
    }
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m[1]], route.path)


def test_no_get_or_head_of_any_route_changes_the_store(
    web_site: Site, web: Web, clock: Clock
) -> None:
    pending = add(web_site, "ann@example.org", {"weekly": Status.PENDING})
    active = add(web_site, "bob@example.org", {"weekly": Status.ACTIVE, "daily": Status.ACTIVE})
    app = make_app(web_site, clock)
    routes = [
        r for r in app.routes if isinstance(r, Route) and (r.methods is None or "GET" in r.methods)
    ]
    assert {r.path for r in routes} >= {"/confirm/{token}", "/unsubscribe/{token}"}
    before = store_state(web_site)
    fetched = []
    for route in routes:
        for sid in (pending, active):
            path = _concrete(route, sid)
            for method in ("GET", "HEAD"):
                answer = web.request(method, path + "?list=weekly&List-Unsubscribe=One-Click")
                assert answer.status_code < 500, (method, path)
                fetched.append(f"{method} {route.path} {answer.status_code}")
    assert store_state(web_site) == before, fetched
    # RFC 8058 one-click still works: a mail provider's POST, no Origin, no cookies.
    path = f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, active, 'weekly')}"
    done = web.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert done.status_code == 200
    assert status_of(web_site, active, "weekly") is Status.UNSUBSCRIBED
    assert status_of(web_site, active, "daily") is Status.ACTIVE


# --- item 7: the subscribe request costs the same for every address ---------------------------


def test_the_subscribe_request_does_the_same_for_every_address(
    web_site: Site, clock: Clock
) -> None:
    add(web_site, "pending@example.org", {"weekly": Status.PENDING})
    add(web_site, "active@example.org", {"weekly": Status.ACTIVE})
    add(web_site, "left@example.org", {"weekly": Status.UNSUBSCRIBED})
    add(web_site, "bounced@example.org", {"weekly": Status.BOUNCED})
    rang: list[int] = []
    # The doorbell nobody answers: what the request itself does, before the outbox runs.
    client = Web(make_app(web_site, clock, on_outbox=lambda: rang.append(1)))
    statements: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(sql)

    event.listen(web_site.engine, "before_cursor_execute", record)
    try:
        seen = {}
        for address in (
            "new@example.org",
            "pending@example.org",
            "active@example.org",
            "left@example.org",
            "bounced@example.org",
            "new2@example.org",
        ):
            statements.clear()
            answer = subscribe(client, address, "weekly", name="Ann")
            assert answer.status_code == 200
            seen[address] = (answer.content, tuple(statements))
    finally:
        event.remove(web_site.engine, "before_cursor_execute", record)
        client.close()
    assert len(set(seen.values())) == 1, seen  # the same answer and the same statements
    assert len(rang) == len(seen)  # the outbox is woken every time, not only for new ones
    assert waiting_requests(web_site) == len(seen)
    with web_site.engine.connect() as conn:
        assert repo.subscriber_by_key(conn, "new@example.org") is None  # nothing decided yet
    assert outbox_rows(web_site) == []


def test_the_outbox_sender_carries_out_the_requests(web_site: Site, clock: Clock) -> None:
    add(web_site, "active@example.org", {"weekly": Status.ACTIVE})
    left = add(web_site, "left@example.org", {"weekly": Status.UNSUBSCRIBED})
    quiet = Web(make_app(web_site, clock, on_outbox=lambda: None))
    try:
        for address in ("new@example.org", "active@example.org", "left@example.org"):
            subscribe(quiet, address, "weekly", "daily")
        subscribe(quiet, "new@example.org", "weekly")  # twice at once: one mail
    finally:
        quiet.close()
    web = Web(make_app(web_site, clock))  # its doorbell carries out what is waiting
    try:
        subscribe(web, "later@example.org", "weekly")
    finally:
        web.close()
    recipients = [r.recipient for r in outbox_rows(web_site)]
    assert recipients == [
        "new@example.org",
        "active@example.org",  # for daily only: weekly stays active
        "left@example.org",
        "later@example.org",
    ]
    assert status_of(web_site, left, "weekly") is Status.PENDING
    assert waiting_requests(web_site) == 0
    with web_site.engine.connect() as conn:
        new = repo.subscriber_by_key(conn, "new@example.org")
    assert new is not None and new.name is None
    trail = events(web_site, new.id)
    assert {(e.list_name, e.status) for e in trail} == {
        ("weekly", Status.PENDING),
        ("daily", Status.PENDING),
    }
    assert all("subscribe form from 192.0.2.10" in (e.detail or "") for e in trail)


# --- item 11: an old preferences link after an unsubscribe -----------------------------------


def test_an_old_preferences_link_does_not_resubscribe_without_a_new_confirmation(
    web_site: Site, web: Web, clock: Clock
) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.ACTIVE})
    preferences = f"/preferences/{make_token(Purpose.PREFERENCES, sid, 'weekly')}"
    clock.advance(timedelta(days=1))
    unsubscribe = f"/unsubscribe/{make_token(Purpose.UNSUBSCRIBE, sid, 'weekly', clock.now)}"
    assert web.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    clock.advance(timedelta(days=1))
    # Whoever has the old link (a forwarded digest) ticks the list again, and daily too.
    saved = web.post(preferences, data={"list": ["weekly", "daily"]})
    assert saved.status_code == 200
    assert status_of(web_site, sid, "weekly") is Status.PENDING
    assert status_of(web_site, sid, "daily") is Status.PENDING  # they get no list any more
    assert "please confirm" in saved.text and "Weekly and Daily" in saved.text
    [mail] = outbox_rows(web_site)
    assert mail.recipient == "ann@example.org"
    [path] = confirm_paths(mail.data)  # one fresh link for both, issued after the unsubscribe
    assert confirm(web, path).status_code == 200
    assert status_of(web_site, sid, "weekly") is Status.ACTIVE
    assert status_of(web_site, sid, "daily") is Status.ACTIVE


def test_a_current_reader_joins_a_new_list_from_preferences_at_once(
    web_site: Site, web: Web
) -> None:
    sid = add(web_site, "ann@example.org", {"weekly": Status.ACTIVE})
    path = f"/preferences/{make_token(Purpose.PREFERENCES, sid, 'weekly')}"
    assert web.post(path, data={"list": ["weekly", "daily"]}).status_code == 200
    assert status_of(web_site, sid, "daily") is Status.ACTIVE
    assert outbox_rows(web_site) == []


# --- item 12: names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A" * (MAX_NAME + 1), f"longer than {MAX_NAME} characters"),
        ("Claim your prize at https://evil.example/win", "web address"),
        ("Ann www.evil.example", "web address"),
        ("Ann, your account is locked: evil-login.example", "web address"),
        ("Ann (visit evil．example)", "web address"),  # a full-width dot
        ("Ann\u202eelpmaxe.live", "control character"),
    ],
)
def test_names_are_short_and_hold_no_links(
    web_site: Site, web: Web, name: str, expected: str
) -> None:
    answer = subscribe(web, "ann@example.org", "weekly", name=name)
    assert answer.status_code == 400
    assert "Please check your name" in answer.text and expected in answer.text
    assert 'aria-invalid="true" aria-describedby="name-error"' in answer.text
    assert all(rows == [] for rows in store_state(web_site).values())


def test_the_confirmation_mail_carries_no_name(web_site: Site, web: Web) -> None:
    for name in ("J.R.R. Tolkien", "Dr. Anna-Lena O’Brien", "A" * MAX_NAME):
        assert subscribe(web, f"{len(name)}@example.org", "weekly", name=name).status_code == 200
    names = ("J.R.R. Tolkien", "Dr. Anna-Lena O’Brien", "A" * MAX_NAME)
    rows = outbox_rows(web_site)
    for row, name in zip(rows, names, strict=True):
        message = email.message_from_bytes(row.data, policy=policy.default)
        assert message["To"] == row.recipient
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert text.splitlines()[0] == "Hello," and "<p>Hello,</p>" in html
        for part in (text, html, row.data.decode("utf-8", "replace")):
            assert name not in part and "Tolkien" not in part
    with web_site.engine.connect() as conn:  # stored for the editor, as typed
        found = repo.subscriber_by_key(conn, "14@example.org")
    assert found is not None and found.name == "J.R.R. Tolkien"


# --- a real `syndicate run`: scanners, and an SMTPUTF8 address the whole way -------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Running:
    """``syndicate run`` on a free port of 127.0.0.1, mailing ``smtp``."""

    def __init__(self, site: Site, smtp: SmtpServer, log: Path) -> None:
        self.site, self.smtp = site, smtp
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        site.configure(
            WEB_CONFIG
            + f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n'
            + f'\n[web]\nbase_url = "{self.url}"\n'
        )
        self.env = {**os.environ, "SYNDICATE_SECRET": SECRET, "PYTHONPATH": str(REPO)}
        command = ["run", "--port", str(port)]
        with log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syndicate", "--site", str(site.root), *command],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=self.env,
            )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            line = self.proc.stdout.readline().decode() if sel.select(30.0) else ""
        if f"listening on {self.url}" not in line:
            self.stop()
            pytest.fail(f"syndicate run did not start: {line!r}; {log.read_text()}")

    def mail_to(self, address: str) -> EmailMessage:
        """The first mail to ``address``, waiting up to 20 s (the outbox is rung at once)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for message in self.smtp.messages:
                if address in message.recipients:
                    parsed = email.message_from_bytes(message.data, policy=policy.default)
                    assert isinstance(parsed, EmailMessage)
                    return parsed
            time.sleep(0.1)
        pytest.fail(f"no mail to {address}")

    def lists_of(self, address: str) -> dict[str, str]:
        shown = CliRunner(env={"SYNDICATE_SECRET": SECRET}).invoke(
            main, ["--site", str(self.site.root), "subscribers", "show", address, "--json"]
        )
        assert shown.exit_code == 0, shown.output
        lists: dict[str, str] = json.loads(shown.stdout)["lists"]
        return lists

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def running(site: Site, tmp_path: Path) -> Iterator[Running]:
    with serve_smtp() as smtp:
        service = Running(site, smtp, tmp_path / "run.log")
        try:
            yield service
        finally:
            service.stop()
        assert service.proc.returncode == 0, (tmp_path / "run.log").read_text()


def test_a_link_scanner_on_a_real_run_confirms_nothing_and_utf8_addresses_get_mail(
    running: Running,
) -> None:
    address = "üser@example.com"
    with httpx.Client(base_url=running.url, timeout=10) as http:
        form = {"email": address, "name": "Ünal", "list": ["weekly"]}
        answer = http.post("/subscribe", data=form)
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        mail = running.mail_to(address)  # through the outbox, over SMTPUTF8
        [received] = [m for m in running.smtp.messages if address in m.recipients]
        assert received.sender == FROM
        assert mail["To"] == address
        text = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        [link] = re.findall(re.escape(running.url) + r"/confirm/[A-Za-z0-9_.-]+", text)
        # A scanner fetches every link: HEAD, GET, and GET with a browser's headers.
        assert http.head(link).status_code == 200
        assert http.get(link).status_code == 200
        page = http.get(link, headers={"accept": "text/html", "user-agent": "Mozilla/5.0"})
        assert "Confirm my subscription</button>" in page.text
        assert running.lists_of(address) == {"weekly": "pending"}
        # A person presses the button: the page's own POST, with its Origin.
        done = http.post(link, headers={"origin": running.url})
        assert done.status_code == 200 and "You’re subscribed" in done.text
    assert running.lists_of(address) == {"weekly": "active"}

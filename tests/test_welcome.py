"""Welcome mails: queued with the confirmation, built and sent once through the outbox to a
real aiosmtpd server, never to someone who left in between; on each configured store."""

from __future__ import annotations

import asyncio
import email
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.delivery.outbox import OutboxSender
from syndicate.delivery.welcome import Welcomes, combined
from syndicate.digest.welcome import WelcomeError, parse_welcome
from syndicate.models import Status
from syndicate.store import digests as digest_repo
from syndicate.store import outbox as outbox_repo
from syndicate.store import subscribers as subs
from syndicate.store import welcomes as repo
from syndicate.store.tables import outbox, welcomes
from syndicate.store.welcomes import WelcomeStatus
from syndicate.subscribers.signup import Signups
from syndicate.subscribers.tokens import Purpose, Signer
from syndicate.web.render import web_env
from tests.conftest import NOW, Site
from tests.smtpserver import Message, SmtpServer, serve_smtp
from tests.test_outbox import transport
from tests.test_send_dkim import _key
from tests.test_web import FROM, ONE_CLICK, SECRET, Clock, Web, add, confirm, confirm_paths
from tests.test_web import make_app as web_app

CONFIG = f"""
[email]
from_name = "Test Letter"
from_address = "{FROM}"

[bounces]
address = "bounces@news.example.org"

[lists.weekly]
title = "Weekly"
description = "The week's articles"
welcome = "welcome.md"

[lists.daily]
title = "Daily"
"""
WELCOME = """\
---
subject: Welcome to the Weekly
latest_issue: true
---

Thanks for joining. Read [how we work](/about/).
"""
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def wsite(any_site: Site) -> Site:
    any_site.configure(CONFIG)
    (any_site.root / "welcome.md").write_text(WELCOME, encoding="utf-8")
    return any_site


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


@pytest.fixture
def web(wsite: Site, clock: Clock) -> Iterator[Web]:
    client = Web(web_app(wsite, clock))
    yield client
    client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def welcomes_of(site: Site) -> Welcomes:
    return Welcomes(site.settings, site.engine, signer=Signer(SECRET))


def deliver(site: Site, server: SmtpServer, clock: Clock) -> int:
    """One outbox round as ``syndicate run`` makes it: subscribe requests, welcomes, sends."""

    async def go() -> int:
        smtp = transport(server.port)
        try:
            signups = Signups(
                site.settings, site.engine, signer=Signer(SECRET), env=web_env(site.root)
            )
            prepare = combined(signups, welcomes_of(site))
            sender = OutboxSender(site.engine, smtp, clock=clock, prepare=prepare)
            return await sender.run_due()
        finally:
            await smtp.close()

    return asyncio.run(go())


def parsed(message: Message) -> EmailMessage:
    found = email.message_from_bytes(message.data, policy=policy.default)
    assert isinstance(found, EmailMessage)
    return found


def welcome_mails(server: SmtpServer, to: str = "ann@example.org") -> list[Message]:
    return [
        m
        for m in server.messages
        if to in m.recipients and parsed(m)["Subject"] == "Welcome to the Weekly"
    ]


def text_of(message: Message) -> str:
    body = parsed(message).get_body(("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())


def html_of(message: Message) -> str:
    body = parsed(message).get_body(("html",))
    assert body is not None
    return str(body.get_content())


def subscribe_and_confirm(
    site: Site, web: Web, server: SmtpServer, clock: Clock, lists: tuple[str, ...] = ("weekly",)
) -> int:
    """The form, the confirmation mail, the confirm button; the subscriber's id."""
    form = {"email": "ann@example.org", "list": list(lists)}
    assert web.post("/subscribe", data=form).status_code == 200
    assert deliver(site, server, clock) == 1
    (path,) = confirm_paths(server.messages[-1].data)
    clock.advance(timedelta(minutes=5))
    assert confirm(web, path).status_code == 200
    with site.engine.connect() as conn:
        found = conn.execute(select(welcomes.c.subscriber_id)).scalars().all()
    return found[0] if found else 0


def test_confirming_sends_one_personal_welcome_once(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock
) -> None:
    sid = subscribe_and_confirm(wsite, web, server, clock, lists=("weekly", "daily"))
    assert sid, "confirming queued no welcome"
    with wsite.engine.connect() as conn:  # queued in the confirmation's transaction
        assert repo.status_of(conn, sid, "weekly") is WelcomeStatus.WAITING
        assert repo.status_of(conn, sid, "daily") is None  # the daily sends none
    assert deliver(wsite, server, clock) == 1
    (mail,) = welcome_mails(server)
    head = parsed(mail)
    assert head["To"] == "ann@example.org"
    assert head["Message-ID"] == f"<weekly-welcome.{sid}@news.example.org>"
    assert head["List-Id"] == "Weekly <weekly.news.example.org>"
    assert head["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.sender.startswith("bounces+c-") and mail.sender.endswith("@news.example.org")
    url = str(head["List-Unsubscribe"]).strip("<>")
    token = url.rsplit("/", 1)[1]
    claims = Signer(SECRET).verify(token, Purpose.UNSUBSCRIBE, now=clock())
    assert (claims.subscriber_id, claims.list_name) == (sid, "weekly")
    assert url in text_of(mail) and "how we work (https://news.example.org/about/)" in text_of(mail)
    # No issue was sent yet: the welcome shows none.
    assert "latest issue" not in text_of(mail).lower()

    shown = CliRunner().invoke(
        main, ["--site", str(wsite.root), "subscribers", "show", "ann@example.org", "--json"]
    )
    assert [(w["list"], w["status"]) for w in json.loads(shown.stdout)["welcomes"]] == [
        ("weekly", "sent")
    ]
    # Again and again: nothing more, and confirming a second time queues nothing.
    assert deliver(wsite, server, clock) == 0
    assert confirm(web, confirm_paths(server.messages[0].data)[0]).status_code == 200
    clock.advance(timedelta(hours=1))
    assert deliver(wsite, server, clock) == 0
    assert len(welcome_mails(server)) == 1
    # The one-click link of the welcome unsubscribes this reader from the weekly.
    path = url.removeprefix("https://news.example.org")
    response = web.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    assert response.status_code == 200
    with wsite.engine.connect() as conn:
        assert subs.subscriptions_of(conn, sid) == {
            "weekly": Status.UNSUBSCRIBED,
            "daily": Status.ACTIVE,
        }


def test_who_left_after_the_welcome_was_queued_never_gets_it(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock
) -> None:
    sid = subscribe_and_confirm(wsite, web, server, clock)
    assert welcomes_of(wsite)(clock()) == 1  # built and in the outbox, not sent yet
    token = Signer(SECRET).make(Purpose.UNSUBSCRIBE, sid, "weekly", now=clock())
    response = web.post(
        f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
    )
    assert response.status_code == 200
    assert deliver(wsite, server, clock) == 1  # attempted: dropped at send time
    assert welcome_mails(server) == []
    with wsite.engine.connect() as conn:
        statuses = [r.status for r in conn.execute(select(outbox).order_by(outbox.c.id))]
    assert statuses == ["sent", "dropped"]
    shown = CliRunner().invoke(
        main, ["--site", str(wsite.root), "subscribers", "show", "ann@example.org"]
    )
    assert "welcome mail: weekly: dropped" in shown.stdout
    assert "(not sent: the subscription it was for is no longer active)" in shown.stdout


def test_who_left_before_the_welcome_was_built_never_gets_it(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock
) -> None:
    sid = subscribe_and_confirm(wsite, web, server, clock)
    token = Signer(SECRET).make(Purpose.UNSUBSCRIBE, sid, "weekly", now=clock())
    web.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    deliver(wsite, server, clock)
    assert welcome_mails(server) == []
    with wsite.engine.connect() as conn:
        assert repo.status_of(conn, sid, "weekly") is WelcomeStatus.SKIPPED
        assert len(conn.execute(select(outbox)).all()) == 1  # the confirmation only


def test_a_list_without_welcome_sends_none(
    any_site: Site, server: SmtpServer, clock: Clock
) -> None:
    any_site.configure(CONFIG.replace('welcome = "welcome.md"\n', ""))
    client = Web(web_app(any_site, clock))
    try:
        subscribe_and_confirm(any_site, client, server, clock, lists=("weekly", "daily"))
    finally:
        client.close()
    assert deliver(any_site, server, clock) == 0
    assert len(server.messages) == 1  # the confirmation
    with any_site.engine.connect() as conn:
        assert conn.execute(select(welcomes)).all() == []


def test_a_reader_joining_the_list_on_the_preferences_page_is_welcomed(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock
) -> None:
    sid = add(wsite, "ann@example.org", {"daily": Status.ACTIVE})
    path = f"/preferences/{Signer(SECRET).make(Purpose.PREFERENCES, sid, 'daily', now=clock())}"
    assert web.post(path, data={"list": ["daily", "weekly"]}).status_code == 200
    assert deliver(wsite, server, clock) == 1
    assert len(welcome_mails(server)) == 1
    # Leaving, then coming back (their consent again: a confirmation mail): no second welcome.
    web.post(path, data={"list": ["daily"]})
    clock.advance(timedelta(minutes=20))
    web.post(path, data={"list": ["daily", "weekly"]})
    deliver(wsite, server, clock)
    (link,) = confirm_paths(server.messages[-1].data)
    clock.advance(timedelta(minutes=1))
    assert confirm(web, link).status_code == 200
    with wsite.engine.connect() as conn:
        assert subs.subscriptions_of(conn, sid)["weekly"] is Status.ACTIVE
    deliver(wsite, server, clock)
    assert len(welcome_mails(server)) == 1


def test_two_builders_queue_one_welcome(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock
) -> None:
    subscribe_and_confirm(wsite, web, server, clock)
    first, second = welcomes_of(wsite), welcomes_of(wsite)
    with wsite.engine.connect() as conn:
        items = repo.waiting(conn, 10)  # what the first one read, before the other went
    assert second(clock()) == 1
    assert first._list("weekly", items, clock()) == (0, 0)
    with wsite.engine.connect() as conn:
        assert len(conn.execute(select(outbox)).all()) == 2  # confirmation, one welcome


def test_a_broken_welcome_waits_and_goes_out_once_fixed(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    sid = subscribe_and_confirm(wsite, web, server, clock)
    (wsite.root / "welcome.md").write_text("---\nsubject: [broken\n---\n\nHi\n", encoding="utf-8")
    builder = welcomes_of(wsite)
    assert builder(clock()) == 0 and builder(clock()) == 0
    said = [r.getMessage() for r in caplog.records if "welcome of weekly" in r.getMessage()]
    assert len(said) == 1 and "welcome.md:2: front matter is not valid YAML" in said[0]
    with wsite.engine.connect() as conn:
        assert repo.status_of(conn, sid, "weekly") is WelcomeStatus.WAITING
    (wsite.root / "welcome.md").write_text(WELCOME, encoding="utf-8")
    deliver(wsite, server, clock)
    assert len(welcome_mails(server)) == 1


def test_the_latest_issue_follows_the_welcome(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock
) -> None:
    wsite.write(
        "corridor.md", "---\ntitle: The Middle Corridor\ndate: 2026-11-20\n---\n\nFreight grew.\n"
    )
    wsite.write("old.md", "---\ntitle: An Older Piece\ndate: 2026-11-01\n---\n\nEarlier.\n")
    report = read_site(wsite.settings, wsite.engine, now=NOW)
    corridor = next(a for a in report.articles if a.title == "The Middle Corridor")
    with wsite.engine.begin() as conn:
        digest_repo.record_digest(
            conn,
            digest_id="weekly-7",
            list_name="weekly",
            issue=7,
            created=NOW,
            article_ids=[corridor.id],
        )
    subscribe_and_confirm(wsite, web, server, clock)
    deliver(wsite, server, clock)
    (mail,) = welcome_mails(server)
    text = text_of(mail)
    assert "THE LATEST ISSUE: ISSUE 7" in text and "The Middle Corridor" in text
    assert "An Older Piece" not in text
    assert "https://news.example.org/archive/weekly/7.html" in html_of(mail)


def test_a_hostile_welcome_is_sanitized(
    wsite: Site, web: Web, server: SmtpServer, clock: Clock
) -> None:
    # (A subject with CR/LF is refused by `check`: test_bad_welcome_files_are_named_…)
    hostile = (
        '---\nsubject: "Hi <b>Bcc: victim@example.net"\n---\n\n'
        "Hello <script>alert(1)</script><style>body{display:none}</style>"
        '<img src="x" onerror="alert(2)"> <a href="javascript:alert(3)">click</a> '
        '<iframe src="https://evil.example"></iframe>\n'
    )
    (wsite.root / "welcome.md").write_text(hostile, encoding="utf-8")
    subscribe_and_confirm(wsite, web, server, clock)
    deliver(wsite, server, clock)
    (mail,) = [
        m for m in server.messages if parsed(m)["Subject"] == "Hi <b>Bcc: victim@example.net"
    ]
    assert mail.recipients == ["ann@example.org"]
    assert b"\r\nBcc:" not in mail.data.split(b"\r\n\r\n", 1)[0]
    html = html_of(mail).lower()
    for bad in ("<script", "alert(", "onerror", "javascript:", "<iframe", "body{display"):
        assert bad not in html, bad
    assert "click" in html


def test_cli_add_welcomes_unless_told_not_to_and_import_only_when_asked(
    wsite: Site, server: SmtpServer, clock: Clock, tmp_path: Path
) -> None:
    runner = CliRunner()
    site = ["--site", str(wsite.root)]
    added = runner.invoke(main, [*site, "subscribers", "add", "weekly", "ann@example.org"])
    assert added.exit_code == 0, added.output
    assert "welcome mail to ann@example.org queued" in added.output
    quiet = ["subscribers", "add", "weekly", "bob@example.org", "--no-welcome"]
    assert "welcome" not in runner.invoke(main, [*site, *quiet]).output
    pending = runner.invoke(
        main, [*site, "subscribers", "add", "weekly", "cy@example.org", "--pending"]
    )
    assert "welcome" not in pending.output
    confirmed = runner.invoke(main, [*site, "subscribers", "add", "weekly", "cy@example.org"])
    assert "pending → active" in confirmed.output and "welcome mail" in confirmed.output
    csv = tmp_path / "in.csv"
    csv.write_text("email,name\ndee@example.org,Dee\neve@example.org,Eve\n", encoding="utf-8")
    plain = runner.invoke(main, [*site, "subscribers", "import", "weekly", str(csv)])
    assert plain.exit_code == 0 and "welcome" not in plain.output
    csv.write_text("email,name\nfay@example.org,Fay\ndee@example.org,Dee\n", encoding="utf-8")
    asked = runner.invoke(main, [*site, "subscribers", "import", "weekly", str(csv), "--welcome"])
    assert asked.exit_code == 0, asked.output
    assert "1 welcome mail queued" in asked.output  # Dee was active already
    refused = runner.invoke(main, [*site, "subscribers", "import", "daily", str(csv), "--welcome"])
    assert refused.exit_code == 2 and "daily sends no welcome mail" in refused.output
    deliver(wsite, server, clock)
    got = sorted(r for m in server.messages for r in m.recipients)
    assert got == ["ann@example.org", "cy@example.org", "fay@example.org"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello\n", "welcome.md:1: no subject: add `subject: Welcome to …`"),
        (
            "---\nsubject: Hi\ntitle: x\n---\n\nHello\n",
            "welcome.md:3: unknown front matter field `title`",
        ),
        ("---\nsubject: [oops\n---\n\nHello\n", "welcome.md:2: front matter is not valid YAML"),
        (
            "---\nsubject: Hi\nlatest_issue: maybe\n---\n\nHi\n",
            "welcome.md:3: front matter field `latest_issue` must be true or false",
        ),
        (
            "---\nsubject:\n---\n\nHi\n",
            "welcome.md:2: front matter field `subject` must be a line of text",
        ),
        (
            "---\nsubject: Hi\n\nHi\n",
            "welcome.md:1: front matter opened with `---` is never closed",
        ),
        ("---\nsubject: Hi\n---\n\n", "welcome.md:4: has no text"),
        ("---\nsubject: Hi\n---\nA\x00B\n", "welcome.md:4: holds NUL"),
        *(
            (
                f'---\nsubject: "Hi{escape}Bcc: x@evil.example"\n---\n\nHi\n',
                "welcome.md:2: front matter field `subject` must be a single line",
            )
            for escape in ("\\r\\n", "\\n", "\\u2028", "\\x85", "\\0", "\\t")
        ),
    ],
)
def test_bad_welcome_files_are_named_with_their_line(text: str, expected: str) -> None:
    with pytest.raises(WelcomeError) as caught:
        parse_welcome(text, where="welcome.md", base_url="https://news.example.org")
    assert str(caught.value).startswith(expected), str(caught.value)


def test_check_reports_a_missing_or_bad_welcome(wsite: Site) -> None:
    runner = CliRunner()
    (wsite.root / "welcome.md").unlink()
    missing = runner.invoke(main, ["--site", str(wsite.root), "check", "--offline"])
    assert missing.exit_code == 1
    assert "welcome.md: cannot be read (No such file or directory); set lists.weekly.welcome" in (
        missing.output
    )
    (wsite.root / "welcome.md").write_bytes(b"---\nsubject: Hi\n---\n\n\xff\n")
    bad = runner.invoke(main, ["--site", str(wsite.root), "check", "--offline"])
    assert "welcome.md:5: not UTF-8 text (byte 0xff)" in bad.output
    templates = wsite.root / "templates"
    templates.mkdir()
    (templates / "welcome.txt.j2").write_text("{{ welcome.text }}\n", encoding="utf-8")
    (wsite.root / "welcome.md").write_text(WELCOME, encoding="utf-8")
    no_link = runner.invoke(main, ["--site", str(wsite.root), "check", "--offline"])
    assert "templates/welcome.txt.j2 (the text part): no unsubscribe link" in no_link.output


def test_preview_and_test_copy_of_the_welcome(wsite: Site, server: SmtpServer) -> None:
    config = CONFIG + f'\n[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
    wsite.configure(config)
    runner = CliRunner()
    site = ["--site", str(wsite.root)]
    shown = runner.invoke(main, [*site, "welcome", "weekly", "--format", "text"])
    assert shown.exit_code == 0, shown.output
    assert "Thanks for joining." in shown.stdout and "/test-copy/unsubscribe" in shown.stdout
    sent = runner.invoke(main, [*site, "welcome", "weekly", "--to", "editor@example.org"])
    assert sent.exit_code == 0, sent.output
    assert "test copy of the welcome of weekly to editor@example.org: sent" in sent.stdout
    (copy,) = server.messages
    assert parsed(copy)["Subject"] == "Welcome to the Weekly"
    assert "/test-copy/unsubscribe" in str(parsed(copy)["List-Unsubscribe"])
    none = runner.invoke(main, [*site, "welcome", "daily"])
    assert none.exit_code == 1 and "lists.daily.welcome: not set" in none.output
    with wsite.engine.connect() as conn:
        assert conn.execute(select(welcomes)).all() == []  # nothing recorded


def test_the_leases_of_a_dead_sender_are_freed_at_once(any_site: Site, clock: Clock) -> None:
    any_site.configure(CONFIG)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f"{socket.gethostname()}:{dead.pid}"
    if os.path.exists(f"/proc/{dead.pid}"):
        pytest.skip("the PID was reused at once")
    with any_site.engine.begin() as conn:
        outbox_repo.enqueue(conn, sender=FROM, recipient="a@example.org", data=b"x", now=NOW)
        outbox_repo.claim_due(
            conn, now=NOW, lease_until=NOW + timedelta(minutes=10), limit=10, owner=owner
        )
        outbox_repo.enqueue(conn, sender=FROM, recipient="b@example.org", data=b"y", now=NOW)
        outbox_repo.claim_due(
            conn, now=NOW, lease_until=NOW + timedelta(minutes=10), limit=10, owner="elsewhere:1"
        )
    with serve_smtp() as server:

        async def go() -> int:
            smtp = transport(server.port)
            try:
                return await OutboxSender(any_site.engine, smtp, clock=clock).run_due()
            finally:
                await smtp.close()

        assert asyncio.run(go()) == 1  # the dead one's; another host's lease is waited for
        assert [m.recipients for m in server.messages] == [["a@example.org"]]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_the_welcome_is_dkim_signed_when_the_site_signs(
    site: Site, server: SmtpServer, clock: Clock
) -> None:
    txt = _key(site.root)
    dkim_lines = (
        'dkim_domain = "news.example.org"\ndkim_selector = "s2026"\ndkim_key_file = "dkim.pem"\n'
    )
    site.configure(
        CONFIG.replace(
            'from_address = "letters@news.example.org"\n',
            'from_address = "letters@news.example.org"\n' + dkim_lines,
        )
    )
    (site.root / "welcome.md").write_text(WELCOME, encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(
        main, ["--site", str(site.root), "subscribers", "add", "weekly", "ann@example.org"]
    )
    assert added.exit_code == 0, added.output
    deliver(site, server, clock)
    (mail,) = welcome_mails(server)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return txt if name == b"s2026._domainkey.news.example.org." else None

    assert mail.data.startswith(b"DKIM-Signature:")
    assert dkim.verify(mail.data, dnsfunc=dnsfunc)


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink-out", "fifo", "folder"])
def test_the_welcome_file_must_be_a_regular_file_inside_the_site(
    site: Site, tmp_path_factory: pytest.TempPathFactory, case: str
) -> None:
    """`lists.NAME.welcome` names a file of the site: never /etc/passwd, another site's file
    through `..` or a symlink, and a FIFO is refused rather than waited on (the check runs
    in a child process with a timeout: a hang fails the test instead of stalling it)."""
    outside = tmp_path_factory.mktemp("elsewhere") / "welcome.md"
    outside.write_text(WELCOME, encoding="utf-8")
    depth = len(site.root.resolve().parts) - 1
    configured = {
        "dotdot": "../" * depth + "etc/passwd",
        "absolute": "/etc/passwd",
        "symlink-out": "linked.md",
        "fifo": "fifo.md",
        "folder": "folder.md",
    }[case]
    if case == "symlink-out":
        (site.root / "linked.md").symlink_to(outside)
    elif case == "fifo":
        os.mkfifo(site.root / "fifo.md")
    elif case == "folder":
        (site.root / "folder.md").mkdir()
    site.configure(CONFIG.replace('welcome = "welcome.md"', f'welcome = "{configured}"'))
    code = "from syndicate.cli import main; main()"
    args = [sys.executable, "-c", code, "--site", str(site.root), "check", "--offline"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    shown = done.stdout + done.stderr
    assert done.returncode == 1, shown
    expected = {
        "dotdot": "is outside the site folder",
        "absolute": "is outside the site folder",
        "symlink-out": "is outside the site folder",
        "fifo": "is not a regular file",
        "folder": "is a folder",
    }[case]
    assert f"{configured}: {expected}" in shown, shown
    assert "lists.weekly.welcome" in shown
    assert "root:" not in shown  # nothing of /etc/passwd is read out


def test_status_shows_welcomes_stuck_behind_a_broken_file_and_add_warns(wsite: Site) -> None:
    runner = CliRunner()
    root = ["--site", str(wsite.root)]
    (wsite.root / "welcome.md").write_text("---\nsubject: [bad\n---\n\nHi\n", encoding="utf-8")
    added = runner.invoke(main, [*root, "subscribers", "add", "weekly", "gina@example.org"])
    assert added.exit_code == 0, added.output
    assert "welcome mail to gina@example.org queued" in added.stdout
    assert "warning: the welcome of weekly cannot be rendered: welcome.md:2: " in added.stderr
    shown = runner.invoke(main, [*root, "status"])
    assert shown.exit_code == 0, shown.output
    assert "welcome: 1 welcome mail of weekly waits: welcome.md:2: front matter" in shown.stdout
    doc = json.loads(runner.invoke(main, [*root, "status", "--json"]).stdout)
    (stuck,) = doc["welcomes_waiting"]
    assert stuck["list"] == "weekly" and stuck["waiting"] == 1
    assert stuck["error"].startswith("welcome.md:2: ")

    (wsite.root / "welcome.md").write_text(WELCOME, encoding="utf-8")  # fixed: nothing said
    assert "welcome:" not in runner.invoke(main, [*root, "status"]).stdout
    fine = runner.invoke(main, [*root, "subscribers", "add", "weekly", "hal@example.org"])
    assert fine.exit_code == 0 and "warning" not in fine.stderr

"""Sending end to end, without mocks: the CLI into the site's Maildir, and the engine against a
real aiosmtpd server with injected faults (retries, failures, bounces, resumption, locks)."""

from __future__ import annotations

import asyncio
import email
import io
import json
import os
import socket
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import getaddresses

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.delivery.engine import LOCK_STALE, Policy, Sender, SendLocked, SendReport
from syndicate.delivery.maildir import MaildirTransport
from syndicate.delivery.smtp import SmtpSettings, SmtpTransport
from syndicate.delivery.transport import Transport
from syndicate.models import Source, Status
from syndicate.store import locks
from syndicate.store import subscribers as repo
from syndicate.store.tables import deliveries, subscribers, subscriptions
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp

SECRET = "test-secret-0123456789abcdef"
FROM = "letters@news.example.org"
CONFIG = f"""
[email]
from_name = "Test Letter"
from_address = "{FROM}"

[lists.weekly]
title = "Weekly"
"""
Clock = Callable[[], datetime]


def wall() -> datetime:
    return datetime.now(UTC)


def article(site: Site, name: str, published: datetime, tags: str = "[trade]") -> None:
    """A Markdown article dated ``published``."""
    stamp = published.strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write(f"{name}.md", f"---\ntitle: {name}\ndate: {stamp}\ntags: {tags}\n---\n\nText.\n")


def load(site: Site, csv: str) -> None:
    """Import subscribers into weekly; every row must be accepted."""
    rows = read_rows(io.BytesIO(csv.encode("utf-8")), "in.csv")
    report = import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=30))
    assert not report.problems, report.problems


def addresses(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}@example.org" for i in range(n)]


def csv_of(emails: list[str]) -> str:
    return "email,name\n" + "".join(f"{e},{e.split('@')[0].title()}\n" for e in emails)


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def maildir_messages(site: Site) -> list[Message]:
    new = site.root / "maildir" / "new"
    if not new.is_dir():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(new.iterdir())]


@dataclass(frozen=True)
class Row:
    status: str
    attempts: int
    last_code: int | None


def ledger_rows(site: Site, send_id: int) -> dict[str, Row]:
    """One send's ledger, by address."""
    d = deliveries.c
    stmt = (
        select(subscribers.c.email, d.status, d.attempts, d.last_code)
        .join(subscribers, subscribers.c.id == d.subscriber_id)
        .where(d.send_id == send_id)
    )
    with site.engine.connect() as conn:
        return {e: Row(s, a, c) for e, s, a, c in conn.execute(stmt)}


def ledger_size(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(deliveries)) or 0)


def subscription(site: Site, address: str) -> Status:
    stmt = (
        select(subscriptions.c.status)
        .join(subscribers, subscribers.c.id == subscriptions.c.subscriber_id)
        .where(subscribers.c.email == address, subscriptions.c.list_name == "weekly")
    )
    with site.engine.connect() as conn:
        return Status(str(conn.scalar(stmt)))


def received(server: SmtpServer) -> Counter[str]:
    """How many copies each recipient got."""
    return Counter(r for m in server.messages for r in m.recipients)


def clear_faults(server: SmtpServer) -> None:
    with server.handler._lock:
        server.handler._faults.clear()


def smtp(server: SmtpServer, connections: int = 4) -> SmtpTransport:
    return SmtpTransport(
        SmtpSettings(
            host="127.0.0.1",
            port=server.port,
            security="none",
            username=None,
            password=None,
            timeout=5.0,
            connections=connections,
        )
    )


def fast(wait: float = 5.0, **overrides: object) -> Policy:
    values: dict[str, object] = {
        "retry_base": timedelta(milliseconds=50),
        "wait_for_retries": timedelta(seconds=wait),
        "connections": 4,
    }
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


def later(**delta: float) -> Clock:
    """The wall clock moved ahead: deferred copies are due again."""
    return lambda: wall() + timedelta(**delta)


def run_send(
    site: Site,
    make: Callable[[], Transport],
    policy: Policy,
    clock: Clock = wall,
) -> SendReport:
    """One ``Sender.run`` of weekly with the site's current articles, as the CLI would."""
    settings = site.settings
    articles = read_site(settings, site.engine, now=clock(), offline=True).articles

    async def go() -> SendReport:
        transport = make()
        sender = Sender(
            settings,
            site.engine,
            transport,
            Signer(SECRET),
            clock=clock,
            policy=policy,
        )
        try:
            return await sender.run("weekly", articles)
        finally:
            await transport.close()

    return asyncio.run(go())


@pytest.fixture
def letter(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    """A site with the weekly list, one article from yesterday, and no subscribers yet."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG)
    article(site, "first", wall() - timedelta(days=1))
    return site


@pytest.fixture(params=[False, True], ids=["one-command-at-a-time", "pipelining"])
def server(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """The test server, with and without PIPELINING (RFC 2920): the ledger must not care."""
    with serve_smtp(pipelining=request.param) as running:
        yield running


# --- the CLI, into the site's Maildir ---------------------------------------------------------

MAILDIR_CSV = (
    "email,name,topics,status\n"
    "ada@example.org,Ada Lovelace,,\n"
    "grace@example.org,Grace Hopper,trade,\n"
    "alan@example.org,Alan,,\n"
    "left@example.org,Left Early,,unsubscribed\n"
    "later@example.org,Not Yet,,pending\n"
)
ACTIVE = {"ada@example.org", "grace@example.org", "alan@example.org"}


def test_maildir_send_then_nothing_new_then_status(letter: Site) -> None:
    load(letter, MAILDIR_CSV)
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline", "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["finished"] and report["counts"] == {"sent": 3}

    messages = maildir_messages(letter)
    assert len(messages) == len(ACTIVE)
    to = [getaddresses([m["To"]]) for m in messages]
    assert all(len(t) == 1 for t in to)
    assert {t[0][1] for t in to} == ACTIVE  # one each, nobody suppressed or pending
    for m in messages:
        assert m["Delivered-To"] == getaddresses([m["To"]])[0][1]
        assert m["List-Unsubscribe"] and "<" in m["List-Unsubscribe"]
        assert m["From"].endswith(f"<{FROM}>")

    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stderr
    assert "nothing new" in stdout
    assert len(maildir_messages(letter)) == len(ACTIVE)
    assert ledger_size(letter) == len(ACTIVE)

    code, stdout, stderr = cli(letter, "status", "--json")
    assert code == 0, stderr
    [send] = json.loads(stdout)["sends"]
    assert send["list"] == "weekly" and send["status"] == "done"
    assert send["digest"] == "weekly-1" and send["last_error"] is None
    assert send["counts"] == {"sent": 3} and send["next_retry"] is None


def test_dry_run_sends_and_records_nothing(letter: Site) -> None:
    load(letter, MAILDIR_CSV)
    code, stdout, stderr = cli(letter, "send", "weekly", "--dry-run", "--json", "--offline")
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert sorted(e for v in doc["versions"] for e in v["emails"]) == sorted(ACTIVE)
    assert maildir_messages(letter) == []
    assert ledger_size(letter) == 0
    code, stdout, _ = cli(letter, "status", "--json")
    assert code == 0 and json.loads(stdout)["sends"] == []


def test_test_copy_goes_to_one_address_and_records_nothing(letter: Site) -> None:
    load(letter, MAILDIR_CSV)
    code, stdout, stderr = cli(letter, "send", "weekly", "--to", "me@example.net", "--offline")
    assert code == 0, stderr + stdout
    [copy] = maildir_messages(letter)
    assert getaddresses([copy["To"]])[0][1] == "me@example.net"
    assert copy["Delivered-To"] == "me@example.net"
    assert ledger_size(letter) == 0
    # the real send afterwards still goes to everyone: the test copy consumed nothing
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["counts"] == {"sent": 3}
    assert len(maildir_messages(letter)) == 1 + len(ACTIVE)


# --- the engine against a real SMTP server ------------------------------------------------------


def test_faults_retries_failures_and_resume(letter: Site, server: SmtpServer) -> None:
    failing, busy, dropped, fine = (
        addresses("fail", 5),
        addresses("busy", 5),
        addresses("drop", 5),
        addresses("ok", 15),
    )
    load(letter, csv_of(failing + busy + dropped + fine))
    server.set_fault("fail*@example.org", "rcpt-5xx")
    server.set_fault("busy*@example.org", "rcpt-4xx")
    server.set_fault("drop*@example.org", "drop-data")

    first = run_send(letter, lambda: smtp(server), fast(wait=3.0))
    assert not first.finished and first.send_id is not None
    rows = ledger_rows(letter, first.send_id)
    assert len(rows) == 30
    got = received(server)
    assert all(got[a] == 1 for a in fine)  # others' failures never stopped them
    assert all(rows[a].status == "sent" and rows[a].attempts == 1 for a in fine)
    for a in failing:
        assert (rows[a].status, rows[a].last_code, rows[a].attempts) == ("failed", 550, 1)
        assert got[a] == 0
    for a in busy:
        assert rows[a].status == "deferred" and rows[a].last_code == 451
        assert rows[a].attempts > 1  # retried with backoff within wait_for_retries
    for a in dropped:
        assert rows[a].status == "deferred" and rows[a].attempts > 1
        assert got[a] == 0
    assert (server.pipelined > 0) is server.pipelining  # envelopes in one write, if offered

    clear_faults(server)
    # The next send (nothing new to send) retries the first one's deferred copies, once due.
    second = run_send(letter, lambda: smtp(server), fast(), later(minutes=5))
    assert second.nothing_new and not second.resumed
    assert second.retried == {"weekly-1": {"sent": 25, "failed": 5}}
    rows = ledger_rows(letter, first.send_id)
    got = received(server)
    for a in busy + dropped + fine:
        assert rows[a].status == "sent" and got[a] == 1, a
    for a in failing:  # a permanent failure is not retried by the resumed send
        assert rows[a].status == "failed" and rows[a].attempts == 1 and got[a] == 0


def test_two_permanent_failures_in_a_row_bounce(letter: Site, server: SmtpServer) -> None:
    # Each send gets its own clock a day apart, so the next article is new for the next issue.
    start = wall() - timedelta(days=6)
    article(letter, "first", start - timedelta(hours=12))
    load(letter, csv_of(["bad@example.org", "good@example.org"]))
    server.set_fault("bad@example.org", "rcpt-5xx")

    def at(day: int) -> Clock:
        return lambda: wall() - timedelta(days=6 - day)

    one = run_send(letter, lambda: smtp(server), fast(bounce_after=2), at(0))
    assert one.finished and one.counts == {"sent": 1, "failed": 1}
    assert subscription(letter, "bad@example.org") is Status.ACTIVE  # one failure is not enough

    article(letter, "second", start + timedelta(days=1, hours=12))
    two = run_send(letter, lambda: smtp(server), fast(bounce_after=2), at(2))
    assert two.finished and two.send_id != one.send_id
    assert ledger_rows(letter, two.send_id or 0)["bad@example.org"].last_code == 550
    assert subscription(letter, "bad@example.org") is Status.BOUNCED

    article(letter, "third", start + timedelta(days=3, hours=12))
    three = run_send(letter, lambda: smtp(server), fast(bounce_after=2), at(4))
    assert three.finished
    assert set(ledger_rows(letter, three.send_id or 0)) == {"good@example.org"}
    assert received(server) == Counter({"good@example.org": 3})


def test_unsubscribed_during_a_send_is_skipped(letter: Site, server: SmtpServer) -> None:
    readers = addresses("reader", 6)
    load(letter, csv_of(readers))
    server.set_fault("*", "rcpt-4xx")
    first = run_send(letter, lambda: smtp(server), fast(wait=0))
    assert not first.finished and first.counts == {"deferred": 6}

    code, _, stderr = cli(letter, "subscribers", "remove", "weekly", "reader3@example.org")
    assert code == 0, stderr
    clear_faults(server)
    second = run_send(letter, lambda: smtp(server), fast(), later(minutes=5))
    assert second.retried == {"weekly-1": {"sent": 5, "skipped": 1}}
    rows = ledger_rows(letter, first.send_id or 0)
    assert rows["reader3@example.org"].status == "skipped"
    assert received(server) == Counter({a: 1 for a in readers if a != "reader3@example.org"})


def test_a_live_senders_lock_is_respected_and_a_dead_ones_taken_over(letter: Site) -> None:
    load(letter, csv_of(["ada@example.org"]))
    box = letter.root / "maildir"

    def hold(owner: str) -> None:
        """Make ``owner`` the lock's holder, with a fresh heartbeat."""
        with letter.engine.begin() as conn:
            taken = locks.acquire_lock(
                conn, "weekly", owner, now=wall(), stale_after=LOCK_STALE, alive=False
            )
        assert taken is None

    live = f"{socket.gethostname()}:{os.getppid()}"  # our parent: certainly running
    hold(live)
    with pytest.raises(SendLocked, match="being sent by"):
        run_send(letter, lambda: MaildirTransport(box), fast())
    assert maildir_messages(letter) == [] and ledger_size(letter) == 0
    with letter.engine.connect() as conn:
        assert locks.lock_owner(conn, "weekly") == live  # a refused run leaves the lock alone

    gone = subprocess.Popen(["true"])
    gone.wait()  # reaped: its pid names no process now
    dead = f"{socket.gethostname()}:{gone.pid}"
    hold(dead)
    report = run_send(letter, lambda: MaildirTransport(box), fast())
    assert report.finished and len(maildir_messages(letter)) == 1
    with letter.engine.connect() as conn:
        assert locks.lock_owner(conn, "weekly") is None  # released after the send


def test_headers_cannot_be_injected(letter: Site, server: SmtpServer) -> None:
    # The importer refuses CR/LF in names and addresses...
    refused = list(
        read_rows(
            io.BytesIO(
                b'email,name\r\neve@example.org,"Eve\r\nBcc: x@y.z"\r\n'
                b'"mal@example.org\r\nBcc: x@y.z",Mal\r\n'
            ),
            "in.csv",
        )
    )
    assert [type(r).__name__ for r in refused] == ["Problem", "Problem"]
    # ...so put such records straight into the store (an older version, a hand edit), together
    # with a name the importer does accept that tries to pass for a second address.
    load(letter, 'email,name\nmallory@example.org,"Mallory, x@y.z"\n')
    now = wall() - timedelta(days=30)
    hostile = [
        ("eve@example.org", "Eve\r\nBcc: x@y.z"),
        ("mal@example.org\r\nBcc: x@y.z", "Mal"),
    ]
    with letter.engine.begin() as conn:
        ids = repo.insert_subscribers(
            conn,
            [
                repo.NewSubscriber(email=e, key=e.casefold(), name=n, attributes=())
                for e, n in hostile
            ],
            now=now,
        )
        repo.apply_changes(
            conn,
            [
                repo.Change(
                    subscriber_id=sid,
                    list_name="weekly",
                    status=Status.ACTIVE,
                    previous=None,
                    source=Source.IMPORT,
                )
                for sid in ids.values()
            ],
            now=now,
        )

    report = run_send(letter, lambda: smtp(server), fast(wait=1.0))
    assert report.finished
    assert set(received(server)) == {"eve@example.org", "mallory@example.org"}
    rows = ledger_rows(letter, report.send_id or 0)
    assert rows["mal@example.org\r\nBcc: x@y.z"].status == "failed"
    for m in server.messages:
        assert m.recipients != ["x@y.z"]
        head = m.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
        # a field starts a line; a continuation line (folding) starts with white space
        names = [line.split(":", 1)[0] for line in head.split("\r\n") if line[:1] not in " \t"]
        assert all(n and " " not in n for n in names), head
        assert len(names) == len(set(names)), head  # no field given twice
        assert "\r" not in head.replace("\r\n", "") and "\n" not in head.replace("\r\n", "")
        parsed = email.message_from_bytes(m.data)
        assert parsed["Bcc"] is None and parsed["Cc"] is None
        assert len(getaddresses(parsed.get_all("To", []))) == 1
        assert getaddresses([parsed["To"]])[0][1] == m.recipients[0]

"""A bounce counts once however it reached us; a tampered token acts on nobody; ``run``
forgets old events as the import does; a long import shows progress on a terminal."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import smtplib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from syndicate.feedback.inbound import start
from syndicate.feedback.parse import identity, parse
from syndicate.models import Status
from syndicate.service.work import Work
from syndicate.store.tables import feedback_events
from syndicate.subscribers.tokens import Signer, site_signer
from syndicate.subscribers.verp import site_verp
from tests import test_feedback_intake
from tests.conftest import Site
from tests.test_feedback_intake import ADDRESS, BOUNCES, TWO_LISTS, cli, dsn, maildir, status
from tests.test_send import CONFIG, SECRET

Sent = tuple[Site, dict[str, str], dict[str, int]]
sent = test_feedback_intake.sent  # the fixture: a site whose weekly went to five readers


def token_of(sender: str) -> str:
    return sender.partition("+")[2].partition("@")[0]


def tampered(token: str) -> str:
    return token[:-1] + ("0" if token[-1] != "0" else "1")


def events(site: Site) -> list[dict[str, object]]:
    with site.engine.connect() as conn:
        rows = conn.execute(select(feedback_events).order_by(feedback_events.c.id)).all()
    return [dict(r._mapping) for r in rows]


def test_a_tampered_token_acts_on_nobody_even_for_a_reader_mailed_yesterday(
    sent: Sent, tmp_path: Path
) -> None:
    site, senders, ids = sent
    verp = site_verp(site.settings, site_signer(site.settings))
    assert verp is not None
    r3, r4 = ids["r3@example.org"], ids["r4@example.org"]
    bad = tampered(token_of(senders["r3@example.org"]))
    no_copy = verp.token(999, r4)  # signed by us, but for a send that never was
    box = maildir(
        tmp_path / "box",
        [
            dsn(f"bounces+{bad}@news.example.org", "r3@example.org", "5.1.1", "unknown"),
            dsn(f"bounces+{no_copy}@news.example.org", "r4@example.org", "5.1.1", "unknown"),
            # a tampered token beside our genuine Message-ID of r4's copy
            dsn(
                f"bounces+{bad}@news.example.org",
                "r4@example.org",
                "5.1.1",
                "no such user",
                f"<weekly-1.{r4}@news.example.org>",
            ),
        ],
    )
    code, output = cli(site, "bounces", "import", str(box), "--json")
    assert code == 0, output
    doc = json.loads(output)
    assert doc["counts"]["untrusted"] == 3 and doc["counts"]["matched"] == 0
    assert status(site, r3) == {"weekly": Status.ACTIVE}
    assert status(site, r4) == {"weekly": Status.ACTIVE}
    effects = sorted(str(e["effect"]) for e in events(site))
    assert effects[0].startswith("not trusted: return-path token invalid; by address")
    assert effects[1].startswith("not trusted: return-path token invalid; our Message-ID")
    assert effects[2].startswith("not trusted: token: no such copy; by address")
    # The same bounce with the genuine token acts.
    good = dsn(senders["r3@example.org"], "r3@example.org", "5.1.1", "unknown")
    (tmp_path / "good.eml").write_bytes(good)
    cli(site, "bounces", "import", str(tmp_path / "good.eml"))
    assert status(site, r3) == {"weekly": Status.BOUNCED}


TRACE = (
    b"Return-Path: <>\r\nX-Original-To: {to}\r\nDelivered-To: {to}\r\n"
    b"Received: by mail.news.example.org (Postfix) id 4XyZ; Tue,  1 Dec 2026 14:00:01 +0000\r\n"
    b"Received: from mx.example.net (mx.example.net [192.0.2.7])\r\n"
    b"\tby mail.news.example.org (Postfix) with ESMTPS id 4XyZ\r\n"
    b"\tfor <{to}>; Tue,  1 Dec 2026 14:00:00 +0000\r\n"
    b"X-Spam-Status: No, score=-0.1\r\n"
)


def test_a_message_is_the_same_bounce_with_other_trace_fields_line_endings_or_mbox_quoting() -> (
    None
):
    data = dsn(ADDRESS, "x@example.net", "5.1.1", "550 5.1.1 unknown")
    delivered = TRACE.replace(b"{to}", ADDRESS.encode()) + data
    as_file = delivered.replace(b"\r\n", b"\n")
    assert identity(data) == identity(delivered) == identity(as_file) == identity(as_file + b"\n")
    quoted = data.replace(b"I'm sorry.", b"From here on, sorry.")
    assert identity(quoted) == identity(quoted.replace(b"From here", b">From here"))
    # Anything the sender wrote counts.
    assert identity(data) != identity(data.replace(b"5.1.1 unknown", b"5.1.1 unknowN"))
    assert identity(data) != identity(
        data.replace(b"Subject: Undelivered", b"Subject: undelivered")
    )
    assert identity(data) != identity(b"Delivered-To: x\r\n" + data.replace(b"\r\n\r\n", b"\r\n"))


def test_one_bounce_counts_once_over_lmtp_to_two_recipients_and_then_from_an_mbox(
    sent: Sent, tmp_path: Path
) -> None:
    site, senders, ids = sent
    site.configure(CONFIG + TWO_LISTS + BOUNCES + 'listen = "lmtp://127.0.0.1:0"\n')
    settings = site.settings
    verp = senders["r0@example.org"]
    data = dsn(verp, "r0@example.org", "4.2.2", "452 4.2.2 mailbox full")

    def client(port: int) -> list[int]:
        with smtplib.LMTP("127.0.0.1", port, timeout=10) as lmtp:
            lmtp.ehlo()
            lmtp.mail("")
            for rcpt in (ADDRESS, ADDRESS.upper()):  # an alias: the same bounce, handed twice
                assert lmtp.rcpt(rcpt)[0] == 250
            return [lmtp.data(data)[0], lmtp.getreply()[0]]

    async def go() -> list[int]:
        server = await start(site.engine, settings, "127.0.0.1", 0, protocol="lmtp")
        try:
            return await asyncio.to_thread(client, server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(go()) == [250, 250]
    assert len(events(site)) == 1
    # The same bounce as the local delivery agent filed it in an mbox: trace fields, LF.
    mbox = tmp_path / "bounces.mbox"
    filed = TRACE.replace(b"{to}", verp.encode()) + data
    mbox.write_bytes(
        b"From MAILER-DAEMON Tue Dec  1 14:00:01 2026\n" + filed.replace(b"\r\n", b"\n")
    )
    code, output = cli(site, "bounces", "import", str(mbox), "--json")
    assert code == 0 and json.loads(output)["counts"]["already"] == 1, output
    [event] = events(site)
    assert event["subscriber_id"] == ids["r0@example.org"] and event["matched_by"] == "token"
    # Two readers' return paths handed one message are two claims, each checked.
    plain = dsn(ADDRESS, "r0@example.org", "4.2.2", "452 4.2.2 mailbox full")
    handed = [
        b"Delivered-To: " + senders[who].encode() + b"\r\n" + plain  # as the listener does
        for who in ("r0@example.org", "r1@example.org")
    ]
    assert identity(handed[0]) == identity(handed[1])
    first, second = (parse(m, bounce_address=ADDRESS).feedback[0] for m in handed)
    assert first.token != second.token and first.event_id != second.event_id


def test_run_forgets_old_unmatched_events_and_deliveries_every_hour(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES + "unmatched_days = 30\nsoft_window_days = 10\n")
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    clock = [start]

    def add(name: str, outcome: str, days_ago: int) -> None:
        with site.engine.begin() as conn:
            conn.execute(
                insert(feedback_events).values(
                    event_id=name,
                    source="dsn",
                    outcome=outcome,
                    diagnostic="",
                    matched_by="",
                    counts=False,
                    note="",
                    received_at=clock[0] - timedelta(days=days_ago),
                    processed_at=clock[0],
                    effect="unmatched",
                )
            )

    def left() -> list[str]:
        return sorted(str(e["event_id"]) for e in events(site))

    add("unmatched-old", "hard", 31)
    add("unmatched-new", "hard", 29)
    add("delivered-old", "delivered", 11)
    add("delivered-new", "delivered", 9)
    work = Work(site.settings, site.engine, Signer(SECRET), clock=lambda: clock[0])
    asyncio.run(work.retries())
    assert left() == ["delivered-new", "unmatched-new"]
    add("unmatched-later", "hard", 40)
    clock[0] = start + timedelta(minutes=30)
    asyncio.run(work.retries())  # pruned half an hour ago: not yet
    assert "unmatched-later" in left()
    clock[0] = start + timedelta(minutes=61)
    asyncio.run(work.retries())
    assert left() == ["delivered-new", "unmatched-new"]


def test_a_long_import_shows_progress_on_a_terminal_and_nowhere_else(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    box = maildir(
        tmp_path / "box",
        [dsn(ADDRESS, f"x{i}@example.net", "5.1.1", "550 5.1.1 unknown") for i in range(450)],
    )
    command = [sys.executable, "-m", "syndicate", "--site", str(site.root), "bounces", "import"]
    env = {**os.environ, "SYNDICATE_SECRET": SECRET, "TERM": "xterm", "COLUMNS": "120"}
    primary, secondary = pty.openpty()
    document = tmp_path / "out.json"  # a file: a full pipe would stop the import midway
    try:
        with document.open("wb") as stdout:
            proc = subprocess.Popen(
                [*command, str(box), "--json"], env=env, stdout=stdout, stderr=secondary
            )
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            shown += chunk
        proc.wait(timeout=120)
    finally:
        os.close(primary)
    assert proc.returncode == 0
    assert b"450 messages read" in shown, shown  # on the terminal, as it went
    assert json.loads(document.read_bytes())["messages"] == 450  # stdout: the document only
    code, output = cli(site, "bounces", "import", str(box))
    assert code == 0 and "messages read" not in output  # not a terminal: no progress line

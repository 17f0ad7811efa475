"""Taking bounces in, end to end: a real send with VERP return paths, bounces built from the
copies' envelopes, imported from a Maildir by the CLI; matching, trust and the policy."""

from __future__ import annotations

import asyncio
import io
import json
import mailbox
import os
import signal
import smtplib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select

from syndicate.cli import main
from syndicate.feedback.inbound import listen_address
from syndicate.feedback.inbound import start as start_listener
from syndicate.feedback.intake import take
from syndicate.feedback.parse import parse
from syndicate.feedback.report import Feedback, Outcome
from syndicate.models import Source, Status
from syndicate.service.work import Work
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.tables import deliveries, feedback_events, sends, subscribers
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import serve_smtp
from tests.test_send import CONFIG, SECRET, article, fast, run_send, smtp

ADDRESS = "bounces@news.example.org"
BOUNCES = f'\n[bounces]\naddress = "{ADDRESS}"\n'
TWO_LISTS = '\n[lists.daily]\ntitle = "Daily"\n'


def dsn(to: str, recipient: str, status: str, diagnostic: str, message_id: str = "") -> bytes:
    """A Postfix-shaped DSN mailed to ``to`` about ``recipient``."""
    returned = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (
        f"Return-Path: <>\r\nDelivered-To: {to}\r\nTo: {to}\r\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{recipient}.{status}@mx>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n"
        ' boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nI\'m sorry.\r\n'
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n"
        f"\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{returned}Subject: Weekly\r\n\r\n--B--\r\n"
    ).encode()


def arf(to: str, return_path: str) -> bytes:
    return (
        f"Delivered-To: {to}\r\nFrom: feedback@fbl.example\r\nSubject: complaint\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report;"
        ' boundary="A"'
        "\r\n\r\n--A\r\nContent-Type: text/plain\r\n\r\nabuse report\r\n--A\r\n"
        "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n"
        f"Original-Mail-From: <{return_path}>\r\n\r\n--A\r\nContent-Type: message/rfc822\r\n\r\n"
        "To: redacted\r\nSubject: Weekly\r\n\r\nbody\r\n--A--\r\n"
    ).encode()


def maildir(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.Maildir(path, create=True)
    for data in messages:
        box.add(data)
    return path


def cli(site: Site, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def load(site: Site, emails: list[str], list_name: str = "weekly") -> dict[str, int]:
    csv = "email\n" + "".join(f"{e}\n" for e in emails)
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    import_rows(site.engine, list_name, rows, now=datetime.now(UTC) - timedelta(days=30))
    with site.engine.connect() as conn:
        return dict(conn.execute(select(subscribers.c.email, subscribers.c.id)).all())


def status(site: Site, subscriber_id: int) -> dict[str, Status]:
    with site.engine.connect() as conn:
        return subscriber_repo.subscriptions_of(conn, subscriber_id)


@pytest.fixture
def sent(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> tuple[Site, dict[str, str], dict[str, int]]:
    """A site with [bounces] whose weekly went to five readers (two are on daily too):
    each reader's envelope sender, and every subscriber's id (``never@`` was not mailed)."""
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + TWO_LISTS + BOUNCES)
    article(site, "first", datetime.now(UTC) - timedelta(days=1))
    readers = [f"r{i}@example.org" for i in range(5)]
    load(site, readers[:2], "daily")
    ids = load(site, readers)
    ids = load(site, ["never@example.org"], "daily")
    with serve_smtp() as server:
        run_send(site, lambda: smtp(server), fast())
        senders = {m.recipients[0]: m.sender for m in server.messages}
    assert set(senders) == set(readers)
    return site, senders, ids


def test_bounces_complaints_and_forgeries_by_import(
    sent: tuple[Site, dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    site, senders, ids = sent
    token_of_r3 = senders["r3@example.org"].partition("+")[2].partition("@")[0]
    forged_token = token_of_r3[:-4] + ("0000" if token_of_r3[-4:] != "0000" else "1111")
    box = maildir(
        tmp_path / "bounces",
        [
            dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 5.1.1 User unknown"),
            # ours: the sender's reputation, never the reader's
            dsn(
                senders["r1@example.org"],
                "r1@example.org",
                "5.7.1",
                "554 5.7.1 blocked by Spamhaus",
            ),
            arf(ADDRESS, senders["r2@example.org"]),  # Yahoo redacts To: the token says who
            # forged: a reader never mailed; a tampered token
            dsn(ADDRESS, "never@example.org", "5.1.1", "550 5.1.1 User unknown"),
            dsn(f"bounces+{forged_token}@news.example.org", "never@example.org", "5.1.1", "no"),
            # a tampered token about a reader mailed a minute ago (retrial B1)
            dsn(f"bounces+{forged_token}@news.example.org", "r3@example.org", "5.1.1", "no"),
            # unknown to us; an out-of-office reply; ordinary mail
            dsn(ADDRESS, "stranger@example.net", "5.1.1", "550 5.1.1 User unknown"),
            b"From: a@example.org\r\nSubject: Out of office\r\n\r\nAway.\r\n",
            b"From: b@example.org\r\nSubject: hello\r\n\r\nJust saying.\r\n",
        ],
    )
    code, output = cli(site, "bounces", "import", str(box))
    assert code == 0, output
    # matched: trusted matches only; the two forgeries are "not trusted", never "matched"
    assert "9 messages: 8 processed, 3 matched, 5 hard, 0 soft, 1 ours" in output
    assert "1 complaint, 1 auto-reply ignored, 0 delays ignored, 1 unmatched" in output
    # the label names no one reason: a tampered token had one, and r3 was mailed recently
    assert "3 not trusted (see bounces list)" in output and "2 subscribers removed" in output
    assert "1 not a bounce" in output  # the ordinary mail: every message adds up
    assert "stranger@example.net" in output and "not a bounce" in output
    assert status(site, ids["r0@example.org"]) == {
        "weekly": Status.BOUNCED,
        "daily": Status.BOUNCED,
    }
    assert status(site, ids["r1@example.org"]) == {"weekly": Status.ACTIVE, "daily": Status.ACTIVE}
    assert status(site, ids["r2@example.org"]) == {"weekly": Status.COMPLAINED}
    assert status(site, ids["never@example.org"]) == {"daily": Status.ACTIVE}
    assert status(site, ids["r3@example.org"]) == {"weekly": Status.ACTIVE}
    with site.engine.connect() as conn:
        trail = subscriber_repo.events_of(conn, ids["r0@example.org"])
        complaint = subscriber_repo.events_of(conn, ids["r2@example.org"])[-1]
    assert trail[-1].source is Source.BOUNCE and "5.1.1" in (trail[-1].detail or "")
    assert complaint.source is Source.COMPLAINT and "abuse" in (complaint.detail or "")

    code, again = cli(site, "bounces", "import", str(box), "--json")
    doc = json.loads(again)
    assert doc["counts"]["processed"] == 0 and doc["counts"]["already"] == 8
    code, listed = cli(site, "bounces", "list", "--json")
    events = json.loads(listed)["events"]
    assert len(events) == 8 and json.loads(listed)["counts"]["unmatched"] == 2
    by = {e["recipient"] or e["email"]: e for e in events}
    assert by["never@example.org"]["effect"].startswith("not trusted")
    # refused by its token, so not "address" (which reads as if the address matched)
    assert by["r3@example.org"]["matched_by"] == "token-invalid"
    assert by["r3@example.org"]["effect"].startswith("not trusted")
    assert by["r0@example.org"]["matched_by"] == "token"
    code, text = cli(site, "bounces", "list")
    assert "hard 5.1.1 r0@example.org [token] bounced on daily, weekly" in text
    assert "hard 5.1.1 r3@example.org [token-invalid] not trusted" in text

    # Per send in `status` and `report`: counts, rates and warnings; the alert for ours.
    code, shown = cli(site, "status", "--json")
    doc = json.loads(shown)
    feedback = doc["sends"][0]["feedback"]
    assert (feedback["bounces"], feedback["complaints"], feedback["ours"]) == (1, 1, 1)
    assert feedback["bounce_rate"] == 0.2 and len(feedback["warnings"]) == 2
    assert doc["deliverability"] == {"days": 7, "ours": 1, "unmatched": 0}
    code, shown = cli(site, "status")
    assert "deliverability alert: 1 copy refused" in shown
    assert "feedback: 1 bounce (20.0%: 1 hard, 0 soft), 1 complaint (20.00%), 1 refused" in shown
    assert "warning: bounces above 2%" in shown
    code, shown = cli(site, "report", doc["sends"][0]["digest"])
    assert "feedback: 1 bounce (20.0%: 1 hard, 0 soft)" in shown
    assert "bounced    r0@example.org: hard 5.1.1 at " in shown
    assert "complained r2@example.org: complaint at " in shown


def test_address_matches_count_only_within_the_trust_window(
    sent: tuple[Site, dict[str, str], dict[str, int]],
) -> None:
    site, _, ids = sent
    settings = site.settings

    def hard(n: int, who: str) -> Feedback:
        return Feedback(outcome=Outcome.HARD, source="dsn", event_id=f"t{n}", recipient=who)

    later = datetime.now(UTC) + timedelta(days=20)
    result = take(site.engine, settings, [hard(1, "r3@example.org")], trusted=False, now=later)
    assert result.taken[0].effect is not None and "not trusted" in result.taken[0].effect
    assert status(site, ids["r3@example.org"]) == {"weekly": Status.ACTIVE}
    take(site.engine, settings, [hard(2, "r3@example.org")], trusted=False)  # mailed yesterday
    assert status(site, ids["r3@example.org"]) == {"weekly": Status.BOUNCED}
    # A provider's verified event names the subscriber it means: no window.
    take(site.engine, settings, [hard(3, "never@example.org")], trusted=True)
    assert status(site, ids["never@example.org"]) == {"daily": Status.BOUNCED}


def test_soft_bounces_are_scored_and_reset_by_a_clean_copy(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    ids = load(site, ["soft@example.org"])
    sid = ids["soft@example.org"]
    start = datetime.now(UTC) - timedelta(days=20)

    def soft(day: int) -> None:
        item = Feedback(
            outcome=Outcome.SOFT, source="dsn", event_id=f"s{day}", recipient="soft@example.org"
        )
        take(site.engine, site.settings, [item], trusted=True, now=start + timedelta(days=day))

    soft(0)
    soft(1)
    # a copy sent on day 2 came through: no bounce for it
    with site.engine.begin() as conn:
        send = conn.execute(
            insert(sends).values(
                list_name="weekly", digest_id="weekly-1", status="done", created_at=start
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(deliveries).values(
                send_id=send,
                subscriber_id=sid,
                variant="[]",
                status="sent",
                attempts=1,
                next_attempt_at=start,
                updated_at=start + timedelta(days=2),
            )
        )
    soft(17)  # past the trust window of that copy: these name no send
    soft(18)
    assert status(site, sid) == {"weekly": Status.ACTIVE}  # two since the clean copy
    soft(19)
    assert status(site, sid) == {"weekly": Status.BOUNCED}
    with site.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(feedback_events)) == 5


def test_a_bounce_without_token_matches_by_our_message_id(
    sent: tuple[Site, dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    site, _, ids = sent
    sid = ids["r4@example.org"]
    # What Postfix returns when the remote end rewrote the envelope: only our Message-ID.
    data = dsn(
        ADDRESS,
        "r4-alias@example.net",
        "5.1.1",
        "550 5.1.1 no such user",
        f"<weekly-1.{sid}@news.example.org>",
    )
    wrong_host = dsn(
        ADDRESS,
        "x@example.net",
        "5.1.1",
        "no such user",
        f"<weekly-1.{ids['r3@example.org']}@evil.example>",
    )
    box = maildir(tmp_path / "box", [data, wrong_host])
    code, output = cli(site, "bounces", "import", str(box), "--json")
    assert code == 0, output
    assert json.loads(output)["counts"]["unmatched"] == 1
    assert status(site, sid) == {"weekly": Status.BOUNCED}
    assert status(site, ids["r3@example.org"]) == {"weekly": Status.ACTIVE}


KILL_MESSAGES = 10_000


def test_kill_9_during_import_then_rerun_takes_every_message_once(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    load(site, ["someone@example.org"])
    box = tmp_path / "many"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i in range(KILL_MESSAGES):
        data = dsn(ADDRESS, f"gone{i}@example.net", "5.1.1", "550 5.1.1 User unknown")
        (box / "new" / f"{i:06d}.test").write_bytes(data)
    env = {**os.environ, "SYNDICATE_SECRET": SECRET}
    command = [sys.executable, "-m", "syndicate", "--site", str(site.root), "bounces", "import"]
    proc = subprocess.Popen([*command, str(box)], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with site.engine.connect() as conn:
                if (conn.scalar(select(func.count()).select_from(feedback_events)) or 0) > 0:
                    break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with site.engine.connect() as conn:
        partial = conn.scalar(select(func.count()).select_from(feedback_events)) or 0
    assert 0 < partial < KILL_MESSAGES  # killed part way
    done = subprocess.run([*command, str(box), "--json"], env=env, capture_output=True, check=True)
    counts = json.loads(done.stdout)["counts"]
    assert counts["already"] == partial and counts["processed"] == KILL_MESSAGES - partial
    with site.engine.connect() as conn:
        f = feedback_events.c
        assert conn.scalar(select(func.count()).select_from(feedback_events)) == KILL_MESSAGES
        assert conn.scalar(select(func.count(func.distinct(f.recipient)))) == KILL_MESSAGES
        assert conn.scalar(select(func.count()).where(f.processed_at.is_(None))) == 0


def test_run_reads_the_bounce_maildir_and_files_what_it_took(
    sent: tuple[Site, dict[str, str], dict[str, int]],
) -> None:
    site, senders, ids = sent
    site.configure(CONFIG + TWO_LISTS + BOUNCES + 'maildir = "bounces"\n')
    box = maildir(
        site.root / "bounces",
        [
            dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 5.1.1 User unknown"),
            b"Subject: hello\r\n\r\nnot a bounce\r\n",
        ],
    )
    settings = site.settings
    work = Work(settings, site.engine, Signer(SECRET))
    asyncio.run(work.bounces())
    assert status(site, ids["r0@example.org"])["weekly"] is Status.BOUNCED
    assert not list((box / "new").iterdir())
    assert all(p.name.endswith(":2,S") for p in (box / "cur").iterdir())
    assert len(list((box / "cur").iterdir())) == 2
    asyncio.run(work.bounces())  # nothing new: nothing read
    with site.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(feedback_events)) == 1


def test_arbitrary_bytes_through_parse_and_take_never_raise(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    any_site.configure(CONFIG + BOUNCES)
    load(any_site, ["r0@example.org"])
    settings = any_site.settings
    prefix = dsn(ADDRESS, "r0@example.org", "5.1.1", "x")

    @given(st.binary(max_size=2000), st.booleans())
    @hypothesis_settings(max_examples=50, deadline=None)
    def check(data: bytes, splice: bool) -> None:
        message = prefix[: len(prefix) // 2] + data if splice else data
        parsed = parse(message, bounce_address=ADDRESS)
        take(any_site.engine, settings, parsed.feedback, trusted=False)

    check()


def test_import_reads_mbox_files_eml_files_and_names_what_is_not_a_mailbox(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    box.add(dsn(ADDRESS, "a@example.net", "5.1.1", "550 5.1.1 unknown"))
    box.add(dsn(ADDRESS, "b@example.net", "5.2.2", "552 5.2.2 mailbox full"))
    box.close()
    eml = tmp_path / "one.eml"
    eml.write_bytes(dsn(ADDRESS, "c@example.net", "5.1.1", "550 5.1.1 unknown"))
    code, output = cli(
        site, "bounces", "import", str(tmp_path / "bounces.mbox"), str(eml), "--json"
    )
    assert code == 0, output
    doc = json.loads(output)
    assert doc["messages"] == 3 and doc["counts"]["hard"] == 2 and doc["counts"]["soft"] == 1
    assert {r["recipient"] for r in doc["rows"]} == {
        "a@example.net",
        "b@example.net",
        "c@example.net",
    }
    empty = tmp_path / "empty"
    empty.mkdir()
    code, output = cli(site, "bounces", "import", str(empty))
    assert code == 1 and "neither a Maildir" in output


def test_the_smtp_listener_takes_bounces_for_the_bounce_address_only(
    sent: tuple[Site, dict[str, str], dict[str, int]],
) -> None:
    site, senders, ids = sent
    site.configure(CONFIG + TWO_LISTS + BOUNCES + 'listen = "127.0.0.1:0"\n')
    settings = site.settings
    assert listen_address(settings) == ("127.0.0.1", 0)
    verp = senders["r0@example.org"]
    # What Postfix sends: the DSN to the envelope sender; its headers need not name it.
    data = dsn("someone-else@example.org", "r0@example.org", "5.1.1", "550 5.1.1 unknown")

    def client(port: int) -> tuple[tuple[int, bytes], dict[str, tuple[int, bytes]]]:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp_client:
            smtp_client.ehlo()
            smtp_client.mail("")
            refused = smtp_client.rcpt("r1@example.org")
            smtp_client.rset()
            failures = smtp_client.sendmail("", [verp.upper()], data)
            return refused, failures

    async def go() -> tuple[tuple[int, bytes], dict[str, tuple[int, bytes]]]:
        server = await start_listener(site.engine, settings, "127.0.0.1", 0)
        try:
            port = server.sockets[0].getsockname()[1]
            return await asyncio.to_thread(client, port)
        finally:
            server.close()
            await server.wait_closed()

    refused, failures = asyncio.run(go())
    assert refused[0] == 550 and failures == {}
    assert status(site, ids["r0@example.org"]) == {
        "weekly": Status.BOUNCED,
        "daily": Status.BOUNCED,
    }
    assert status(site, ids["r1@example.org"]) == {"weekly": Status.ACTIVE, "daily": Status.ACTIVE}

"""What ``run`` (and ``bounces import``) say about the feedback they take, in their own words.

A real ``syndicate run`` takes a bounce over SMTP: its log has one line naming the subscriber
and the send, and neither aiosmtpd's dialogue nor any VERP token (a token in the log is
enough to forge a believed bounce for that reader). flufl.bounce's tracebacks stay out of
``bounces import``; a missing bounce Maildir is said by ``check`` and once by ``run``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.redact import RedactTokens, redact
from syndicate.service.work import Work
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.test_feedback_intake import ADDRESS, BOUNCES, TWO_LISTS, dsn, sent
from tests.test_run import Running
from tests.test_send import CONFIG, SECRET

REPO = Path(__file__).resolve().parents[1]
Sent = tuple[Site, dict[str, str], dict[str, int]]
__all__ = ["sent"]  # the fixture, used by name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(log: Path, text: str, within: float = 30.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in (found := log.read_text()):
            return found
        time.sleep(0.1)
    pytest.fail(f"{text!r} not logged within {within} s; log: {log.read_text()}")


@pytest.fixture
def running(sent: Sent, tmp_path: Path) -> Iterator[tuple[Running, int]]:
    site, _, _ = sent
    port = free_port()
    site.configure(
        CONFIG + TWO_LISTS + BOUNCES + f'listen = "127.0.0.1:{port}"\nmaildir = "bouncez"\n'
    )
    server = Running(site, tmp_path / "run.log")
    try:
        yield server, port
    finally:
        server.kill()


def test_run_logs_one_line_per_bounce_naming_the_subscriber_and_never_a_token(
    sent: Sent, running: tuple[Running, int]
) -> None:
    site, senders, ids = sent
    server, port = running
    verp = senders["r0@example.org"]
    token = verp.partition("+")[2].partition("@")[0]
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo("mx.example.net")
        data = dsn(verp, "r0@example.org", "5.1.1", "550 5.1.1 User unknown")
        assert client.sendmail("", [verp.upper()], data) == {}  # tokens come back in capitals
    subscriber = ids["r0@example.org"]
    line = f"bounces: hard bounce (5.1.1) for subscriber {subscriber} on send weekly-1: bounced on"
    log = wait_for(server.log, line)
    assert server.stop() == 0
    log = server.log.read_text()
    lines = [x for x in log.splitlines() if " bounces: " in x]
    assert len([x for x in lines if "hard bounce" in x]) == 1, log
    assert token not in log.lower(), log
    assert "rcpt" not in log.lower() and "AUTH" not in log and "Connection lost" not in log, log
    assert "mail.log" not in log and "bounce: hard" not in log, log
    # [bounces] maildir names a folder that is not there: said (once), not silently ignored
    missing = [x for x in lines if "bounces.maildir: " in x]
    assert len(missing) == 1 and " WARNING " in missing[0], log
    assert f"{site.root / 'bouncez'} is not a Maildir (no new/)" in missing[0], log


def test_a_missing_bounce_maildir_is_logged_once_and_again_when_it_is_there(
    sent: Sent, caplog: pytest.LogCaptureFixture
) -> None:
    site, _, _ = sent
    site.configure(CONFIG + TWO_LISTS + BOUNCES + 'maildir = "bouncez"\n')
    work = Work(site.settings, site.engine, Signer(SECRET))
    with caplog.at_level(logging.INFO, logger="syndicate"):
        for _ in range(3):
            asyncio.run(work.bounces())
        said = [r for r in caplog.records if "bounces.maildir" in r.getMessage()]
        assert [r.levelno for r in said] == [logging.WARNING], caplog.text
        assert "create it (mkdir -p " in said[0].getMessage()
        for sub in ("new", "cur", "tmp"):
            (site.root / "bouncez" / sub).mkdir(parents=True)
        caplog.clear()
        asyncio.run(work.bounces())
        asyncio.run(work.bounces())
    assert [r.getMessage() for r in caplog.records] == [
        f"bounces: {site.root / 'bouncez'} is a Maildir now: reading it"
    ]


@pytest.mark.parametrize("maildir", ["bouncez", "bounces/new"])
def test_check_names_a_bounce_maildir_that_is_not_one(site: Site, maildir: str) -> None:
    site.configure(f'{BOUNCES}maildir = "{maildir}"\n')
    (site.root / "bounces" / "new").mkdir(parents=True)
    result = CliRunner().invoke(main, ["--site", str(site.root), "check", "--offline"])
    assert result.exit_code == 1, result.output
    path = site.root / maildir
    assert (
        f"syndicate.toml: bounces.maildir: {path} is not a Maildir (no new/): create it "
        f"(mkdir -p {path}/new {path}/cur {path}/tmp) or fix the path"
    ) in result.stderr
    site.configure(f'{BOUNCES}maildir = "bounces"\n')
    result = CliRunner().invoke(main, ["--site", str(site.root), "check", "--offline"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "message",
    [
        b"To: x@example.org\r\nSubject: hi\r\n\r\nhello there\r\n",  # no From: (Yale trips)
        os.urandom(5000),
        (REPO / "tests" / "data" / "bounces" / "NOTICE").read_bytes(),
    ],
    ids=["no-from", "random", "notice"],
)
def test_import_of_a_message_flufl_trips_over_says_only_not_a_bounce(
    site: Site, tmp_path: Path, message: bytes
) -> None:
    """A real process: flufl.bounce's ERROR with its traceback would reach stderr through
    logging's last-resort handler, and its INFO lines the run log."""
    site.configure(BOUNCES)
    path = tmp_path / "odd.eml"
    path.write_bytes(message)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SYNDICATE_SECRET": SECRET}
    command = ["bounces", "import", str(path)]
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", "--site", str(site.root), *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "Traceback" not in said and "detector" not in said, said
    assert f"{path}: not a bounce" in said, said


def test_the_redaction_takes_verp_tokens_in_any_case_and_leaves_plain_addresses() -> None:
    record = logging.LogRecord(
        "mail.log",
        logging.INFO,
        __file__,
        1,
        "%r >> %r",
        (("127.0.0.1", 5), b"RCPT TO:<bounces+2-3-343CF85344D0F19C65F0@news.example.org>"),
        None,
    )
    RedactTokens().filter(record)
    assert "343" not in record.getMessage() and "bounces+<token>@" in record.getMessage()
    confirm = "bounces+c-2o0-k3-f9d4bb48936af8ce3770@news.example.org"
    assert redact(confirm) == "bounces+<token>@news.example.org"
    for plain in ("ann+news@example.org", "2026-12-01", "weekly-3", ADDRESS):
        assert redact(plain) == plain


def test_the_polls_summary_counts_every_message_like_bounces_import(
    sent: Sent, caplog: pytest.LogCaptureFixture
) -> None:
    """Retrial B3: the already-imported and the not-a-bounce messages are counted too."""
    site, senders, _ = sent
    site.configure(CONFIG + TWO_LISTS + BOUNCES + 'maildir = "bouncez"\n')
    for sub in ("new", "cur", "tmp"):
        (site.root / "bouncez" / sub).mkdir(parents=True)
    new = site.root / "bouncez" / "new"
    first = dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 5.1.1 User unknown")
    (new / "1.a").write_bytes(first)
    work = Work(site.settings, site.engine, Signer(SECRET))
    asyncio.run(work.bounces())  # taken once
    (new / "2.a").write_bytes(first)  # the same bounce again
    second = dsn(senders["r1@example.org"], "r1@example.org", "4.2.2", "452 4.2.2 Mailbox full")
    (new / "3.a").write_bytes(second)
    (new / "4.a").write_bytes(b"From: a@example.net\r\nSubject: hello\r\n\r\nJust a note.\r\n")
    with caplog.at_level(logging.INFO, logger="syndicate"):
        asyncio.run(work.bounces())
    [line] = [r.getMessage() for r in caplog.records if "3 messages" in r.getMessage()]
    assert line.startswith("bounces: 3 messages: "), line
    assert "1 already imported" in line and "1 not a bounce" in line, line
    assert "1 matched" in line, line


def test_the_listener_says_plainly_that_a_message_is_no_bounce(
    sent: Sent, caplog: pytest.LogCaptureFixture
) -> None:
    """Retrial B2: one plain phrase, not "a message that is no feedback: not a bounce…"."""
    from syndicate.feedback.inbound import start

    site, _, _ = sent
    site.configure(CONFIG + TWO_LISTS + BOUNCES + 'listen = "127.0.0.1:0"\n')
    note = b"From: a@example.net\r\nSubject: hello\r\n\r\nJust a note.\r\n"

    def client(port: int) -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp_client:
            return smtp_client.sendmail("a@example.net", ["bounces@news.example.org"], note)

    async def go() -> dict[str, tuple[int, bytes]]:
        server = await start(site.engine, site.settings, "127.0.0.1", 0)
        try:
            return await asyncio.to_thread(client, server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()

    with caplog.at_level(logging.INFO, logger="syndicate"):
        assert asyncio.run(go()) == {}
    said = [r.getMessage() for r in caplog.records if r.name.startswith("syndicate")]
    assert "bounce listener: not a bounce, complaint or automatic reply (ignored)" in said, said

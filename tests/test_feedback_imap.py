"""``[bounces.imap]``: ``syndicate run`` polls a real IMAP server (Debian's Dovecot, started
by the test) for bounces, takes them, moves them out of the way, and survives any server."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syndicate.config import parse_config
from syndicate.errors import ConfigError
from syndicate.feedback import imap
from syndicate.models import Status
from syndicate.service import scheduler as sched
from syndicate.service.work import Work
from syndicate.store.tables import feedback_events
from syndicate.subscribers.tokens import Signer
from tests import test_feedback_intake
from tests.conftest import Site
from tests.dovecot import PASSWORD, USER, Dovecot, dovecot, free_port, needs_dovecot
from tests.test_feedback_intake import BOUNCES, TWO_LISTS, arf, cli, dsn, status
from tests.test_send import CONFIG, SECRET

Sent = tuple[Site, dict[str, str], dict[str, int]]
PROCESSED = "syndicate-processed"
sent = test_feedback_intake.sent  # the fixture: a site whose weekly went to five readers


def imap_config(port: int, *, tls: str = "none", extra: str = "") -> str:
    return (
        f'\n[bounces.imap]\nhost = "127.0.0.1"\nport = {port}\ntls = "{tls}"\n'
        f'username = "{USER}"\ntimeout = 10\n{extra}'
    )


def configure(site: Site, monkeypatch: pytest.MonkeyPatch, section: str) -> Work:
    monkeypatch.setenv("SYNDICATE_IMAP_PASSWORD", PASSWORD)
    site.configure(CONFIG + TWO_LISTS + BOUNCES + section)
    return Work(site.settings, site.engine, Signer(SECRET))


def events(site: Site) -> int:
    with site.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(feedback_events)) or 0)


@pytest.fixture
def server() -> Iterator[Dovecot]:
    with dovecot() as running:
        yield running


@needs_dovecot
def test_run_polls_the_mailbox_takes_the_bounces_and_moves_them(
    sent: Sent, server: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, senders, ids = sent
    work = configure(site, monkeypatch, imap_config(server.port))
    hard = dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 5.1.1 User unknown")
    server.append(
        hard,
        arf(senders["r1@example.org"], senders["r1@example.org"]),
        # forged: never mailed, no token of ours, so it must change nothing
        dsn("bounces@news.example.org", "never@example.org", "5.1.1", "550 5.1.1 unknown"),
        b"Subject: hello\r\n\r\nnot a bounce\r\n",
    )
    asyncio.run(work.imap())
    assert status(site, ids["r0@example.org"]) == {
        "weekly": Status.BOUNCED,
        "daily": Status.BOUNCED,
    }
    assert status(site, ids["r1@example.org"])["weekly"] is Status.COMPLAINED
    assert status(site, ids["r2@example.org"])["weekly"] is Status.ACTIVE
    assert status(site, ids["never@example.org"])["daily"] is Status.ACTIVE
    assert server.count("INBOX") == 0
    assert server.count(PROCESSED) == 4  # the folder was created
    assert server.count(PROCESSED, "UNSEEN") == 0
    taken = events(site)
    assert taken == 3

    asyncio.run(work.imap())  # nothing new: nothing changes
    assert events(site) == taken and server.count(PROCESSED) == 4

    # A crash after the commit but before the move: the same message is read again.
    server.append(hard)
    asyncio.run(work.imap())
    assert events(site) == taken
    assert server.count("INBOX") == 0 and server.count(PROCESSED) == 5


@needs_dovecot
def test_oversized_messages_are_flagged_left_alone_and_reported_once(
    sent: Sent, server: Dovecot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site, senders, ids = sent
    monkeypatch.setattr(imap, "MAX_BYTES", 2_000)
    work = configure(site, monkeypatch, imap_config(server.port))
    small = dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 5.1.1 unknown")
    big = dsn(senders["r1@example.org"], "r1@example.org", "5.1.1", "550 " + "x" * 3_000)
    server.append(big, small)
    with caplog.at_level(logging.WARNING):
        asyncio.run(work.imap())
        asyncio.run(work.imap())
    assert status(site, ids["r0@example.org"])["weekly"] is Status.BOUNCED
    assert status(site, ids["r1@example.org"])["weekly"] is Status.ACTIVE
    assert server.count("INBOX") == 1 and server.count("INBOX", "FLAGGED") == 1
    warned = [r.getMessage() for r in caplog.records if "over 2,000" in r.getMessage()]
    assert len(warned) == 1 and "uid 1" in warned[0]


@needs_dovecot
def test_without_move_it_copies_and_expunges_and_delete_removes(
    sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, senders, ids = sent
    # A server that advertises neither MOVE nor UIDPLUS: COPY, \Deleted and EXPUNGE.
    with dovecot(capability="IMAP4rev1 LITERAL+ AUTH=PLAIN") as server:
        work = configure(site, monkeypatch, imap_config(server.port, extra='move_to = "Done"\n'))
        server.append(dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 unknown"))
        asyncio.run(work.imap())
        assert status(site, ids["r0@example.org"])["weekly"] is Status.BOUNCED
        assert server.count("INBOX") == 0 and server.count("Done") == 1

        work = configure(site, monkeypatch, imap_config(server.port, extra="delete = true\n"))
        server.append(dsn(senders["r2@example.org"], "r2@example.org", "5.1.1", "550 unknown"))
        asyncio.run(work.imap())
        assert status(site, ids["r2@example.org"])["weekly"] is Status.BOUNCED
        assert server.count("INBOX") == 0 and server.count(PROCESSED) is None


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@needs_dovecot
def test_a_wrong_password_is_logged_once_without_the_password_and_recovers(
    sent: Sent, server: Dovecot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site, senders, ids = sent
    work = configure(site, monkeypatch, imap_config(server.port))
    server.append(dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 unknown"))
    wrong = "wrong-Pa55word"
    monkeypatch.setenv("SYNDICATE_IMAP_PASSWORD", wrong)
    work = Work(site.settings, site.engine, Signer(SECRET))
    with caplog.at_level(logging.INFO):
        asyncio.run(work.imap())
        asyncio.run(work.imap())
    logged = problems(caplog)
    assert len(logged) == 1, logged
    assert f"127.0.0.1:{server.port}" in logged[0] and "login refused" in logged[0]
    assert "SYNDICATE_IMAP_PASSWORD" in logged[0]
    assert wrong not in caplog.text and PASSWORD not in caplog.text
    assert status(site, ids["r0@example.org"])["weekly"] is Status.ACTIVE
    assert server.count("INBOX") == 1

    monkeypatch.setenv("SYNDICATE_IMAP_PASSWORD", PASSWORD)
    fixed = Work(site.settings, site.engine, Signer(SECRET))
    fixed.feedback.imap_problem = work.feedback.imap_problem
    caplog.clear()
    with caplog.at_level(logging.INFO):
        asyncio.run(fixed.imap())
    assert "reading the mailbox again" in caplog.text
    assert status(site, ids["r0@example.org"])["weekly"] is Status.BOUNCED


def test_nothing_listening_and_a_garbage_server_are_logged_and_survived(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    closed = free_port()
    work = configure(site, monkeypatch, imap_config(closed))
    with caplog.at_level(logging.ERROR):
        asyncio.run(work.imap())
    assert len(problems(caplog)) == 1
    assert f"127.0.0.1:{closed}: connecting: connection refused" in problems(caplog)[0]

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def garbage() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"\x00\xffHELLO THIS IS NOT IMAP\r\n* BYE\r\n")

    thread = threading.Thread(target=garbage, daemon=True)
    thread.start()
    try:
        work = configure(site, monkeypatch, imap_config(port))
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            asyncio.run(work.imap())
            asyncio.run(work.imap())
        assert len(problems(caplog)) == 1, problems(caplog)
        assert f"127.0.0.1:{port}: connecting: the server broke off" in problems(caplog)[0]
    finally:
        thread.join(10)
        listener.close()

    # A server that takes the connection and never says a word: the timeout ends the wait.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        work = configure(
            site, monkeypatch, imap_config(port).replace("timeout = 10", "timeout = 1")
        )
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            asyncio.run(work.imap())
        assert len(problems(caplog)) == 1, problems(caplog)
        assert f"127.0.0.1:{port}: connecting: no answer within 1 s" in problems(caplog)[0]


@needs_dovecot
def test_implicit_tls_with_the_ca_from_config_and_refused_without_it(
    sent: Sent, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site, senders, ids = sent
    with dovecot(tls=True) as server:
        assert server.ca_file is not None
        server.append(dsn(senders["r0@example.org"], "r0@example.org", "5.1.1", "550 unknown"))
        untrusted = configure(site, monkeypatch, imap_config(server.tls_port, tls="implicit"))
        with caplog.at_level(logging.ERROR):
            asyncio.run(untrusted.imap())
        assert len(problems(caplog)) == 1
        assert "certificate is not trusted" in problems(caplog)[0]
        assert "ca_file" in problems(caplog)[0]
        assert status(site, ids["r0@example.org"])["weekly"] is Status.ACTIVE

        ca = Path(site.root / "imap-ca.pem")
        ca.write_bytes(server.ca_file.read_bytes())
        extra = 'ca_file = "imap-ca.pem"\n'
        trusted = configure(
            site, monkeypatch, imap_config(server.tls_port, tls="implicit", extra=extra)
        )
        asyncio.run(trusted.imap())
        assert status(site, ids["r0@example.org"])["weekly"] is Status.BOUNCED
        assert server.count("INBOX") == 0

        # STARTTLS on the plain port, the same CA: upgraded before the login.
        server.append(dsn(senders["r2@example.org"], "r2@example.org", "5.1.1", "550 unknown"))
        upgraded = configure(
            site, monkeypatch, imap_config(server.port, tls="starttls", extra=extra)
        )
        asyncio.run(upgraded.imap())
        assert status(site, ids["r2@example.org"])["weekly"] is Status.BOUNCED


IMAP = (
    '[publication]\ntitle = "T"\nbase_url = "https://x.test"\n'
    '[bounces]\naddress = "b@example.org"\n'
)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            '[bounces.imap]\nhost = "mail.x.test"\nusername = "u"\npassword = "p"\n',
            "bounces.imap: password: must not be in syndicate.toml",
        ),
        (
            '[bounces.imap]\nhost = "mail.x.test"\nusername = "u"\ntls = "none"\n',
            "bounces.imap: tls: 'none' is allowed only for a loopback host",
        ),
        (
            '[bounces.imap]\nhost = "mail.x.test"\nusername = "u"\ntls = "ssl"\n',
            "bounces.imap.tls: input should be 'implicit', 'starttls' or 'none'",
        ),
        (
            '[bounces.imap]\nhost = "mail.x.test"\nusername = "u"\nmove_to = "INBOX"\n',
            "bounces.imap: move_to: must differ from folder",
        ),
        (
            '[bounces.imap]\nhost = "h"\nusername = "u"\nmove_to = "Done"\ndelete = true\n',
            "bounces.imap: move_to ('Done') and delete = true: processed messages are either "
            "moved or deleted, not both",
        ),
        (  # even when move_to names the default folder: which one wins is not for us to guess
            '[bounces.imap]\nhost = "h"\nusername = "u"\nmove_to = "syndicate-processed"\n'
            "delete = true\n",
            "remove move_to to delete them, or delete = true to move them",
        ),
        ('[bounces.imap]\nhost = "mail.x.test"\n', "bounces.imap.username: is required"),
    ],
)
def test_bad_imap_config_names_the_field(section: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(IMAP + section)
    assert expected in str(caught.value)


def test_imap_defaults() -> None:
    config = parse_config(IMAP + '[bounces.imap]\nhost = "mail.x.test"\nusername = "u"\n')
    assert config.bounces is not None and config.bounces.imap is not None
    cfg = config.bounces.imap
    assert (cfg.tls, cfg.server_port, cfg.folder, cfg.move_to, cfg.delete) == (
        "implicit",
        993,
        "INBOX",
        PROCESSED,
        False,
    )
    assert cfg.poll_interval == 60
    local = parse_config(
        IMAP + '[bounces.imap]\nhost = "::1"\nusername = "u"\ntls = "none"\nport = 1143\n'
    )
    assert local.bounces is not None and local.bounces.imap is not None
    assert local.bounces.imap.server_port == 1143


@needs_dovecot
def test_check_reports_imap_problems_with_the_field(
    site: Site, server: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    configure(
        site, monkeypatch, imap_config(server.port, tls="starttls", extra='ca_file = "x.pem"\n')
    )
    code, output = cli(site, "check", "--offline")
    assert code == 1 and "[bounces.imap] 127.0.0.1" in output and "ca_file" in output
    assert "x.pem" in output and "is not a readable file" in output

    configure(site, monkeypatch, imap_config(server.port))
    code, output = cli(site, "check")  # the server lets us in and has the folder
    assert code == 0, output
    monkeypatch.delenv("SYNDICATE_IMAP_PASSWORD")
    code, output = cli(site, "check", "--offline")
    assert code == 1 and "SYNDICATE_IMAP_PASSWORD is not set" in output
    monkeypatch.setenv("SYNDICATE_IMAP_PASSWORD", "not-it")
    code, output = cli(site, "check")
    assert code == 1 and "login refused" in output and "not-it" not in output


def test_run_schedules_the_imap_poll_at_its_interval(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    configure(site, monkeypatch, imap_config(free_port(), extra="poll_interval = 120\n"))

    async def jobs() -> dict[str, float]:
        scheduler = sched.make_scheduler(site.engine)
        scheduler.start(paused=True)
        try:
            sched.install_jobs(scheduler, site.settings, now=datetime.now(UTC))
            return {
                j.id: j.trigger.interval.total_seconds()
                for j in scheduler.get_jobs(jobstore=sched.LOCAL)
            }
        finally:
            scheduler.shutdown(wait=False)

    assert asyncio.run(jobs())["imap"] == 120

"""Issue 12, item 4: failures are loud.

A mail server that cannot be reached, a STARTTLS mismatch or refused credentials stop
`send` at the first connection with `error: …HOST:PORT: reason` and exit 1; nothing is
marked failed (the copies stay queued and go out with the next `send`); `status` shows the
send's last error; `report` lists every recipient who did not get it, with the server's reply.
Real parts: the CLI, an aiosmtpd server (with faults, or requiring AUTH), a closed port."""

from __future__ import annotations

import io
import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from syndicate.cli import main
from syndicate.store.tables import deliveries
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"
READERS = ["ada@example.org", "bad@example.org", "busy@example.org", "grace@example.org"]


def config(port: int, security: str = "none", extra: str = "") -> str:
    return weekly_site_config(port, security=security, timeout=5) + extra + "\n"


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def closed_port() -> int:
    """A port nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shown(iso: str) -> str:
    """How the text output writes a time that --json gives as ISO 8601."""
    return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def ledger(site: Site) -> dict[str, int]:
    stmt = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    with site.engine.connect() as conn:
        return {s: int(n) for s, n in conn.execute(stmt)}


@pytest.fixture
def letter(any_site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    site = any_site
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(config(closed_port()))
    site.write("a.md", "---\ntitle: Alpha\ndate: 2026-11-01T08:00:00Z\n---\n\nText.\n")
    csv = "email,name\n" + "".join(f"{a},\n" for a in READERS)
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    assert not import_rows(
        site.engine, "weekly", rows, now=datetime(2026, 10, 1, tzinfo=UTC)
    ).problems
    return site


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def assert_stopped_loudly(site: Site, stderr: str, reason: str) -> None:
    assert f"error: {reason}" in stderr
    assert "Traceback" not in stderr
    assert ledger(site) == {"queued": len(READERS)}  # nothing failed, nothing deferred


def test_a_closed_port_stops_the_send_at_once_and_the_next_send_delivers(
    letter: Site, server: SmtpServer
) -> None:
    port = closed_port()
    letter.configure(config(port))
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 1, stdout + stderr
    assert_stopped_loudly(letter, stderr, f"cannot connect to 127.0.0.1:{port}: Connection refused")
    assert "connecting to 127.0.0.1" in stderr  # it said what it was doing

    code, stdout, stderr = cli(letter, "status", "--json")
    assert code == 0, stderr
    [sent] = json.loads(stdout)["sends"]
    assert sent["last_error"] == f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert sent["last_error_at"] is not None and sent["counts"] == {"queued": 4}
    assert sent["status"] == "interrupted"  # nobody at it: the next send resumes it first
    code, stdout, _ = cli(letter, "status")
    assert (
        f"last error ({shown(sent['last_error_at'])}): cannot connect to 127.0.0.1:{port}" in stdout
    )

    letter.configure(config(server.port))  # the server is there now: the same send goes out
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stdout + stderr
    assert "resuming weekly-1" in stderr
    assert sorted(r for m in server.messages for r in m.recipients) == READERS
    assert ledger(letter) == {"sent": 4}


def test_a_send_that_reached_its_server_again_no_longer_shows_the_old_error(
    letter: Site, server: SmtpServer
) -> None:
    """The error of a failed connection is the send's last word only until a connection
    works: then a deferred copy is a reader's mailbox, not the server, and status says so."""
    port = closed_port()
    letter.configure(config(port))
    assert cli(letter, "send", "weekly", "--yes", "--offline")[0] == 1
    letter.configure(config(server.port, extra="wait_for_retries = 0"))
    server.set_fault("busy@example.org", "rcpt-4xx")
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 3, stdout + stderr  # resumed; one copy deferred
    code, stdout, _ = cli(letter, "status", "--json")
    [sent] = json.loads(stdout)["sends"]
    assert sent["status"] == "retrying" and sent["counts"] == {"deferred": 1, "sent": 3}
    assert sent["last_error"] is None
    assert "last error" not in cli(letter, "status")[1]


def test_starttls_against_a_plain_server_stops_the_send(letter: Site, server: SmtpServer) -> None:
    letter.configure(config(server.port, security="starttls"))
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline", "--json")
    assert code == 1, stdout + stderr
    assert_stopped_loudly(letter, stderr, f"cannot start TLS with 127.0.0.1:{server.port}: ")
    doc = json.loads(stdout)  # --json still prints its one object
    assert doc["error"].startswith("cannot start TLS") and doc["counts"] == {"queued": 4}
    assert server.messages == []


def test_refused_credentials_stop_the_send(letter: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_smtp(credentials=("ann", "s3cret")) as server:
        letter.configure(config(server.port, extra='username = "ann"'))
        monkeypatch.setenv("SYNDICATE_SMTP_PASSWORD", "wrong")
        code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
        assert code == 1, stdout + stderr
        assert_stopped_loudly(
            letter, stderr, f"authentication failed at 127.0.0.1:{server.port}: 535"
        )
        assert "wrong" not in stderr + stdout  # never the password
        assert server.messages == []


def test_report_lists_every_recipient_who_did_not_get_it(letter: Site, server: SmtpServer) -> None:
    letter.configure(config(server.port, extra="wait_for_retries = 0"))
    server.set_fault("bad@example.org", "rcpt-5xx")
    server.set_fault("busy@example.org", "rcpt-4xx")
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 3, stdout + stderr

    code, stdout, stderr = cli(letter, "report", "weekly-1", "--json")
    assert code == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]  # JSON Lines
    assert lines[0]["kind"] == "send" and lines[0]["counts"]["failed"] == 1
    rows = {r["email"]: r for r in lines if r["kind"] == "delivery"}
    assert set(rows) == {"bad@example.org", "busy@example.org"}
    assert (rows["bad@example.org"]["status"], rows["bad@example.org"]["code"]) == ("failed", 550)
    assert rows["bad@example.org"]["reply"] == "5.1.1 No such user here"
    assert rows["busy@example.org"]["status"] == "deferred"
    assert rows["busy@example.org"]["code"] == 451
    assert rows["busy@example.org"]["next_attempt"] is not None

    code, stdout, stderr = cli(letter, "report", "weekly-1")
    assert code == 0, stderr
    assert "weekly-1 (retrying): 1 deferred, 1 failed, 2 sent" in stdout
    assert "failed    bad@example.org: 550 5.1.1 No such user here; 1 attempt" in stdout


def test_report_names_international_addresses_in_unicode(letter: Site, server: SmtpServer) -> None:
    letter.configure(config(server.port, extra="wait_for_retries = 0"))
    assert cli(letter, "subscribers", "add", "weekly", "jo@bücher.example")[0] == 0
    server.set_fault("jo@xn--bcher-kva.example", "rcpt-5xx")
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stdout + stderr
    code, stdout, stderr = cli(letter, "report", "weekly-1")
    assert code == 0, stderr
    assert "failed    jo@bücher.example: 550" in stdout
    assert "xn--" not in stdout
    code, stdout, _ = cli(letter, "report", "weekly-1", "--json")
    [row] = [r for r in map(json.loads, stdout.splitlines()) if r["kind"] == "delivery"]
    assert row["email"] == "jo@xn--bcher-kva.example"  # JSON: the stored form


def test_status_and_report_write_times_for_people(letter: Site, server: SmtpServer) -> None:
    letter.configure(config(server.port, extra="wait_for_retries = 0"))
    server.set_fault("busy@example.org", "rcpt-4xx")
    assert cli(letter, "send", "weekly", "--yes", "--offline")[0] == 3
    stdout = cli(letter, "status", "--json")[1]
    [sent] = json.loads(stdout)["sends"]
    status_text = cli(letter, "status")[1]
    report_text = cli(letter, "report", "weekly-1")[1]
    for text in (status_text, report_text):
        assert not re.search(r"\d:\d\d\.\d+", text), text  # no microseconds
        assert not re.search(r"\dT\d", text), text  # no ISO 8601 "T"
    assert f"started {shown(sent['started'])}" in status_text
    assert f"next retry {shown(sent['next_retry'])}" in status_text
    assert f"next {shown(sent['next_retry'])}" in report_text


def test_nothing_new_connects_to_nobody_and_says_so(letter: Site, server: SmtpServer) -> None:
    letter.configure(config(server.port))
    assert cli(letter, "send", "weekly", "--yes", "--offline")[0] == 0
    connections = server.connections
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stdout + stderr
    assert "nothing new since the last digest; nothing sent" in stdout
    assert "connecting to" not in stderr  # it does not announce a connection it never makes
    assert server.connections == connections


def test_a_send_into_a_log_writes_no_blank_lines(letter: Site, server: SmtpServer) -> None:
    # stderr is no terminal here (cron, systemd, `2> log`): the progress bar is not drawn,
    # and leaves no empty line behind.
    letter.configure(config(server.port))
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline")
    assert code == 0, stdout + stderr
    assert "" not in stderr.splitlines(), repr(stderr)


def test_a_test_copy_that_could_not_go_says_not_sent(letter: Site) -> None:
    # Test copies are recorded nowhere and never retried: "deferred" would promise a retry.
    port = closed_port()
    letter.configure(config(port))
    code, stdout, stderr = cli(letter, "send", "weekly", "--offline", "--to", "me@example.net")
    assert code == 1, stdout + stderr
    assert (
        f"to me@example.net: not sent (cannot connect to 127.0.0.1:{port}: Connection refused)"
        in stdout
    )
    assert "deferred" not in stdout + stderr


def test_a_template_mistake_stops_the_send_before_it_connects(letter: Site) -> None:
    folder = letter.root / "templates"
    folder.mkdir()
    (folder / "digest.txt.j2").write_text("{{ unsubscribe_url }} {{ digest.nope.x }}\n")
    code, stdout, stderr = cli(letter, "send", "weekly", "--offline", "--yes")
    assert code == 1, stdout + stderr
    assert "error: templates/digest.txt.j2:1: " in stderr
    assert "connecting to" not in stderr  # nothing was going to be sent: say only why
    assert ledger(letter) == {}


def test_a_worker_stops_at_a_closed_port_and_marks_nothing(letter: Site) -> None:
    port = closed_port()
    letter.configure(config(port))
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline", "--workers")
    assert code == 0, stdout + stderr
    code, stdout, stderr = cli(letter, "worker", "--once", "--json")
    assert code == 1, stdout + stderr
    assert f"error: cannot connect to 127.0.0.1:{port}: Connection refused" in stderr
    assert json.loads(stdout)["error"].startswith("cannot connect")
    assert ledger(letter) == {"queued": len(READERS)}

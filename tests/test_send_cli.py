"""Issue 12, items 16 and 17 for sending: Ctrl-C says how to resume and exits 130 without a
traceback; waits are announced; exit statuses are documented; every sending command's
`--json` is one JSON object (JSON Lines for `report`). Real parts: a `syndicate send`
process interrupted with SIGINT, an aiosmtpd server with slow or refusing recipients."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Policy, Sender, SendReport
from syndicate.delivery.setup import make_transport
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
READERS = [f"reader{i}@example.org" for i in range(6)]


def config(port: int) -> str:
    # A fixed pool of one: a loaded machine's slow EHLO must not pass for a far relay that
    # starts wider (the Ctrl-C test counts the copies in flight).
    return weekly_site_config(
        port, connections=1, max_connections=1, timeout=10, wait_for_retries=0
    )


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


@pytest.fixture
def letter(site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(config(server.port))
    site.write("a.md", "---\ntitle: Alpha\ndate: 2026-11-01T08:00:00Z\n---\n\nText.\n")
    csv = "email,name\n" + "".join(f"{a},\n" for a in READERS)
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    joined = datetime(2026, 10, 1, tzinfo=UTC)
    assert not import_rows(site.engine, "weekly", rows, now=joined).problems
    return site


def test_ctrl_c_finishes_the_message_in_flight_says_how_to_resume_and_exits_130(
    letter: Site, server: SmtpServer
) -> None:
    server.set_fault("*", "slow-rcpt", delay=1.0)  # every copy takes a second
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": SECRET}
    command = ["send", "weekly", "--yes", "--offline"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--site", str(letter.root), *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    limit = time.monotonic() + 60
    while server.connections == 0:  # delivering: the first copy is on the wire
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < limit, "the send never connected"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = (b.decode() for b in proc.communicate(timeout=60))
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "run `syndicate send weekly` to resume" in stderr
    got = len(server.messages)
    assert got < len(READERS)  # it stopped early...

    with server.handler._lock:
        server.handler._faults.clear()
    code, stdout, stderr = cli(letter, "send", "weekly", "--yes", "--offline", "--json")
    assert code == 0, stderr  # ...and the next send resumes where it stopped
    assert "resuming weekly-1" in stderr
    assert sorted(r for m in server.messages for r in m.recipients) == sorted(READERS)


def test_a_wait_for_retries_is_announced(letter: Site, server: SmtpServer) -> None:
    server.set_fault("reader1@example.org", "rcpt-4xx")
    waits: list[tuple[int, float]] = []
    settings = letter.settings
    articles = read_site(settings, letter.engine, now=datetime.now(UTC), offline=True).articles
    # The sender's clock moves only by the waits it announces (it then sleeps them for
    # real): the 0.5 s it may wait for retries are 0.5 s of waiting, however long a busy
    # machine takes to render and send the copies around them.
    clock = [datetime.now(UTC).replace(microsecond=123_456)]  # not a whole-second clock

    def waiting(report: SendReport, seconds: float) -> None:
        waits.append((report.counts.get("deferred", 0), seconds))
        clock[0] += timedelta(seconds=seconds)
        if clock[0].microsecond == 0:
            clock[0] += timedelta(microseconds=1)

    async def go() -> SendReport:
        transport = make_transport(settings)
        sender = Sender(
            settings,
            letter.engine,
            transport,
            Signer(SECRET),
            clock=lambda: clock[0],
            policy=Policy(
                retry_base=timedelta(milliseconds=50), wait_for_retries=timedelta(seconds=0.5)
            ),
            on_wait=waiting,
        )
        try:
            return await sender.run("weekly", articles)
        finally:
            await transport.close()

    report = asyncio.run(go())
    assert not report.finished and report.counts == {"sent": 5, "deferred": 1}
    assert waits and all(deferred == 1 and 0 <= s < 1 for deferred, s in waits)


def test_every_sending_command_prints_one_json_object(letter: Site) -> None:
    for args in (
        ("send", "weekly", "--dry-run", "--json", "--offline"),
        ("send", "weekly", "--yes", "--json", "--offline"),
        ("status", "--json"),
        ("sends", "--json"),
        ("sends", "weekly", "--json"),
        ("sends", "--json", "weekly"),
        ("sends", "--limit", "5", "weekly", "--json"),
    ):
        code, stdout, stderr = cli(letter, *args)
        assert code == 0, (args, stderr)
        assert isinstance(json.loads(stdout), dict), args  # one document, never a bare list
    code, stdout, stderr = cli(letter, "sends", "--json", "nosuchlist")
    assert code == 2 and "nosuchlist" in stderr
    code, stdout, _ = cli(letter, "report", "weekly-1", "--json")
    # JSON Lines: the send's own line (never 0 bytes), and no recipient who missed it
    [summary] = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0 and summary["kind"] == "send" and summary["digest"] == "weekly-1"
    assert summary["feedback"]["bounces"] == 0 and summary["counts"]["sent"] >= 1


def test_send_help_documents_every_exit_status(letter: Site) -> None:
    code, stdout, _ = cli(letter, "send", "--help")
    assert code == 0
    for status in ("0 sent", "1 error", "2 invalid configuration", "3 sent, but", "130 stopped"):
        assert status in " ".join(stdout.split()), status
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "3 sent, but some copies were deferred" in readme
    assert "130 stopped with Ctrl-C" in readme

"""What a real ``syndicate run`` writes to its log: what happened, in its own words.

Failed confirmation mails are logged as failures (with the address and the server's reply)
and shown by ``status``; a stop during a poll logs no traceback; library loggers (APScheduler,
uvicorn) do not speak in their own words or format.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from syndicate.cli import main
from tests.conftest import BASE_CONFIG, Site
from tests.httpserver import serve
from tests.smtpserver import serve_smtp, weekly_site_config
from tests.test_run import EXIT_WITHIN, Running

SLOW_FEED = 12.0  # seconds the source takes to answer: longer than the 10 s poll interval
RSS = (
    b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>F</title>"
    b"<item><guid>a</guid><title>Slow one</title><description>Text.</description></item>"
    b"</channel></rss>"
)


@pytest.fixture
def started() -> Iterator[list[Running]]:
    procs: list[Running] = []
    yield procs
    for p in procs:  # a failed test must not leave a server behind
        p.kill()


def _wait_for(running: Running, text: str, within: float = 30.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        log = running.log.read_text()
        if text in log:
            return log
        time.sleep(0.1)
    pytest.fail(f"{text!r} not logged within {within} s; log: {running.log.read_text()}")


def test_failed_confirmation_mails_are_logged_as_failures_and_shown_by_status(
    site: Site, started: list[Running], tmp_path: Path
) -> None:
    with serve_smtp(smtputf8=False) as smtp:
        site.configure(weekly_site_config(smtp.port))
        running = Running(site, tmp_path / "run.log")
        started.append(running)
        smtp.set_fault("bob@busy.example", "rcpt-4xx")
        said = {
            "üser@example.com": "failed: refused",
            "ann@example.org": "outbox: 1 sent\n",
            "bob@busy.example": "deferred: ",
        }
        for email, line in said.items():  # one at a time: one outbox round each
            form = {"email": email, "list": "weekly"}
            url = f"http://127.0.0.1:{running.port}/subscribe"
            answer = httpx.post(url, data=form, timeout=10)
            assert answer.status_code == 200, answer.text
            _wait_for(running, line)
        assert running.stop() == 0
    log = running.log.read_text()
    assert (
        "WARNING outbox: mail to üser@example.com failed: "
        "refused: SMTPUTF8 is not supported by this server" in log
    ), log
    assert "INFO outbox: 1 sent\n" in log, log
    assert re.search(
        r"WARNING outbox: mail to bob@busy\.example deferred: 451 4\.3\.0 Mailbox busy, try again "
        r"later; retrying at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n",
        log,
    ), log
    assert log.count("outbox: 0 sent, 1 failed\n") == 1, log
    assert log.count("outbox: 0 sent, 1 deferred\n") == 1, log
    assert "messages" not in log, log
    assert "token=" not in log and "/confirm" not in log, log  # no link in the log

    shown = CliRunner().invoke(main, ["--site", str(site.root), "status"])
    assert shown.exit_code == 0, shown.output
    assert (
        "outbox: 1 mail failed in the last 7 days (confirmations, welcomes, editors' "
        "previews; last: refused: SMTPUTF8 is not supported by this server)" in shown.output
    ), shown.output
    as_json = CliRunner().invoke(main, ["--site", str(site.root), "status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.output)["outbox"]
    assert doc["failed"] == 1 and doc["days"] == 7, doc
    assert doc["last_reply"] == "refused: SMTPUTF8 is not supported by this server", doc


def test_an_overrun_poll_is_said_in_our_words_and_a_stop_during_it_logs_no_traceback(
    site: Site, started: list[Running], tmp_path: Path
) -> None:
    with serve() as feeds:
        feeds.route("/slow", body=RSS, delay=SLOW_FEED)
        config = BASE_CONFIG.format(db=site.db_url).replace(
            'folder = "content"\n', 'folder = "content"\npoll_interval = 10\n'
        )
        config += (
            '\n[[content.sources]]\ntype = "feed"\nname = "slow"\n'
            f'url = "{feeds.url("/slow")}"\nallow_private = true\n'
        )
        (site.root / "syndicate.toml").write_text(config, encoding="utf-8")
        running = Running(site, tmp_path / "run.log")
        started.append(running)
        # the first poll still waits for the source when the second one is due
        _wait_for(running, "poll: still running the previous poll; skipped this one", 30)
        running.proc.send_signal(signal.SIGINT)  # Ctrl-C, during the poll
        assert running.proc.wait(timeout=EXIT_WITHIN) == 0, running.log.read_text()
        running.close()
    log = running.log.read_text()
    assert "Traceback" not in log and "CancelledError" not in log, log
    assert "raised an exception" not in log, log
    assert "maximum number of running instances" not in log, log
    assert "stopping: waiting up to 30 s for 1 running job (poll)\n" in log, log
    lines = log.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ", x) for x in lines), log

"""What a real ``syndicate run`` writes to its log: what happened, in its own words.

Failed confirmation mails are logged as failures (with the address and the server's reply)
and shown by ``status``; a stop during a poll logs no traceback; library loggers (APScheduler,
uvicorn) do not speak in their own words or format.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from syndicate.cli import main
from tests.conftest import Site
from tests.smtpserver import serve_smtp, weekly_site_config
from tests.test_run import Running


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
        for email in ("üser@example.com", "ann@example.org"):
            form = {"email": email, "list": "weekly"}
            url = f"http://127.0.0.1:{running.port}/subscribe"
            answer = httpx.post(url, data=form, timeout=10)
            assert answer.status_code == 200, answer.text
            _wait_for(running, "outbox: ")
        _wait_for(running, "outbox: 1 sent")
        assert running.stop() == 0
    log = running.log.read_text()
    assert (
        "WARNING outbox: mail to üser@example.com failed: "
        "refused: SMTPUTF8 is not supported by this server" in log
    ), log
    assert "INFO outbox: 1 sent\n" in log, log
    assert "outbox: 0 sent, 1 failed" in log, log
    assert "messages" not in log, log
    assert "token=" not in log and "/confirm" not in log, log  # no link in the log

    shown = CliRunner().invoke(main, ["--site", str(site.root), "status"])
    assert shown.exit_code == 0, shown.output
    assert (
        "outbox: 1 confirmation mail failed in the last 7 days "
        "(last: refused: SMTPUTF8 is not supported by this server)" in shown.output
    ), shown.output
    as_json = CliRunner().invoke(main, ["--site", str(site.root), "status", "--json"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.output)["outbox"]
    assert doc["failed"] == 1 and doc["days"] == 7, doc
    assert doc["last_reply"] == "refused: SMTPUTF8 is not supported by this server", doc

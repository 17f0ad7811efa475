"""``syndicate run`` as a real process: it listens, serves feeds, lets only one instance
schedule, and exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from click.testing import CliRunner

from syndicate.cli import main
from tests.conftest import Site
from tests.httpserver import serve

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-0123456789abcdef"
CONFIG = """
[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"

[lists.weekly]
title = "Weekly"
schedule = "0 7 * * mon"
timezone = "Europe/Berlin"
"""
START = re.compile(r"listening on http://127\.0\.0\.1:(\d+); (.*)")
EXIT_WITHIN = 40.0  # the drain waits up to 30 s for sends; none run here


class Running:
    """One ``syndicate run`` subprocess and its start line."""

    def __init__(self, site: Site, log: Path) -> None:
        env = {**os.environ, "SYNDICATE_SECRET": SECRET, "PYTHONPATH": str(REPO)}
        self.log = log
        with log.open("wb") as err:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syndicate", "--site", str(site.root), "run", "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        line = self._line(timeout=30.0)
        found = START.search(line)
        assert found, f"unexpected start line {line!r}; log: {log.read_text()}"
        self.port, self.role = int(found[1]), found[2]

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self.kill()
                pytest.fail(f"no start line within {timeout} s; log: {self.log.read_text()}")
        return self.proc.stdout.readline().decode()

    def stop(self) -> int:
        """SIGTERM, then the exit status (killed and failed when it takes too long)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=EXIT_WITHIN)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"no exit within {EXIT_WITHIN} s of SIGTERM; log: {self.log.read_text()}")
        finally:
            self.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close()

    def close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def publication(site: Site) -> Site:
    site.configure(CONFIG)
    stamp = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write("hello.md", f"---\ntitle: Hello run\ndate: {stamp}\n---\n\nText.\n")
    return site


@pytest.fixture
def started(publication: Site, tmp_path: Path) -> Iterator[list[Running]]:
    procs: list[Running] = []
    yield procs
    for p in procs:  # a failed test must not leave a server behind
        p.kill()


def test_run_serves_feeds_and_stops_cleanly_on_sigterm(
    publication: Site, started: list[Running], tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["--site", str(publication.root), "build", "--offline"])
    assert result.exit_code == 0, result.output
    first = Running(publication, tmp_path / "first.log")
    started.append(first)
    assert first.port > 0
    assert first.role.startswith("scheduling: weekly next ")
    assert re.search(r"weekly next \d{4}-\d\d-\d\d 07:00 CES?T", first.role), first.role

    response = httpx.get(f"http://127.0.0.1:{first.port}/feeds/rss.xml", timeout=10)
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert [e.title for e in feed.entries] == ["Hello run"]

    second = Running(publication, tmp_path / "second.log")
    started.append(second)
    assert second.port != first.port
    assert second.role.startswith(
        f"not scheduling: the scheduler is held by {os.uname().nodename}:{first.proc.pid}"
    ), second.role
    # it serves the web app all the same
    assert httpx.get(f"http://127.0.0.1:{second.port}/feeds/rss.xml", timeout=10).is_success

    began = time.monotonic()
    assert first.stop() == 0, first.log.read_text()
    assert second.stop() == 0, second.log.read_text()
    assert time.monotonic() - began < 2 * EXIT_WITHIN


def test_run_exits_with_an_error_when_the_port_is_taken(
    publication: Site, started: list[Running], tmp_path: Path
) -> None:
    first = Running(publication, tmp_path / "first.log")
    started.append(first)
    env = {**os.environ, "SYNDICATE_SECRET": SECRET, "PYTHONPATH": str(REPO)}
    args = ["--site", str(publication.root), "run", "--port", str(first.port)]
    taken = subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        capture_output=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert taken.returncode == 1
    assert f"cannot listen on 127.0.0.1:{first.port}" in taken.stderr.decode()
    assert first.stop() == 0


def test_the_run_log_says_what_run_does_not_each_http_request(
    publication: Site, started: list[Running], tmp_path: Path
) -> None:
    # httpx logs every request at INFO: 15 "HTTP Request: POST …/hub" lines per build.
    with serve() as hub:
        hub.route("/hub", status=204, content_type="text/plain")
        publication.configure(CONFIG + f'\n[feeds]\nhub = "{hub.url("/hub")}"\n')
        running = Running(publication, tmp_path / "run.log")
        started.append(running)
        deadline = time.monotonic() + 30
        while len(hub.requests_for("/hub")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(hub.requests_for("/hub")) == 3  # rss, atom, json: the first build pinged
        form = {"email": "ann@example.org", "list": "weekly"}
        answer = httpx.post(f"http://127.0.0.1:{running.port}/subscribe", data=form, timeout=10)
        assert answer.status_code == 200, answer.text
        new = publication.root / "maildir" / "new"
        while not (new.is_dir() and any(new.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert running.stop() == 0
    log = running.log.read_text()
    assert "HTTP Request:" not in log, log
    # and in words: "1 article", "1 sent" (not "1 articles", "1 messages")
    assert "poll: 1 article, 3 feed files written, 0 removed, 0 problems" in log, log
    assert "outbox: 1 sent\n" in log, log


def test_the_outbox_doorbell_rings_from_the_loop_and_from_threads() -> None:
    from syndicate.service.run import Wake

    async def go() -> None:
        wake = Wake()
        wake()  # from the event loop, as an async endpoint calls it
        assert wake.is_set()
        wake.clear()
        waiting = asyncio.create_task(wake.wait())
        await asyncio.sleep(0)
        await asyncio.to_thread(wake)  # from a worker thread, as a sync endpoint calls it
        await asyncio.wait_for(waiting, 10)

    failures: list[BaseException] = []

    def main() -> None:
        try:  # debug: touching the loop from another thread raises (and can wedge the loop)
            asyncio.run(go(), debug=True)
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=main, daemon=True)
    runner.start()
    runner.join(30)
    assert not runner.is_alive() and not failures, failures


def test_a_poll_that_changed_nothing_is_not_logged_at_info(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Every poll_interval for a year: only polls that wrote, removed or found something
    reach the log at INFO."""
    from syndicate.service.work import Work
    from syndicate.subscribers.tokens import Signer

    site.write("a.md", "---\ntitle: A\ndate: 2026-01-01T08:00:00Z\n---\n\nBody.\n")

    async def go() -> list[str]:
        work = Work(site.settings, site.engine, Signer("test-secret-0123456789abcdef"))
        with caplog.at_level(logging.INFO, logger="syndicate.service.work"):
            await work.poll()
            await work.poll()  # nothing changed since
        work.stop()
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("poll:")]

    assert asyncio.run(go()) == ["poll: 1 article, 3 feed files written, 0 removed, 0 problems"]

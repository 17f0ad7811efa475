"""Retrial B5: a send waiting for a deferred copy wakes about once when it is due, not dozens
of times. The CLI's clock drops the fraction of a second while retry times keep it, so the
wait came out a few milliseconds long and repeated until the clock's second ticked over."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from syndicate.content.reader import read_site
from syndicate.delivery.engine import Policy, Sender, SendReport
from syndicate.delivery.policy import MIN_REWAIT, retry_wait
from syndicate.delivery.setup import make_transport
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"
READERS = [f"reader{i}@example.org" for i in range(3)]


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def whole_seconds() -> datetime:
    """The clock `syndicate send` uses."""
    return datetime.now(UTC).replace(microsecond=0)


def test_a_wait_by_a_whole_second_clock_lasts_until_that_clock_reads_the_retry() -> None:
    now = datetime(2026, 12, 1, 15, 21, 43, tzinfo=UTC)  # the real time may be 43.9
    assert retry_wait(now + timedelta(milliseconds=35), now, again=False) == 1.0
    assert retry_wait(now + timedelta(seconds=2.2), now, again=False) == 3.0
    fine = now + timedelta(microseconds=1)
    assert retry_wait(fine + timedelta(milliseconds=35), fine, again=False) == 0.035
    assert retry_wait(now - timedelta(seconds=1), now, again=False) == 0.0
    # the same retry found not due again: never a busy loop
    assert retry_wait(fine + timedelta(milliseconds=1), fine, again=True) == MIN_REWAIT


def test_a_deferred_copy_is_retried_after_a_few_wakeups(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = any_site
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(weekly_site_config(server.port, connections=1, timeout=10, wait_for_retries=0))
    site.write("a.md", "---\ntitle: Alpha\ndate: 2026-11-01T08:00:00Z\n---\n\nText.\n")
    csv = "email,name\n" + "".join(f"{a},\n" for a in READERS)
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    assert not import_rows(
        site.engine, "weekly", rows, now=datetime(2026, 10, 1, tzinfo=UTC)
    ).problems
    server.set_fault("reader1@example.org", "rcpt-4xx")
    settings = site.settings
    articles = read_site(settings, site.engine, now=datetime.now(UTC), offline=True).articles
    waits: list[float] = []

    def on_wait(report: SendReport, seconds: float) -> None:
        waits.append(seconds)
        with server.handler._lock:  # the next try goes through
            server.handler._faults.clear()

    # Start just after a second ticked: the retry (25-75 ms on) is due within this second
    # by the real time, but not by the whole-second clock until the next one.
    time.sleep(1 - time.time() % 1)

    async def go() -> SendReport:
        transport = make_transport(settings)
        sender = Sender(
            settings,
            site.engine,
            transport,
            Signer(SECRET),
            clock=whole_seconds,
            policy=Policy(
                retry_base=timedelta(milliseconds=50), wait_for_retries=timedelta(seconds=20)
            ),
            on_wait=on_wait,
        )
        try:
            return await sender.run("weekly", articles)
        finally:
            await transport.close()

    report = asyncio.run(go())
    assert report.finished and report.counts == {"sent": 3}
    assert 1 <= len(waits) <= 3, waits

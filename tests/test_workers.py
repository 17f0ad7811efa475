"""`syndicate worker`: several processes drain one send through leased claims of the ledger."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender
from syndicate.delivery.policy import Policy
from syndicate.delivery.setup import make_transport
from syndicate.delivery.worker import Worker
from syndicate.store import deliveries as ledger
from syndicate.store import sends as send_repo
from syndicate.store.sends import SendStatus
from syndicate.store.tables import deliveries, digests, subscribers
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import PG_URL, Site
from tests.smtpserver import SmtpServer, serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
CONNECTIONS = 2  # per worker


def config(port: int) -> str:
    # a fixed pool (max_connections = connections): the duplicates a kill may cause are
    # bounded by the copies in flight, one per connection
    return weekly_site_config(
        port, connections=CONNECTIONS, max_connections=CONNECTIONS, timeout=10, workers=True
    )


def wall() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def prepare_site(site: Site, server: SmtpServer, readers: list[str]) -> None:
    site.configure(config(server.port))
    stamp = (wall() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write("news.md", f"---\ntitle: News\ndate: {stamp}\n---\n\nText.\n")
    csv = "email,name\n" + "".join(f"{a},Reader\n" for a in readers)
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    report = import_rows(site.engine, "weekly", rows, now=wall() - timedelta(days=30))
    assert report.subscribed == len(readers)


def statuses(site: Site) -> Counter[str]:
    stmt = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    with site.engine.connect() as conn:
        return Counter({s: int(n) for s, n in conn.execute(stmt)})


def queue_send(site: Site) -> None:
    """What `syndicate send --workers` does: record the digest and its ledger, send nothing."""
    settings = site.settings
    articles = read_site(settings, site.engine, now=wall(), offline=True).articles
    sender = Sender(settings, site.engine, make_transport(settings), Signer(SECRET), clock=wall)
    report = asyncio.run(sender.run("weekly", articles, deliver=False))
    assert not report.finished and report.counts == {"queued": statuses(site)["queued"]}


def test_a_worker_delivers_a_queued_send_and_finishes_it(
    any_site: Site, server: SmtpServer
) -> None:
    readers = [f"r{i}@example.org" for i in range(40)]
    prepare_site(any_site, server, readers)
    queue_send(any_site)
    assert server.messages == []  # queued only
    settings = any_site.settings

    async def work() -> int:
        transport = make_transport(settings)
        worker = Worker(
            settings,
            any_site.engine,
            transport,
            Signer(SECRET),
            clock=wall,
            policy=Policy(connections=CONNECTIONS),
        )
        try:
            return (await worker.run(once=True)).answered
        finally:
            await transport.close()

    assert asyncio.run(work()) == len(readers)
    assert Counter(r for m in server.messages for r in m.recipients) == Counter(readers)
    with any_site.engine.connect() as conn:
        assert send_repo.sends_in(conn, SendStatus.SENDING) == []
        assert conn.scalar(select(digests.c.sent_at)) is not None
    assert asyncio.run(work()) == 0  # nothing left: nobody mailed twice


def test_rows_leased_by_a_claimer_elsewhere_wait_for_the_lease(any_site: Site) -> None:
    readers = [f"r{i}@example.org" for i in range(10)]
    with serve_smtp() as server:
        prepare_site(any_site, server, readers)
        queue_send(any_site)
    now = wall()
    lease = timedelta(seconds=30)
    with any_site.engine.begin() as conn:
        (send,) = send_repo.sends_in(conn, SendStatus.SENDING)
        mine = ledger.claim(conn, send.id, "weekly", "elsewhere:1", now=now, lease=lease, limit=4)
        assert len(mine) == 4
        other = ledger.claim(conn, send.id, "weekly", "here:2", now=now, lease=lease, limit=100)
        assert len(other) == 6 and not {r.subscriber_id for r in mine} & {
            r.subscriber_id for r in other
        }
        # The first claimer died on another machine: its rows come free when the lease ends.
        later = now + lease + timedelta(seconds=1)
        again = ledger.claim(conn, send.id, "weekly", "here:2", now=later, lease=lease, limit=100)
        assert {r.subscriber_id for r in again} == {r.subscriber_id for r in mine} | {
            r.subscriber_id for r in other
        }


def start_worker(site: Site) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--site", str(site.root), "worker", "--idle", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.skipif(not PG_URL and not os.environ.get("CI"), reason="needs PostgreSQL")
def test_three_workers_one_killed_deliver_everything_once(
    tmp_path: Path, pg_url: str, server: SmtpServer
) -> None:
    readers = [f"reader{i:04d}@example.org" for i in range(3000)]
    site = Site(tmp_path / "site", pg_url)
    try:
        # A few ms per message so that the kill lands mid-send.
        server.set_fault("*", "slow-data", 0.003)
        prepare_site(site, server, readers)
        queue_send(site)
        workers = [start_worker(site) for _ in range(3)]
        try:
            deadline = time.monotonic() + 60
            while len(server.messages) < 300:
                assert time.monotonic() < deadline, "workers made no progress"
                assert all(w.poll() is None for w in workers)
                time.sleep(0.01)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            killed_at = len(server.messages)
            while statuses(site) != Counter({"sent": len(readers)}):
                assert time.monotonic() < deadline + 60, statuses(site)
                time.sleep(0.1)
            for w in workers[1:]:
                w.send_signal(signal.SIGTERM)
            for w in workers[1:]:
                assert w.wait(30) == 0, w.communicate()
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                w.communicate()
        got = Counter(r for m in server.messages for r in m.recipients)
        assert killed_at < len(readers), "the kill came too late to test anything"
        assert not [a for a in readers if got[a] == 0], "someone never got the digest"
        assert set(got) == set(readers)
        duplicates = sum(n - 1 for n in got.values())
        assert duplicates <= CONNECTIONS, duplicates  # the dead worker's messages in flight
        with site.engine.connect() as conn:
            assert send_repo.sends_in(conn, SendStatus.SENDING) == []
    finally:
        site.close()


def test_the_ledger_holds_each_subscribers_topic_set(any_site: Site, server: SmtpServer) -> None:
    prepare_site(any_site, server, ["plain@example.org"])
    stamp = (wall() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    any_site.write("news.md", f"---\ntitle: News\ndate: {stamp}\ntags: [trade]\n---\n\nText.\n")
    rows = read_rows(
        io.BytesIO(b"email,topics\nt@example.org,Trade\nte@example.org,trade;Energy\n"), "t.csv"
    )
    import_rows(any_site.engine, "weekly", rows, now=wall() - timedelta(days=30))
    queue_send(any_site)
    stmt = select(subscribers.c.email, deliveries.c.variant).join(
        subscribers, subscribers.c.id == deliveries.c.subscriber_id
    )
    with any_site.engine.connect() as conn:
        got = dict(conn.execute(stmt).all())
    assert got == {
        "plain@example.org": "[]",
        "t@example.org": '["trade"]',
        "te@example.org": '["energy", "trade"]',
    }

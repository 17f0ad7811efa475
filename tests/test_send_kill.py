"""``syndicate send`` killed with SIGKILL at random moments, resumed each time, then finished:
nobody is missed, duplicates stay within the messages in flight, and the ledger ends all sent."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from syndicate.store.tables import deliveries
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"
READERS = 6000
CONNECTIONS = 4
MAX_CONNECTIONS = 32  # [smtp] max_connections' default, given here to bound duplicates by
KILLS = 5
ROOT = Path(__file__).resolve().parents[1]


def config(port: int) -> str:
    # The pool starts at CONNECTIONS (split over the two processes) and may grow up to
    # MAX_CONNECTIONS (adaptive concurrency; on a busy machine a slow loopback can look like
    # a far relay), so at most MAX_CONNECTIONS copies are in flight at a kill. The ceiling
    # also decides the spread: helpers only pay when MAX_CONNECTIONS / (2 x EHLO time) beats
    # one process (an EHLO under 16 ms); pinning it to CONNECTIONS would need one under 2 ms,
    # which a loaded CI machine's loopback does not always give.
    return weekly_site_config(
        port, connections=CONNECTIONS, max_connections=MAX_CONNECTIONS, processes=2, timeout=10
    )


def start(site: Site) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": SECRET}
    command = ["send", "weekly", "--yes", "--offline", "--json"]
    return subprocess.Popen(
        [sys.executable, "-m", "syndicate", "--site", str(site.root), *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_progress(server: SmtpServer, proc: subprocess.Popen[bytes], since: int) -> None:
    """Until the server accepted more messages than ``since`` (the process must still run)."""
    limit = time.monotonic() + 60
    while len(server.messages) <= since:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < limit, "no progress within 60 s"
        time.sleep(0.01)


def statuses(site: Site) -> Counter[str]:
    stmt = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    with site.engine.connect() as conn:
        return Counter({s: int(n) for s, n in conn.execute(stmt)})


def test_send_survives_kill_9(site: Site) -> None:
    rng = random.Random(20261127)
    readers = [f"reader{i:04d}@example.org" for i in range(READERS)]
    with serve_smtp() as server:
        # A few ms per message: slow enough to be killed mid-send, fast enough to spread
        # the send over a helper process (each kill also kills the helper).
        server.set_fault("*", "slow-data", 0.004)
        site.configure(config(server.port))
        stamp = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        site.write("news.md", f"---\ntitle: News\ndate: {stamp}\n---\n\nText.\n")
        csv = "email,name\n" + "".join(f"{a},Reader\n" for a in readers)
        report = import_rows(
            site.engine,
            "weekly",
            read_rows(io.BytesIO(csv.encode()), "in.csv"),
            now=datetime.now(UTC) - timedelta(days=30),
        )
        assert report.subscribed == READERS and not report.problems

        kills = 0
        seen = 0
        while kills < KILLS:
            proc = start(site)
            wait_for_progress(server, proc, seen)
            time.sleep(rng.uniform(0.05, 0.5))
            if proc.poll() is not None:  # finished before the kill: too fast to test anything
                pytest.fail(f"send finished before kill {kills + 1}: {proc.communicate()}")
            proc.send_signal(signal.SIGKILL)
            proc.communicate()  # reaps it and closes the pipes
            assert proc.returncode == -signal.SIGKILL
            kills += 1
            time.sleep(0.1)  # messages whose data was on the wire at the kill land now
            seen = len(server.messages)
            time.sleep(0.3)  # a helper process that outlived its parent would go on sending
            assert len(server.messages) == seen, "mail left after the sender was killed"
        assert seen < READERS, "the kills came too late to interrupt anything"

        proc = start(site)
        stdout, stderr = proc.communicate(timeout=90)
        assert proc.returncode == 0, stderr.decode()
        assert b'"resumed": true' in stdout and b'"finished": true' in stdout
        assert b'"processes": 2' in stdout  # the rest was spread over a helper process

        got = Counter(r for m in server.messages for r in m.recipients)
    missing = [a for a in readers if got[a] == 0]
    assert not missing, f"{len(missing)} never got the digest, e.g. {missing[:5]}"
    assert set(got) == set(readers)
    duplicates = sum(n - 1 for n in got.values())
    assert duplicates <= MAX_CONNECTIONS * kills, (duplicates, kills)  # in flight at each kill
    assert statuses(site) == Counter({"sent": READERS})

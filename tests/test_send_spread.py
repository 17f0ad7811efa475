"""How many processes a large send uses: helpers only where the CPU, not the round trips,
would be the bound (``Sender._processes``). Real CLI, real aiosmtpd server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate.delivery.spread import SPREAD_MIN
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from tests.conftest import Site
from tests.smtpserver import serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"
READERS = SPREAD_MIN + 200
ROOT = Path(__file__).resolve().parents[1]


def send(site: Site) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": SECRET}
    command = ["send", "weekly", "--yes", "--offline", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "syndicate", "--site", str(site.root), *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    report: dict[str, object] = json.loads(proc.stdout)
    return report


@pytest.mark.parametrize(("ehlo_delay", "processes"), [(0.0, 2), (0.1, 1)])
def test_a_large_send_spreads_only_to_a_near_relay(
    site: Site, ehlo_delay: float, processes: int
) -> None:
    readers = [f"reader{i:04d}@example.org" for i in range(READERS)]
    with serve_smtp(pipelining=True) as server:
        # 100 ms per EHLO: a relay 100 ms away (the messages themselves go at loopback speed,
        # so the test stays short); 32 connections there carry at most 160 msg/s: one process.
        server.ehlo_delay = ehlo_delay
        site.configure(weekly_site_config(server.port, processes=2, timeout=10))
        stamp = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        site.write("news.md", f"---\ntitle: News\ndate: {stamp}\n---\n\nText.\n")
        csv = "email,name\n" + "".join(f"{a},Reader\n" for a in readers)
        imported = import_rows(
            site.engine,
            "weekly",
            read_rows(io.BytesIO(csv.encode()), "in.csv"),
            now=datetime.now(UTC) - timedelta(days=30),
        )
        assert imported.subscribed == READERS and not imported.problems
        report = send(site)
        got = Counter(r for m in server.messages for r in m.recipients)
    assert report["processes"] == processes
    assert report["finished"] is True
    assert got == Counter(readers)  # each exactly once, however many processes

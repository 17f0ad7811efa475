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


def spread_send(site: Site, ehlo_delay: float) -> int:
    """A send of READERS copies to a relay answering EHLO after ``ehlo_delay``: each reader
    gets exactly one; the processes it used."""
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
    assert report["finished"] is True
    assert got == Counter(readers)  # each exactly once, however many processes
    processes = report["processes"]
    assert isinstance(processes, int)
    return processes


def test_a_large_send_to_a_far_relay_stays_in_one_process(site: Site) -> None:
    assert spread_send(site, ehlo_delay=0.1) == 1


def test_a_large_send_to_a_near_relay_spreads(site: Site, tmp_path: Path) -> None:
    # Loopback answers an EHLO in about a millisecond, far under the 16 ms that make a
    # relay near; a busy machine (two test workers on two cores, the send's process server
    # starting) can still stall the one EHLO that is timed, and a stalled EHLO reads as far.
    # So a send that stayed in one process is tried again on a new site (twice at most):
    # a near relay gets a spread send on one of them at least.
    used = [spread_send(site, ehlo_delay=0.0)]
    while used[-1] == 1 and len(used) < 3:
        again = Site(tmp_path / f"again{len(used)}", f"sqlite:///{tmp_path}/again{len(used)}.db")
        try:
            used.append(spread_send(again, ehlo_delay=0.0))
        finally:
            again.close()
    assert used[-1] == 2, used

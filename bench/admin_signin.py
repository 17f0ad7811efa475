"""Benchmark the admin sign-in: how long a refused attempt takes for a wrong password and
for an unknown name (they must not differ: no enumeration of accounts by timing), and a
right one, against a real uvicorn on 127.0.0.1.

    python bench/admin_signin.py [--runs 30]

Each attempt is a fresh client (GET the form, POST it); the clock that the backoff reads is
moved an hour between attempts, so no attempt is held back. Reported: the median and the
quartiles of the POST's wall time per kind, and the ratio unknown / wrong.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from syndicate.subscribers.tokens import Signer
from syndicate.web import create_app
from tests.admintools import ADMIN_SECRET, PASSWORD, add_admin, csrf_of, live_server
from tests.conftest import Site
from tests.test_web import Clock


def _attempt(base: str, name: str, password: str) -> tuple[float, int]:
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        form = client.get("/admin/sign-in")
        data = {"csrf": csrf_of(form.text), "name": name, "password": password, "code": ""}
        start = time.perf_counter()
        answer = client.post("/admin/sign-in", data=data)
        return time.perf_counter() - start, answer.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    os.environ["SYNDICATE_SECRET"] = ADMIN_SECRET
    with tempfile.TemporaryDirectory() as tmp:
        site = Site(
            Path(tmp) / "site",
            f"sqlite:///{tmp}/state.db",
            '\n[web]\nbase_url = "http://127.0.0.1"\n',
        )
        add_admin(site, "ed")
        clock = Clock()
        app = create_app(site.settings, site.engine, signer=Signer(ADMIN_SECRET), clock=clock)
        kinds = {
            "wrong password": ("ed", "not the password"),
            "unknown name": ("nobody", "x" * 16),
            "right password": ("ed", PASSWORD),
        }
        times: dict[str, list[float]] = {k: [] for k in kinds}
        with live_server(app) as server:
            for _ in range(args.runs):
                for kind, (name, password) in kinds.items():  # interleaved: same load for each
                    clock.advance(timedelta(hours=7))
                    took, status = _attempt(server.url, name, password)
                    assert status == (303 if kind == "right password" else 400), (kind, status)
                    times[kind].append(took)
        site.close()
    for kind, found in times.items():
        q = statistics.quantiles(found, n=4)
        print(
            f"{kind:15} median {statistics.median(found) * 1000:7.1f} ms  "
            f"(quartiles {q[0] * 1000:.1f} – {q[2] * 1000:.1f} ms, {len(found)} attempts)"
        )
    ratio = statistics.median(times["unknown name"]) / statistics.median(times["wrong password"])
    print(f"unknown / wrong: {ratio:.2f}")


if __name__ == "__main__":
    main()

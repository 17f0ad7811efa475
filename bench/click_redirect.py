"""Benchmark ``GET /c/<id>``: click redirects per second against the real web app.

    python bench/click_redirect.py [--seconds 5] [--concurrency 16] [--runs 3]
                                   [--database-url postgresql+psycopg://...]

A fresh site (SQLite by default) with one recorded send of 20 counted links; the app
``syndicate run`` serves (``create_app`` under uvicorn with run's own server config) runs in
a child process on a free port; this process drives it with ``--concurrency`` keep-alive
connections (httpx, asyncio) for ``--seconds`` per case. Cases: a counted click (lookup +
one UPDATE), a scanner's click (lookup only, not counted), an altered id (404 without
touching the store), and for scale a page that touches no store (``/test-copy/...``,
rendered from its template). Reports the median requests/s of ``--runs`` and the server's
CPU milliseconds per request (steadier on a shared machine), and checks that the
counted case counted exactly what it sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-clicks-" + "x" * 24
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SCANNER = "Mozilla/5.0 (compatible; Microsoft SafeLinks)"


def make_site(root: Path, database_url: str | None) -> tuple[int, list[str]]:
    """A site with one send of 20 recorded links; its send id and the links' ids."""
    from syndicate.config import load_settings
    from syndicate.store import open_store
    from syndicate.store.clicks import register_links
    from syndicate.store.tables import sends
    from syndicate.subscribers.clickids import ClickIds
    from syndicate.subscribers.tokens import Signer

    (root / "syndicate.toml").write_text(
        '[publication]\ntitle = "Bench"\nbase_url = "https://bench.example.org"\n'
        + (f'[database]\nurl = "{database_url}"\n' if database_url else "")
        + '[lists.weekly]\ntitle = "Weekly"\ncount_clicks = true\n',
        encoding="utf-8",
    )
    (root / "content").mkdir()
    engine = open_store(load_settings(root).database_url)
    urls = [f"https://bench.example.org/articles/{n}/" for n in range(20)]
    with engine.begin() as conn:
        started = datetime.now(UTC) - timedelta(days=1)
        row = conn.execute(
            sends.insert().values(
                list_name="weekly", digest_id="weekly-1", status="done", created_at=started
            )
        ).inserted_primary_key
        assert row is not None
        send_id = int(row[0])
        links = register_links(conn, send_id, urls)
    engine.dispose()
    ids = ClickIds(Signer(SECRET))
    return send_id, [ids.make(send_id, links[u]) for u in urls]


def serve(site: str) -> None:
    """The child: the site's app under uvicorn on a free port (printed on stdout)."""
    import socket

    import uvicorn

    from syndicate.config import load_settings
    from syndicate.service.http import server_config
    from syndicate.store import open_store
    from syndicate.subscribers.tokens import Signer
    from syndicate.web.app import create_app

    settings = load_settings(Path(site))
    engine = open_store(settings.database_url)
    app = create_app(settings, engine, signer=Signer(SECRET))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = server_config(app, settings.config.web, host="127.0.0.1", port=0)
    uvicorn.Server(config).run(sockets=[sock])


async def drive(port: int, paths: list[str], agent: str, seconds: float, concurrency: int) -> int:
    """Requests answered in ``seconds`` by ``concurrency`` workers cycling through paths."""
    done = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"user-agent": agent}, limits=limits
    ) as client:

        async def worker(offset: int) -> None:
            nonlocal done
            i = offset
            while time.perf_counter() < stop:
                answer = await client.get(paths[i % len(paths)])
                if answer.status_code not in (200, 302, 404):
                    raise SystemExit(f"unexpected {answer.status_code}: {answer.text[:200]}")
                done += 1
                i += 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (the server's: a shared machine's load
    changes requests/s, far less the CPU each request costs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def total_clicks(root: Path) -> int:
    from sqlalchemy import func, select

    from syndicate.config import load_settings
    from syndicate.store import open_store
    from syndicate.store.tables import click_links

    engine = open_store(load_settings(root).database_url)
    with engine.connect() as conn:
        found = int(conn.scalar(select(func.sum(click_links.c.clicks))) or 0)
    engine.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    root = Path(tempfile.mkdtemp(prefix="syndicate-clicks-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYNDICATE_SECRET": SECRET}
    try:
        _, ids = make_site(root, args.database_url)
        altered = [("B" if i[5] == "A" else "A").join((i[:5], i[6:])) for i in ids]
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(root)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            time.sleep(0.5)
            cases = {
                "counted click": ([f"/c/{i}" for i in ids], BROWSER),
                "scanner (not counted)": ([f"/c/{i}" for i in ids], SCANNER),
                "altered id (404)": ([f"/c/{i}" for i in altered], BROWSER),
                "baseline /test-copy page": (["/test-copy/unsubscribe"], BROWSER),
            }
            rates: dict[str, list[float]] = {name: [] for name in cases}
            cpu: dict[str, list[float]] = {name: [] for name in cases}
            counted = 0
            for run in range(args.runs):
                for name, (paths, agent) in cases.items():
                    before = cpu_seconds(child.pid)
                    n = asyncio.run(drive(port, paths, agent, args.seconds, args.concurrency))
                    used = (cpu_seconds(child.pid) - before) / n * 1000
                    if name == "counted click":
                        counted += n
                    rates[name].append(n / args.seconds)
                    cpu[name].append(used)
                    print(
                        f"run {run + 1}: {name}: {n / args.seconds:,.0f} req/s, "
                        f"server CPU {used:.2f} ms/request",
                        flush=True,
                    )
        finally:
            child.terminate()
            child.wait()
        stored = total_clicks(root)
        store = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"median of {args.runs} ({store}, {args.concurrency} connections): "
            + "; ".join(
                f"{k} {statistics.median(v):,.0f} req/s ({statistics.median(cpu[k]):.2f} ms CPU)"
                for k, v in rates.items()
            )
            + f"; clicks stored {stored:,} of {counted:,} counted requests"
        )
        if stored != counted:
            raise SystemExit("the store did not count every counted click")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark the admin pages with 1,000,000 subscribers and 200 sends (issue 17).

Target: the dashboard and a subscriber search answer in ≤ 200 ms (median), on SQLite and on
PostgreSQL.

    python bench/admin_pages.py [--subscribers 1000000] [--runs 21] [--db sqlite postgresql]

PostgreSQL is ``SYNDICATE_TEST_DATABASE_URL`` (a fresh schema, dropped at the end).

The store (``bench/admin_seed.py``, not timed): N readers over four lists (weekly 50 %,
daily 30 %, monthly 15 %, offers 5 %; one in ten on a second list), created evenly over a
year; per subscription 2 % pending, 8 % unsubscribed, 3 % bounced, 0.5 % complained, the rest
active, each change in the consent trail at its own moment. 200 sends over the year
(weekly 52, daily 104, monthly 12, offers 32), the newest a weekly send still sending (60 %
of its copies answered). Ledgers: the newest 10 finished sends and the running one have a
row per active reader of their list (what a send writes); the 189 older sends 10,000 rows
each, a sample — a full ledger for every send would be ~50 million rows, more than this
shared 2-core machine can load for a benchmark run, and no page reads an old send's ledger
(their totals are frozen in ``send_totals`` when they finish). Outcomes: 0.5 % failed,
2 % skipped, 3 % deferred once then sent; feedback on 1.15 % of the copies delivered (hard
and soft bounces, complaints, reputation refusals; one in twenty untrusted).

Measured: the median of ``--runs`` calls of each page over HTTP against the real app
(``create_app`` under uvicorn on a free port, signed in like an editor), when the admin
pages are there; else the store and shaping calls the pages make.
"""

from __future__ import annotations

import argparse
import html
import importlib
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import Engine, create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin_seed import Seeded, seed

from syndicate.service import desk as desk_service
from syndicate.store import open_store


def median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # a warm-up: the first call compiles statements and fills caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def query_level(engine: Engine, seeded: Seeded, runs: int, now: datetime) -> dict[str, float]:
    """The calls the pages make, without HTTP and templates."""
    found: dict[str, float] = {}

    def dashboard() -> object:
        with engine.connect() as conn:
            return desk_service.dashboard(conn, seeded.titles, now=now)

    found["dashboard (store + shaping)"] = median_ms(dashboard, runs)
    found.update(api_sends(engine, runs, now))
    try:
        search = importlib.import_module("syndicate.store.search")
    except ModuleNotFoundError:
        return found
    for label, kwargs in (
        ("search 'reader123456'", {"text": "reader123456", "list_name": None, "status": None}),
        ("search list=daily status=active", {"text": None, "list_name": "daily", "status": "active"}),  # noqa: E501
    ):  # fmt: skip

        def call(kw: dict[str, object] = kwargs) -> object:
            with engine.connect() as conn:
                return search.search_subscribers(conn, after=None, limit=50, **kw)

        found[label] = median_ms(call, runs)
    return found


def api_sends(engine: Engine, runs: int, now: datetime) -> dict[str, float]:
    """``GET /api/v1/sends``' store work (20 sends a page, its default): as it is now (a
    finished send's counts from ``send_totals``), and every listed ledger counted, as it
    was before (the same rows, each send's ``ledger.counts``)."""
    from syndicate.service import api_views
    from syndicate.store import sends as send_repo
    from syndicate.store.tables import sends

    def listed() -> object:
        with engine.connect() as conn:
            return api_views.recent_sends(conn, list_name=None, before=None, limit=20, now=now)

    def counted() -> object:  # before: the same page, each send's ledger counted
        with engine.connect() as conn:
            stmt = select(sends.c.id).order_by(sends.c.id.desc()).limit(20)
            rows = [send_repo.send_by_id(conn, i) for i in conn.execute(stmt).scalars()]
            return [api_views._view(conn, r, now) for r in rows if r is not None]

    return {
        "API sends list (send_totals)": median_ms(listed, runs),
        "API sends list, every ledger counted (before)": median_ms(counted, runs),
    }


CONFIG = """[publication]
title = "Bench Letter"
base_url = "https://news.example.org"

[database]
url = "{url}"

[web]
base_url = "http://127.0.0.1"

{lists}
"""
SECRET = "bench-secret-0123456789-abcdefghijklmnop"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@contextmanager
def serving(app: object) -> Iterator[str]:
    """The app under uvicorn on a free port, in a thread; its base URL."""
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def over_http(url: str, seeded: Seeded, runs: int, tmp: Path) -> dict[str, float]:
    """The pages over HTTP, signed in as an editor, against ``create_app`` of a real site."""
    from syndicate.accounts import users
    from syndicate.config import load_settings
    from syndicate.subscribers.tokens import Signer
    from syndicate.web import create_app

    os.environ["SYNDICATE_SECRET"] = SECRET
    lists = "\n".join(f'[lists.{n}]\ntitle = "{t}"\n' for n, t in seeded.titles.items())
    root = tmp / "site"
    (root / "content").mkdir(parents=True)
    (root / "syndicate.toml").write_text(CONFIG.format(url=url, lists=lists), encoding="utf-8")
    settings = load_settings(root)
    engine = open_store(settings.database_url)
    users.add_user(engine, "bench", "correct horse battery staple", now=datetime.now(UTC))
    app = create_app(settings, engine, signer=Signer(SECRET))
    found: dict[str, float] = {}
    try:
        with serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
            form = client.get("/admin/sign-in")
            token = html.unescape(_CSRF.findall(form.text)[0])
            signed = client.post(
                "/admin/sign-in",
                data={"csrf": token, "name": "bench", "password": "correct horse battery staple",
                      "code": "", "next": "/admin/"},
            )  # fmt: skip
            assert signed.status_code in (200, 303), signed.text[:500]
            pages = {
                "GET /admin/ (dashboard)": "/admin/",
                "GET /admin/subscribers?q=reader12345": "/admin/subscribers?q=reader12345",
                "GET /admin/subscribers?list=daily&status=active":
                    "/admin/subscribers?list=daily&status=active",
                "GET /admin/sends": "/admin/sends",
                "GET /admin/deliverability": "/admin/deliverability",
                "GET /admin/sends/ID (the running send's report)":
                    f"/admin/sends/{seeded.running_send}",
                "GET /admin/subscribers/ID (a reader's page)":
                    f"/admin/subscribers/{seeded.active['weekly'][0]}",
            }  # fmt: skip
            for label, path in pages.items():
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                assert "Signed in as" in answer.text, path

                def get(p: str = path) -> object:
                    reply = client.get(p)
                    assert reply.status_code == 200
                    return reply

                found[label] = median_ms(get, runs)
    finally:
        engine.dispose()
    return found


def run(db: str, subscribers: int, runs: int) -> None:
    now = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    schema = None
    admin: Engine | None = None
    if db == "sqlite":
        url = f"sqlite:///{tmp / 'state.db'}"
    else:
        base = os.environ.get("SYNDICATE_TEST_DATABASE_URL")
        if not base:
            print("postgresql: SYNDICATE_TEST_DATABASE_URL is not set; skipped")
            return
        schema = f"bench_desk_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    engine = open_store(url)
    try:
        seeded = seed(engine, subscribers=subscribers, now=now)
        print(
            f"{db}: seeded {seeded.subscribers:,} subscribers, {seeded.subscriptions:,} "
            f"subscriptions, {seeded.events:,} trail events, {seeded.sends} sends, "
            f"{seeded.deliveries:,} ledger rows, {seeded.feedback:,} feedback events in "
            f"{seeded.seconds:.0f} s; backfill (0025, 0026) {seeded.backfill_seconds:.1f} s",
            flush=True,
        )
        for label, ms in query_level(engine, seeded, runs, now).items():
            print(f"{db}: {label}: median {ms:.1f} ms of {runs}", flush=True)
        for label, ms in over_http(url, seeded, runs, tmp).items():
            print(f"{db}: HTTP {label}: median {ms:.1f} ms of {runs}", flush=True)
    finally:
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
        if admin is not None and schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    for db in args.db:
        run(db, args.subscribers, args.runs)


if __name__ == "__main__":
    main()

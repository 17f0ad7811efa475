"""Issue 15: ``[smtp] daily_limit`` and ``warmup``. With the clock moved (injected), a send
over the day's allowance pauses and continues the next day; restarts (a new Sender, a new
store engine) in between lose and duplicate nothing; two couriers at once stay within the
allowance; the warm-up day survives restarts. Real parts: an aiosmtpd server counting every
copy, the CLI, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from syndicate.cli import main
from syndicate.config import parse_config
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender, SendReport
from syndicate.delivery.setup import make_policy, make_transport
from syndicate.delivery.worker import Worker
from syndicate.errors import ConfigError
from syndicate.processes import process_owner
from syndicate.service.work import Work
from syndicate.store import open_store
from syndicate.store import quota as quota_repo
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import import_rows
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.smtpserver import SmtpServer, serve_smtp, weekly_site_config

SECRET = "test-secret-0123456789abcdef"
T0 = datetime.now(UTC).replace(microsecond=0)  # the first send; later ones move the clock on


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with serve_smtp() as running:
        yield running


def letter(
    site: Site, server: SmtpServer, readers: int, extra: str = "", **smtp: str | int | bool
) -> Site:
    """A one-list site of ``readers`` readers; ``extra``: TOML lines added to ``[smtp]``."""
    config = weekly_site_config(server.port, timeout=5, wait_for_retries=0, **smtp)
    site.configure(config + extra)
    stamp = (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write("alpha.md", f"---\ntitle: Alpha\ndate: {stamp}\n---\n\nText.\n")
    csv = "email,name\n" + "".join(f"r{i:03d}@example.org,R\n" for i in range(readers))
    rows = read_rows(io.BytesIO(csv.encode()), "in.csv")
    assert not import_rows(site.engine, "weekly", rows, now=T0 - timedelta(days=30)).problems
    return site


def received(server: SmtpServer) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.recipients)


def send(site: Site, clock: Callable[[], datetime], engine: Engine | None = None) -> SendReport:
    """One ``send`` of a fresh process: a new Sender, transport and (given) store engine."""
    settings = site.settings
    store = engine or site.engine
    articles = read_site(settings, store, now=T0, offline=True).articles

    async def go() -> SendReport:
        transport = make_transport(settings)
        sender = Sender(
            settings,
            store,
            transport,
            Signer(SECRET),
            clock=clock,
            policy=replace(make_policy(settings), processes=1),
        )
        try:
            return await sender.run("weekly", articles)
        finally:
            await transport.close()

    return asyncio.run(go())


def worker_pass(site: Site, clock: Callable[[], datetime], owner: str | None = None) -> int:
    settings = site.settings

    async def go() -> int:
        transport = make_transport(settings)
        worker = Worker(
            settings,
            site.engine,
            transport,
            Signer(SECRET),
            clock=clock,
            policy=replace(make_policy(settings), processes=1),
        )
        if owner is not None:
            worker.owner = owner
        try:
            return await worker.pass_once()
        finally:
            await transport.close()

    return asyncio.run(go())


def test_a_send_over_the_allowance_pauses_and_continues_the_next_day(
    any_site: Site, server: SmtpServer
) -> None:
    site = letter(any_site, server, 10, daily_limit=4)
    first = send(site, at(T0))
    assert first.paused is not None and first.counts == {"sent": 4, "queued": 6}
    assert first.paused.figure == 4 and first.paused.resumes_at == T0 + timedelta(hours=24)
    assert "daily limit of 4 reached; continues at" in first.paused.sentence()
    assert sum(received(server).values()) == 4

    # A restart an hour later (new process, new store engine): still paused, nothing sent.
    engine = open_store(site.settings.database_url)
    try:
        again = send(site, at(T0 + timedelta(hours=1)), engine)
    finally:
        engine.dispose()
    assert again.resumed and again.paused is not None and again.counts["queued"] == 6
    assert sum(received(server).values()) == 4

    # The next day `run`'s retry job continues it by itself: 4 more, paused again.
    day2 = T0 + timedelta(hours=24, seconds=1)
    work = Work(site.settings, site.engine, Signer(SECRET), clock=at(day2))
    asyncio.run(work.retries())
    assert sum(received(server).values()) == 8
    # ... and on the third a worker finishes it: one copy per reader, nobody twice.
    worker_pass(site, at(T0 + timedelta(hours=48, seconds=2)))
    assert received(server) == {f"r{i:03d}@example.org": 1 for i in range(10)}
    last = send(site, at(T0 + timedelta(hours=48, seconds=3)))
    assert last.nothing_new and last.paused is None


def test_the_rolling_window_frees_the_allowance_as_old_messages_leave_it(
    any_site: Site, server: SmtpServer
) -> None:
    site = letter(any_site, server, 6, daily_limit=3)
    send(site, at(T0))  # 3 at T0
    # 23 h later the window still holds them: nothing; 24 h after T0 they have left.
    assert send(site, at(T0 + timedelta(hours=23))).counts["queued"] == 3
    report = send(site, at(T0 + timedelta(hours=24)))
    assert report.finished and report.paused is None
    assert sum(received(server).values()) == 6


def test_two_couriers_at_once_stay_within_the_allowance(any_site: Site, server: SmtpServer) -> None:
    """Both claim while the other's copies are on the wire: in-flight rows count, and the
    claims take turns on the quota row, so the total is exactly the allowance."""
    site = letter(any_site, server, 30, daily_limit=7, connections=4)
    server.set_fault("*", "slow-data", 0.05)  # both couriers have copies on the wire at once
    queued = send_only(site)
    assert queued == {"queued": 30}
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        barrier.wait()
        counts.append(worker_pass(site, at(T0), owner=f"{process_owner()}-{name}"))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 7
    assert sum(received(server).values()) == 7 and max(received(server).values()) == 1


def send_only(site: Site) -> dict[str, int]:
    """Record the send and its ledger, for workers (``send --workers``)."""
    settings = site.settings
    articles = read_site(settings, site.engine, now=T0, offline=True).articles

    async def go() -> SendReport:
        transport = make_transport(settings)
        sender = Sender(
            settings,
            site.engine,
            transport,
            Signer(SECRET),
            clock=at(T0),
            policy=make_policy(settings),
        )
        try:
            return await sender.run("weekly", articles, deliver=False)
        finally:
            await transport.close()

    return asyncio.run(go()).counts


def test_warm_up_days_are_counted_from_the_first_send_across_restarts(
    any_site: Site, server: SmtpServer
) -> None:
    site = letter(any_site, server, 12, "warmup = [3, 5]\n")
    first = send(site, at(T0))
    assert first.paused is not None and (first.paused.day, first.paused.days) == (1, 2)
    assert first.paused.words() == "daily limit of 3 reached (warm-up day 1 of 2)"
    assert first.counts == {"sent": 3, "queued": 9}
    with site.engine.connect() as conn:
        assert quota_repo.warmup_started(conn, "news.example.org") == T0  # stored: day 1

    # Another machine on the same store, later on day 1: the plan is not restarted.
    engine = open_store(site.settings.database_url)
    try:
        same_day = send(site, at(T0 + timedelta(hours=20)), engine)
    finally:
        engine.dispose()
    assert same_day.paused is not None and same_day.paused.day == 1
    assert same_day.paused.resumes_at == T0 + timedelta(hours=24)
    assert sum(received(server).values()) == 3

    day2 = send(site, at(T0 + timedelta(hours=24)))
    assert day2.paused is not None and (day2.paused.day, day2.paused.figure) == (2, 5)
    assert day2.counts == {"sent": 8, "queued": 4}
    # After the plan's last day: no daily_limit, so no limit.
    day3 = send(site, at(T0 + timedelta(hours=48)))
    assert day3.finished and day3.paused is None
    assert received(server) == {f"r{i:03d}@example.org": 1 for i in range(12)}


def test_warmup_and_daily_limit_take_the_smaller(any_site: Site, server: SmtpServer) -> None:
    site = letter(any_site, server, 9, "warmup = { start = 2, factor = 3.0 }\n", daily_limit=4)
    assert send(site, at(T0)).counts == {"sent": 2, "queued": 7}  # day 1: 2
    day2 = send(site, at(T0 + timedelta(hours=24)))  # day 2: min(4, 6)
    assert day2.paused is not None and day2.paused.figure == 4
    assert day2.counts == {"sent": 6, "queued": 3}


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--site", str(site.root), *args])
    return result.exit_code, result.stdout, result.stderr


def test_send_says_when_it_continues_and_status_shows_the_pause(
    any_site: Site, server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site = letter(any_site, server, 3, "warmup = [2, 5, 9]\n", daily_limit=2)
    code, stdout, stderr = cli(site, "send", "weekly", "--yes", "--offline")
    assert code == 0, stderr  # in progress, not failed: it continues by itself
    assert "daily limit of 2 reached (warm-up day 1 of 3); continues at" in stderr
    assert "(run `syndicate run` or `syndicate worker`" in stderr
    assert "paused by [smtp] daily_limit" in stdout
    assert sum(received(server).values()) == 2

    code, stdout, stderr = cli(site, "status")
    assert code == 0, stderr
    assert "weekly-1 (paused, started" in stdout
    assert "  paused: daily limit 2 reached (warm-up day 1 of 3); continues at 20" in stdout
    code, stdout, stderr = cli(site, "status", "--json")
    paused = json.loads(stdout)["sends"][0]["paused"]
    assert paused["limit"] == 2 and paused["warmup_day"] == 1 and paused["warmup_days"] == 3
    continues = datetime.fromisoformat(paused["continues_at"])
    assert timedelta(hours=23) < continues - datetime.now(UTC) <= timedelta(hours=24)

    code, stdout, stderr = cli(site, "worker", "--once", "--json")  # a worker waits too
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["answered"] == 0 and doc["paused"]["limit"] == 2
    assert sum(received(server).values()) == 2


@pytest.mark.parametrize(
    ("smtp", "expected"),
    [
        ("daily_limit = -5", "smtp.daily_limit: input should be greater than or equal to 1"),
        ("daily_limit = 0", "smtp.daily_limit: input should be greater than or equal to 1"),
        ("warmup = []", "smtp.warmup: must list at least one day's figure"),
        ("warmup = [200, -1]", "smtp.warmup: day 2 (entry [1]) must be at least 1 message"),
        ("warmup = [200, 1.5]", "smtp.warmup: day 2 (entry [1]) must be a whole number"),
        ("warmup = { start = 200, factor = 1 }", "smtp.warmup: factor must be greater than 1"),
        ("warmup = { start = 200, factor = 0.5 }", "smtp.warmup: factor must be greater than 1"),
        ("warmup = { start = -3, factor = 2 }", "smtp.warmup: start must be at least 1"),
        ("warmup = { start = 200 }", "smtp.warmup: needs both start and factor"),
        ("warmup = { start = 2, factor = 2, x = 1 }", "smtp.warmup: unknown key 'x'"),
        ('warmup = "fast"', "smtp.warmup: must be a list of messages per day"),
    ],
)
def test_limit_mistakes_name_the_field(smtp: str, expected: str) -> None:
    text = (
        '[publication]\ntitle = "T"\nbase_url = "https://example.org/"\n'
        f'[smtp]\nhost = "mail.example.org"\n{smtp}\n'
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert any(p.startswith(f"syndicate.toml: {expected}") for p in info.value.problems), (
        info.value.problems
    )

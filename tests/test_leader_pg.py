"""Leader election on PostgreSQL: one ``syndicate run`` per store schedules, through an advisory
lock the server frees when the leader's session ends, so another process takes over within
seconds of the leader dying (even by SIGKILL)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from syndicate.processes import process_owner
from syndicate.service import scheduler as sched
from syndicate.service.leader import (
    APP_PREFIX,
    AdvisoryLeader,
    StoreLeader,
    advisory_key,
    leader_for,
)
from syndicate.service.run import Service
from syndicate.store import open_store
from syndicate.subscribers.tokens import Signer
from tests.conftest import PG_URL, Site
from tests.test_run import CONFIG, REPO, SECRET, START

TAKEOVER = re.compile(
    r"became the scheduler, taking over from (\S+) ([\d.]+) s after .*scheduling (.*)"
)
TAKEOVER_WITHIN = 15.0  # a follower tries every 5 s; the rest is slack for a busy machine


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> str:
    """A fresh schema (``pg_url``); in CI, a missing database is a failure, not a skip."""
    if not PG_URL and os.environ.get("CI") == "1":
        pytest.fail("CI=1 but SYNDICATE_TEST_DATABASE_URL is not set")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engines(pg: str) -> Iterator[list[Engine]]:
    """Engines on the test schema, one per simulated machine; disposed afterwards."""
    made: list[Engine] = []
    yield made
    for engine in made:
        engine.dispose()


def machine(engines: list[Engine], url: str) -> Engine:
    engine = open_store(url)
    engines.append(engine)
    return engine


def kill_session(url: str, owner: str) -> None:
    """End the leader's session from outside, as the server does when its process dies."""
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            ended = conn.scalar(
                text(
                    # with a timeout, PostgreSQL (14+) returns once the backend has exited:
                    # its locks are gone then, not just asked to go
                    "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": APP_PREFIX + owner},
            )
        assert ended == 1
    finally:
        admin.dispose()


# --- the lock ------------------------------------------------------------------------------------


def test_one_session_holds_the_lock_and_release_hands_it_on(pg: str, engines: list[Engine]) -> None:
    one = AdvisoryLeader(machine(engines, pg), owner="alpha:1")
    two = AdvisoryLeader(machine(engines, pg), owner="beta:2")
    assert isinstance(leader_for(one.engine), AdvisoryLeader)
    assert one.holder() is None
    assert one.try_acquire()
    assert one.try_acquire()  # staying the leader is no new lock
    assert not two.try_acquire()
    assert two.holder() == "alpha:1" and one.holder() == "alpha:1"
    assert one.renew() and not two.renew()
    one.release()
    assert one.holder() is None
    assert not one.renew()
    assert two.try_acquire()
    assert not one.try_acquire()
    assert one.holder() == "beta:2"
    two.release()
    two.release()  # twice is harmless


def test_the_leader_session_stays_out_of_any_transaction(pg: str, engines: list[Engine]) -> None:
    one = AdvisoryLeader(machine(engines, pg), owner="alpha:1")
    assert one.try_acquire()
    with one.engine.connect() as conn:
        state = conn.scalar(
            text("SELECT state FROM pg_stat_activity WHERE application_name = :n"),
            {"n": APP_PREFIX + "alpha:1"},
        )
    assert state == "idle"  # not "idle in transaction": no snapshot held, no vacuum blocked
    one.release()


def test_a_dead_leader_session_frees_the_lock_at_once(pg: str, engines: list[Engine]) -> None:
    one = AdvisoryLeader(machine(engines, pg), owner="alpha:1")
    two = AdvisoryLeader(machine(engines, pg), owner="beta:2")
    assert one.try_acquire()
    assert not two.try_acquire()
    kill_session(pg, "alpha:1")
    assert two.try_acquire()
    assert two.holder() == "beta:2"
    assert not one.renew()  # its session is gone and beta holds the lock now
    assert not one.try_acquire()
    two.release()
    assert one.try_acquire()
    one.release()


def test_a_leader_that_lost_its_session_takes_the_lock_again_when_free(
    pg: str, engines: list[Engine]
) -> None:
    one = AdvisoryLeader(machine(engines, pg), owner="alpha:1")
    assert one.try_acquire()
    kill_session(pg, "alpha:1")
    assert one.renew()  # on a new session
    assert one.holder() == "alpha:1"
    one.release()


def test_each_schema_has_its_own_scheduler(pg: str, engines: list[Engine]) -> None:
    assert PG_URL
    other = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{other}"'))
    try:
        sep = "&" if "?" in PG_URL else "?"
        here = AdvisoryLeader(machine(engines, pg), owner="here:1")
        there = AdvisoryLeader(machine(engines, f"{PG_URL}{sep}options=-csearch_path%3D{other}"))
        assert here.try_acquire() and there.try_acquire()
        assert here.holder() == "here:1" and there.holder() == there.owner
        with there.engine.connect() as conn:
            assert there.key(conn) == advisory_key(other) != here.key(conn)
        here.release()
        there.release()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{other}" CASCADE'))
        admin.dispose()


def test_sqlite_keeps_the_heartbeat_row(site: Site) -> None:
    leader = leader_for(site.engine)
    assert isinstance(leader, StoreLeader)
    assert leader.retry_every == timedelta(seconds=30)
    assert AdvisoryLeader.retry_every == timedelta(seconds=5)


# --- the service ---------------------------------------------------------------------------------


def test_a_service_takes_over_when_the_leader_session_dies_and_says_from_whom(
    pg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site = Site(tmp_path / "site", pg, CONFIG)
    every = timedelta(milliseconds=20)

    def service(owner: str) -> Service:
        leader = AdvisoryLeader(site.engine, owner=owner, every=every)
        return Service(site.settings, site.engine, signer=Signer(SECRET), leader=leader)

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.01)
        pytest.fail("the condition never came true")

    async def go() -> None:
        one, two = service("one:1"), service("two:2")
        assert two.retry_every == every
        sched.register(one.work)
        assert one.try_lead()
        assert not two.try_lead() and two.holder() == "one:1"
        loops = [asyncio.create_task(two.keep_leading())]
        kill_session(pg, "one:1")  # as if its process died: one's loop is not even running
        await until(lambda: two.leading)
        assert two.leader.holder() == "two:2"
        loops.append(asyncio.create_task(one.keep_leading()))  # one wakes up: too late
        await until(lambda: not one.leading)
        for s in (one, two):
            s.stopping.set()
        await asyncio.gather(*loops)
        for s in (one, two):
            await s.shutdown(asyncio.Event())

    caplog.set_level(logging.INFO, logger="syndicate.service.run")
    try:
        asyncio.run(go())
    finally:
        sched.register(None)
        site.close()
    took = [m for m in caplog.messages if m.startswith("became the scheduler")]
    assert len(took) == 1 and TAKEOVER.match(took[0]), caplog.messages
    assert "taking over from one:1" in took[0] and "weekly next" in took[0]
    assert any(m.startswith("lost the scheduler to two:2") for m in caplog.messages)


# --- two real processes --------------------------------------------------------------------------


class Run:
    """A ``syndicate run`` subprocess: stdout carries the start line, stderr goes to a log."""

    def __init__(self, site: Site, log: Path) -> None:
        env = {**os.environ, "SYNDICATE_SECRET": SECRET, "PYTHONPATH": str(REPO)}
        self.log = log
        with log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "syndicate", "--site", str(site.root), "run", "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self.role = ""
        # host:pid:STARTTIME-BOOT, read while it runs (a killed process has no start time)
        self.owner = process_owner(self.proc.pid)

    def started(self, timeout: float = 60.0) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                pytest.fail(f"no start line within {timeout} s; log: {self.log.read_text()}")
        line = self.proc.stdout.readline().decode()
        found = START.search(line)
        assert found, f"unexpected start line {line!r}; log: {self.log.read_text()}"
        self.role = found[2]
        return self.role

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # a failed test must not leave a server behind
        run.kill()


def test_two_runs_elect_one_scheduler_and_the_other_takes_over_after_sigkill(
    pg: str, tmp_path: Path, runs: list[Run]
) -> None:
    site = Site(tmp_path / "site", pg, CONFIG)
    stamp = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    site.write("hello.md", f"---\ntitle: Hello run\ndate: {stamp}\n---\n\nText.\n")
    # both start at once on the fresh schema: they migrate it one after the other
    runs.extend(Run(site, tmp_path / f"{name}.log") for name in ("a", "b"))
    roles = [run.started() for run in runs]
    leaders = [run for run, role in zip(runs, roles, strict=True) if role.startswith("scheduling:")]
    assert len(leaders) == 1, roles
    leader = leaders[0]
    follower = next(run for run in runs if run is not leader)
    assert leader.role.startswith("scheduling: weekly next "), leader.role
    assert follower.role.startswith(
        f"not scheduling: the scheduler is held by {leader.owner} (retrying every 5 s)"
    ), follower.role

    killed = time.monotonic()
    leader.kill()
    found = None
    while time.monotonic() - killed < 2 * TAKEOVER_WITHIN and found is None:
        time.sleep(0.1)
        found = TAKEOVER.search(follower.log.read_text())
    elapsed = time.monotonic() - killed
    assert found, f"no takeover within {elapsed:.1f} s; log: {follower.log.read_text()}"
    print(f"takeover {elapsed:.1f} s after SIGKILL; the follower says: {found[0]}")
    assert elapsed <= TAKEOVER_WITHIN
    assert found[1] == leader.owner
    assert float(found[2]) <= TAKEOVER_WITHIN
    assert found[3].startswith("weekly next ")
    with site.engine.connect() as conn:
        jobs = conn.execute(text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
        holder = AdvisoryLeader(site.engine).holder()
    assert [job[0] for job in jobs] == ["digest:weekly"] and jobs[0][1] is not None
    assert holder == follower.owner
    follower.kill(signal.SIGTERM)
    assert follower.proc.returncode == 0, follower.log.read_text()
    site.close()

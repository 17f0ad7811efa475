"""Issue 15: lease takeover that cannot be fooled. A killed sender not yet reaped (a zombie)
and a process that reused a PID are dead; a live one is alive. Real child processes, real
SIGKILL, the ledger on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate import processes
from syndicate.delivery.courier import free_dead_leases
from syndicate.files import sweep_temp, write_atomic
from syndicate.processes import process_alive, process_owner, process_running, read_stat
from syndicate.store import deliveries as ledger
from syndicate.store import locks
from syndicate.store import sends as send_repo
from syndicate.store import subscribers as repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendStatus
from tests.conftest import NOW, Site
from tests.smtpserver import serve_smtp
from tests.test_ledger import ledger_site as ledger_site  # the 5-reader fixture

LINUX = Path("/proc/self/stat").exists()
linux_only = pytest.mark.skipif(not LINUX, reason="start times come from /proc (Linux)")


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    """A real process of our own, reaped only when the test ends."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def kill_unreaped(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL without reaping: the child stays a zombie until ``wait``."""
    os.kill(proc.pid, signal.SIGKILL)
    for _ in range(2000):  # until the kernel made it a zombie (no poll(): that would reap it)
        found = read_stat(proc.pid)
        if found is not None and found.state == "Z":
            return
        time.sleep(0.005)
    pytest.fail(f"{proc.pid} never became a zombie")


@linux_only
def test_a_zombie_is_dead_though_kill_0_says_alive(child: subprocess.Popen[bytes]) -> None:
    owner = process_owner(child.pid)
    assert owner.count(":") == 2  # host:pid:STARTTIME-BOOT
    assert process_alive(owner) is True
    kill_unreaped(child)
    os.kill(child.pid, 0)  # the old check: no error, "alive"
    assert process_alive(owner) is False
    old_style = f"{socket.gethostname()}:{child.pid}"  # rows written by older versions
    assert process_alive(old_style) is False


@linux_only
def test_a_reused_pid_is_not_the_owner(child: subprocess.Popen[bytes]) -> None:
    stat = read_stat(child.pid)
    assert stat is not None
    boot = processes.boot_id()
    host = socket.gethostname()
    assert process_alive(f"{host}:{child.pid}:{stat.start}-{boot}") is True
    assert process_alive(f"{host}:{child.pid}:{stat.start + 1}-{boot}") is False  # another one
    assert process_alive(f"{host}:{child.pid}:{stat.start}-00000000") is False  # another boot
    assert process_alive(f"{host}:{child.pid}") is True  # old style: the PID runs
    assert process_alive(f"elsewhere.example:{child.pid}:{stat.start}-{boot}") is None
    assert process_alive("not an owner") is None
    assert process_alive(process_owner()) is True  # this process


def test_without_proc_the_old_check_is_used(
    child: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(processes, "PROC", tmp_path / "no-proc")
    processes.boot_id.cache_clear()
    try:
        owner = process_owner(child.pid)
        assert owner == f"{socket.gethostname()}:{child.pid}"
        assert process_alive(owner) is True
        child.kill()
        child.wait()  # reaped: gone
        assert process_alive(owner) is False
    finally:
        processes.boot_id.cache_clear()


@linux_only
def test_rows_of_a_killed_unreaped_sender_are_free_at_once(
    ledger_site: Site, child: subprocess.Popen[bytes]
) -> None:
    """Seen: 100 rows held for the whole lease (5 minutes) by a zombie sender."""
    with ledger_site.engine.connect() as conn:
        everyone = [s.id for s, _ in repo.iter_list(conn, "weekly")]
    dead = process_owner(child.pid)
    with ledger_site.engine.begin() as conn:
        send_id = send_repo.create_send(conn, "weekly", "weekly-1", now=NOW)
        ledger.enqueue(conn, send_id, [(sid, "[]") for sid in everyone], now=NOW)
        send_repo.set_send_status(conn, send_id, SendStatus.SENDING, now=NOW)
        held = ledger.claim(
            conn, send_id, "weekly", dead, now=NOW, lease=timedelta(minutes=5), limit=100
        )
        assert len(held) == len(everyone)
        assert (
            locks.acquire_lock(conn, "weekly", dead, now=NOW, stale_after=timedelta(hours=1))
            is None
        )
    later = NOW + timedelta(seconds=1)
    free_dead_leases(ledger_site.engine, send_id, now=later)  # the owner runs: kept
    with ledger_site.engine.begin() as conn:
        assert (
            ledger.claim(
                conn, send_id, "weekly", "next:1", now=later, lease=timedelta(minutes=5), limit=100
            )
            == []
        )

    kill_unreaped(child)
    free_dead_leases(ledger_site.engine, send_id, now=later)
    me = process_owner()
    with ledger_site.engine.begin() as conn:
        taken = ledger.claim(
            conn, send_id, "weekly", me, now=later, lease=timedelta(minutes=5), limit=100
        )
        assert sorted(r.subscriber_id for r in taken) == sorted(everyone)
        # the list lock of the zombie is taken over too (what Sender._lock asks)
        holder = locks.lock_owner(conn, "weekly")
        assert holder == dead
        verdict = process_alive(holder)
        assert verdict is False
        taken_lock = locks.acquire_lock(
            conn, "weekly", me, now=later, stale_after=timedelta(hours=1), alive=verdict
        )
        assert taken_lock is None and locks.lock_owner(conn, "weekly") == me


@linux_only
def test_temp_files_of_dead_writers_are_swept(
    tmp_path: Path, child: subprocess.Popen[bytes]
) -> None:
    write_atomic(tmp_path / "rss.xml", b"<rss/>")
    stat = read_stat(child.pid)
    assert stat is not None
    boot = processes.boot_id()
    mine = processes.stamp(os.getpid())
    live = tmp_path / f".atom.xml.{child.pid}.{stat.start}-{boot}.tmp"
    reused = tmp_path / f".feed.json.{child.pid}.{stat.start + 7}-{boot}.tmp"  # not that one
    own = tmp_path / f".index.xml.{os.getpid()}.{mine}.tmp"
    zombie = tmp_path / f".old.xml.{child.pid}.tmp"  # an older version's name
    for path in (live, reused, own, zombie):
        path.write_bytes(b"half")
    assert sorted(sweep_temp(tmp_path)) == [reused]
    kill_unreaped(child)
    assert sorted(sweep_temp(tmp_path)) == sorted([live, zombie])
    assert own.exists() and (tmp_path / "rss.xml").read_bytes() == b"<rss/>"
    assert process_running(child.pid) is False


@linux_only
def test_a_worker_killed_and_not_reaped_hands_its_rows_over_at_once(
    any_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: a real ``syndicate worker`` holds leased rows (lease: 5 minutes),
    is killed with SIGKILL and left a zombie; the next claimer takes its rows at once."""
    from tests.test_daily_limit import SECRET, at, letter, received, send_only, worker_pass

    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    with serve_smtp() as server:
        site = letter(any_site, server, 40, connections=2, lease=300)
        assert send_only(site) == {"queued": 40}
        server.set_fault("*", "slow-data", 30)  # its copies stay on the wire
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        worker = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "--site", str(site.root), "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            owner = process_owner(worker.pid)
            for _ in range(3000):  # until it holds leases
                with site.engine.connect() as conn:
                    held = ledger.lease_holders(conn, 1, now=datetime.now(UTC))
                if owner in held:
                    break
                assert worker.poll() is None
                time.sleep(0.01)
            assert owner in held
            kill_unreaped(worker)
            with server.handler._lock:
                server.handler._faults.clear()
            # a minute later: the lease (5 minutes) has not run out, yet nothing waits
            later = datetime.now(UTC) + timedelta(minutes=1)
            answered = worker_pass(site, at(later))  # one pass, no waiting for leases
            with site.engine.connect() as conn:
                assert ledger.counts(conn, 1) == {DeliveryStatus.SENT: 40}
            assert answered == 40
            got = received(server)
            assert set(got) == {f"r{i:03d}@example.org" for i in range(40)}
        finally:
            worker.kill()
            worker.wait()

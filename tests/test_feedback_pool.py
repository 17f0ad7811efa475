"""Parsing a large import in worker processes: the same results, in the same order, as
parsing alone; and workers that never outlive an import killed with ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicate.feedback import pool
from syndicate.feedback.mailbox import MailboxError
from tests.conftest import Site
from tests.test_feedback_intake import ADDRESS, BOUNCES, SECRET, dsn, load
from tests.test_send import CONFIG

DATA = Path(__file__).parent / "data" / "bounces"


def corpus(copies: int) -> list[tuple[str, bytes]]:
    """Every corpus message (real bounces, complaints, replies, ordinary mail), ``copies``
    times over, each copy made unique, and a few messages no parser can make sense of."""
    files = sorted(p for p in DATA.iterdir() if p.suffix in (".txt", ".eml"))
    out = []
    for i in range(copies):
        for path in files:
            out.append((f"{path.name}#{i}", path.read_bytes() + f"\nX-Copy: {i}\n".encode()))
        out.append((f"junk#{i}", os.urandom(300)))
        out.append((f"big#{i}", b"Content-Type: text/plain\n\n" + b"x" * (pool.CHUNK_BYTES + 1)))
    return out


def test_workers_give_what_parsing_alone_gives_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "INLINE", 7)  # the pool takes over early: most go through it
    messages = corpus(4)
    alone = list(pool.parsed(iter(messages), ADDRESS, processes=0))
    spread = list(pool.parsed(iter(messages), ADDRESS, processes=2))
    assert [name for name, _ in alone] == [name for name, _ in messages]
    assert spread == alone
    assert sum(1 for _, p in spread if p.feedback) > len(messages) // 2


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        current = stack.pop()
        children: set[int] = set()
        try:
            for task in os.listdir(f"/proc/{current}/task"):  # each thread's children
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as fh:
                    children |= {int(c) for c in fh.read().split()}
        except OSError:
            pass
        found |= children
        stack.extend(children)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_kill_9_during_a_pooled_import_leaves_no_worker_behind(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    load(site, ["someone@example.org"])
    box = tmp_path / "many"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    for i in range(6_000):
        data = dsn(ADDRESS, f"gone{i}@example.net", "5.1.1", "550 5.1.1 User unknown")
        (box / "new" / f"{i:06d}.test").write_bytes(data)
    env = {**os.environ, "SYNDICATE_SECRET": SECRET}
    command = [sys.executable, "-m", "syndicate", "--site", str(site.root), "bounces", "import"]
    proc = subprocess.Popen([*command, str(box)], env=env, stdout=subprocess.DEVNULL)
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and len(helpers) < 3:
            helpers |= _descendants(proc.pid)  # the server and its workers, once started
            time.sleep(0.02)
        assert len(helpers) >= 3, "the import finished before its workers were seen"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in helpers):
        time.sleep(0.05)
    assert not [pid for pid in helpers if _alive(pid)]


def test_a_bad_path_after_the_pool_started_comes_after_what_was_read_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool, "INLINE", 3)
    messages = corpus(2)

    def stream() -> Iterator[tuple[str, bytes]]:
        yield from messages
        raise MailboxError("nowhere: neither a Maildir (cur/ new/ tmp/) nor .eml files")

    seen: list[str] = []
    with pytest.raises(MailboxError, match="nowhere"):
        for name, _ in pool.parsed(stream(), ADDRESS, processes=2):
            seen.append(name)
    assert seen == [name for name, _ in messages]

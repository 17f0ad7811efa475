"""A command exits only after every process it started (the parse pool) has: `build`, and
every other command that reads the content (`preview`, `send --dry-run`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from syndicate.content.parse import PARALLEL_MIN_JOBS
from tests.conftest import Site

REPO = Path(__file__).resolve().parent.parent


def session_members(sid: int) -> list[str]:
    """Processes still alive in session ``sid``: (pid, command) of each."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # state, ppid, pgrp, session
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry}: {command}")
    return found


MAIL = """
[email]
from_name = "Test Letter"
from_address = "letters@news.example.org"

[lists.weekly]
title = "Weekly"
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the parse pool needs two cores")
@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["build", "--offline"], "210 articles"),
        (["preview", "weekly", "--offline", "--format", "text"], "Article"),
        (["send", "weekly", "--dry-run", "--offline"], "weekly-1"),
    ],
)
def test_a_command_leaves_no_process_behind(site: Site, command: list[str], said: str) -> None:
    site.configure(MAIL)
    for n in range(PARALLEL_MIN_JOBS + 10):
        site.write(f"a{n:03d}.md", f"---\ntitle: Article {n}\ndate: 2026-01-01\n---\n\nBody.\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out, err = site.root / "out.txt", site.root / "err.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:  # not pipes: a lingering child
        proc = subprocess.Popen(  # holding a pipe open would make the wait wait for it too
            [sys.executable, "-m", "syndicate", "--site", str(site.root), *command],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its pid is the session id of everything it starts
        )
    code = proc.wait(timeout=300)
    left = session_members(proc.pid)
    assert code == 0, err.read_text()
    assert said in out.read_text() + err.read_text()
    assert left == []

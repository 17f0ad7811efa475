"""What a mailbox holds besides messages: a file another user owns, a FIFO, a device, a
socket, a folder or a link where a message should be, files not named ``*.eml``, mbox
messages. Nothing of that stops an import or ``run``'s poll, nothing is opened in a way
that can block, and each is named with what to do."""

from __future__ import annotations

import asyncio
import json
import logging
import mailbox
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from syndicate.feedback.files import LINK
from syndicate.feedback.importer import ImportReport
from syndicate.feedback.mailbox import messages
from syndicate.service.work import Work
from syndicate.store.tables import feedback_events
from syndicate.subscribers.tokens import Signer
from tests.conftest import Site
from tests.test_feedback_intake import ADDRESS, BOUNCES, cli, dsn
from tests.test_send import CONFIG, SECRET

PERMISSION = "cannot be read (permission denied): fix its permissions"


def bounce(n: int) -> bytes:
    return dsn(ADDRESS, f"gone{n}@example.net", "5.1.1", "550 5.1.1 User unknown")


def events(site: Site) -> int:
    with site.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(feedback_events)) or 0


def unprivileged() -> list[str]:
    """A command prefix under which file permissions hold: as root, without the
    capabilities that read any file (the real condition of a root ``run`` reading a file
    mode 600 of another owner, or of a run under a service user)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


@pytest.fixture
def fifo_guard(tmp_path: Path) -> Iterator[list[Path]]:
    """FIFOs to watch: a writer that would unblock a reader stuck in ``open`` (so a
    regression fails the test instead of hanging it), noting that a reader had it open."""
    watched: list[Path] = []
    opened: list[Path] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            for path in watched:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # ENXIO: nobody has it open for reading
                    continue
                opened.append(path)
                os.close(fd)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    yield watched
    stop.set()
    thread.join()
    assert opened == [], "a FIFO was opened for reading"


def odd_entries(folder: Path, fifo_guard: list[Path], outside: Path) -> dict[str, str]:
    """A FIFO, a socket, a folder and a link (to a real message outside) in ``folder``;
    what each is called in its row."""
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "000.fifo.eml")
    fifo_guard.append(folder / "000.fifo.eml")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "001.sock.eml"))
    sock.close()
    (folder / "002.dir.eml").mkdir()
    (folder / "003.link.eml").symlink_to(outside)
    return {
        "000.fifo.eml": "a FIFO, not a message file: not read; remove it",
        "001.sock.eml": "a socket, not a message file: not read; remove it",
        "002.dir.eml": "a folder, not a message file: not read; remove it",
        "003.link.eml": LINK,
    }


@pytest.fixture
def bounce_site(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("SYNDICATE_SECRET", SECRET)
    site.configure(CONFIG + BOUNCES)
    return site


def test_an_unreadable_file_is_named_the_others_are_taken_and_the_import_exits_1(
    bounce_site: Site, tmp_path: Path
) -> None:
    site = bounce_site
    box = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    folder = tmp_path / "emls"
    folder.mkdir()
    for n in range(3):
        (box / "new" / f"{n}.host").write_bytes(bounce(n))
        (folder / f"{n}.eml").write_bytes(bounce(10 + n))
    closed = tmp_path / "closed"  # a folder that may not be looked into
    closed.mkdir()
    (closed / "x.eml").write_bytes(bounce(20))
    named = tmp_path / "named.eml"  # named on the command line
    named.write_bytes(bounce(21))
    locked = [box / "new" / "1.host", folder / "1.eml", closed, named]
    for path in locked:
        path.chmod(0)
    env = {**os.environ, "SYNDICATE_SECRET": SECRET}
    command = [*unprivileged(), sys.executable, "-m", "syndicate", "--site", str(site.root)]
    done = subprocess.run(
        [*command, "bounces", "import", str(box), str(folder), str(closed), str(named)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    for path in locked:
        assert f"{path}: {PERMISSION}" in done.stdout
    assert "4 files could not be read (above); the rest was taken" in done.stderr
    assert done.stdout.startswith("4 messages: 4 processed")
    assert events(site) == 4
    again = subprocess.run(
        [*command, "bounces", "import", str(box), str(folder), str(closed), str(named), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    doc = json.loads(again.stdout)
    assert again.returncode == 1 and doc["counts"]["unreadable"] == 4
    assert {r["name"] for r in doc["rows"] if r["reason"] == PERMISSION} == set(map(str, locked))


def test_fifos_sockets_folders_devices_and_links_are_refused_without_blocking(
    bounce_site: Site, tmp_path: Path, fifo_guard: list[Path]
) -> None:
    site = bounce_site
    outside = tmp_path / "outside.eml"
    outside.write_bytes(bounce(99))
    box = tmp_path / "md"
    for sub in ("cur", "tmp"):
        (box / sub).mkdir(parents=True)
    rows = odd_entries(box / "new", fifo_guard, outside)
    (box / "cur" / "100.host:2,S").write_bytes(bounce(1))
    folder = tmp_path / "emls"
    odd_entries(folder, fifo_guard, outside)
    (folder / "200.eml").write_bytes(bounce(2))
    named = tmp_path / "named.fifo.eml"
    os.mkfifo(named)
    fifo_guard.append(named)

    code, output = cli(site, "bounces", "import", str(box), str(folder), str(named), "/dev/zero")
    assert code == 1, output
    for name, reason in rows.items():
        assert f"{box / 'new' / name}: {reason}" in output
        assert f"{folder / name}: {reason}" in output
    assert f"{named}: a FIFO, not a message file" in output
    assert "/dev/zero: a character device, not a message file" in output
    assert "2 messages: 2 processed" in output
    assert "10 files could not be read" in output
    assert events(site) == 2  # the message the links point to was never read
    # A link named on the command line is the user's choice: followed.
    link = tmp_path / "chosen.eml"
    link.symlink_to(outside)
    code, output = cli(site, "bounces", "import", str(link))
    assert code == 0 and "1 message: 1 processed" in output


def test_the_run_poll_takes_the_others_leaves_the_odd_ones_and_logs_each_once(
    bounce_site: Site, tmp_path: Path, fifo_guard: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    site = bounce_site
    site.configure(CONFIG + BOUNCES + 'maildir = "bounces"\n')
    box = site.root / "bounces"
    for sub in ("cur", "tmp"):
        (box / sub).mkdir(parents=True)
    outside = tmp_path / "outside.eml"
    outside.write_bytes(bounce(99))
    rows = odd_entries(box / "new", fifo_guard, outside)
    (box / "new" / "100.host").write_bytes(bounce(1))
    work = Work(site.settings, site.engine, Signer(SECRET))
    with caplog.at_level(logging.WARNING, logger="syndicate.service.work"):
        asyncio.run(work.bounces())
        (box / "new" / "101.host").write_bytes(bounce(2))
        asyncio.run(work.bounces())
    assert events(site) == 2
    assert sorted(p.name for p in (box / "new").iterdir()) == sorted(rows)
    lines = [r.getMessage() for r in caplog.records]
    for name, reason in rows.items():
        assert lines.count(f"bounces: {box / 'new' / name}: {reason}") == 1, lines
    assert len(lines) == len(rows)
    # Fixed (removed), then back: said again.
    (box / "new" / "002.dir.eml").rmdir()
    asyncio.run(work.bounces())
    (box / "new" / "002.dir.eml").mkdir()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="syndicate.service.work"):
        asyncio.run(work.bounces())
    assert [r.getMessage() for r in caplog.records] == [
        f"bounces: {box / 'new' / '002.dir.eml'}: {rows['002.dir.eml']}"
    ]


def test_a_folder_import_says_what_it_did_not_read(bounce_site: Site, tmp_path: Path) -> None:
    site = bounce_site
    folder = tmp_path / "saved"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.eml").write_bytes(bounce(1))
    (folder / "b.EML").write_bytes(bounce(2))
    (folder / "c.txt").write_bytes(bounce(3))
    (folder / "d").write_bytes(bounce(4))
    (folder / ".hidden").write_bytes(b"editor state")
    code, output = cli(site, "bounces", "import", str(folder))
    assert code == 0, output
    assert "2 messages: 2 processed" in output
    assert f"{folder}: skipped 2 files and 1 folder not named *.eml (name them" in output
    code, output = cli(site, "bounces", "import", str(folder), "--json")
    doc = json.loads(output)
    assert doc["counts"]["skipped"] == 3
    assert doc["skipped"] == [{"folder": str(folder), "files": 2, "folders": 1}]
    code, output = cli(site, "bounces", "import", str(folder / "c.txt"), str(folder / "d"))
    assert code == 0 and "2 messages: 2 processed" in output
    only = tmp_path / "only-txt"
    only.mkdir()
    (only / "x.txt").write_bytes(bounce(5))
    code, output = cli(site, "bounces", "import", str(only))
    assert code == 1 and "neither a Maildir (cur/ new/ tmp/) nor .eml files (1 file not" in output


def test_mbox_messages_are_named_message_n_counted_from_1(
    bounce_site: Site, tmp_path: Path
) -> None:
    path = tmp_path / "two.mbox"
    box = mailbox.mbox(path)
    box.add(dsn(ADDRESS, "a@example.net", "5.1.1", "550 5.1.1 unknown"))
    box.add(dsn(ADDRESS, "b@example.net", "5.1.1", "550 5.1.1 unknown"))
    box.close()
    code, output = cli(bounce_site, "bounces", "import", str(path))
    assert code == 0, output
    assert f"{path}: message 1: unmatched hard" in output
    assert f"{path}: message 2: unmatched hard" in output
    assert ":0:" not in output


class Nothing(ImportReport):
    def unreadable(self, name: str, reason: str) -> None:
        raise AssertionError(f"{name}: {reason}")


@given(
    st.lists(
        st.lists(
            st.sampled_from([b"From x", b"From ", b">From y", b"", b"a: b", b"\r", b"z" * 70]),
            max_size=8,
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
@hypothesis_settings(max_examples=60, deadline=None)
def test_mbox_messages_come_as_the_standard_library_reads_them(
    bodies: list[list[bytes]], crlf: bool
) -> None:
    end = b"\r\n" if crlf else b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "box.mbox"
        box = mailbox.mbox(path)
        for lines in bodies:
            box.add(b"Subject: s" + end + end + end.join(lines) + end)
        box.close()
        expected = []
        box = mailbox.mbox(path, factory=None, create=False)
        for key in box.iterkeys():
            with box.get_file(key) as handle:
                expected.append(handle.read())
        box.close()
        got = [data for _, data in messages(path, Nothing())]
    assert got == expected

"""Atomic file writes: the one way syndicate replaces a file others may be reading."""

from __future__ import annotations

import os
import re
from pathlib import Path

from syndicate.processes import process_running, stamp

# ``.NAME.PID.STAMP.tmp`` (STAMP: the writer's start time and boot, see processes.py), or
# ``.NAME.PID.tmp`` from older versions and systems without /proc.
_TEMP = re.compile(r"^\..+\.(\d{1,10})(?:\.(\d{1,20}-[0-9a-f]{8}))?\.tmp$")


def sweep_temp(root: Path) -> list[Path]:
    """Remove temp files left by a build that was killed mid-write (its process is gone)."""
    swept = []
    for folder, _, names in os.walk(root):
        for name in names:
            match = _TEMP.match(name)
            if match is None or process_running(int(match.group(1)), match.group(2)):
                continue
            path = Path(folder, name)
            path.unlink(missing_ok=True)
            swept.append(path)
    return swept


def _temp_name(path: Path) -> Path:
    """This process's temp file for ``path``: its PID and start time, so a sweep after a
    crash can tell a live writer from a dead one whose PID was reused (or a zombie)."""
    pid = os.getpid()
    mark = _own_stamp()
    suffix = f"{pid}.{mark}" if mark is not None else str(pid)
    return path.with_name(f".{path.name}.{suffix}.tmp")


_STAMPS: dict[int, str | None] = {}


def _own_stamp() -> str | None:
    pid = os.getpid()  # a forked child has a stamp of its own
    if pid not in _STAMPS:
        _STAMPS[pid] = stamp(pid)
    return _STAMPS[pid]


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` via temp file + fsync + rename; False if already equal.

    A feed reader polling during a build sees the old file or the new one, never half of
    one; an unchanged file keeps its bytes and its mtime (so HTTP caching keeps working).
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def sync_dirs(dirs: set[Path]) -> None:
    """fsync folders whose entries changed, so the renames survive a power cut."""
    for folder in sorted(dirs):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove(path: Path, root: Path) -> bool:
    """Delete a file syndicate wrote earlier, and folders under ``root`` it leaves empty."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    folder = path.parent
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()  # only succeeds once the folder is empty
        except OSError:
            break
        folder = folder.parent
    return True

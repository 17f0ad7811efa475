"""Atomic file writes: the one way syndicate replaces a file others may be reading."""

from __future__ import annotations

import os
import re
from pathlib import Path

_TEMP = re.compile(r"^\..+\.(\d+)\.tmp$")


def sweep_temp(root: Path) -> list[Path]:
    """Remove temp files left by a build that was killed mid-write (its process is gone)."""
    swept = []
    for folder, _, names in os.walk(root):
        for name in names:
            match = _TEMP.match(name)
            if match is None or _alive(int(match.group(1))):
                continue
            path = Path(folder, name)
            path.unlink(missing_ok=True)
            swept.append(path)
    return swept


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
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

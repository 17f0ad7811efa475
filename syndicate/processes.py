"""Naming processes in locks, leases and temp files, and telling whether one still runs.

A PID alone cannot say that: a process killed but not yet reaped by its parent is a
zombie, and ``kill(pid, 0)`` calls it alive (its leased rows would wait for the whole
lease); a PID reused by a new process looks alive too. So an owner carries the process's
start time: ``host:pid:STARTTIME-BOOT`` where STARTTIME is field 22 of ``/proc/PID/stat``
(clock ticks since boot) and BOOT the first 8 hex digits of the kernel's boot id (a reboot
restarts the tick count). Alive means: same host, ``/proc/PID`` there, not a zombie (state
``Z`` or ``X``), same start time, same boot.

Owners written by older versions (``host:pid``) are still read: dead when the process is
gone or a zombie, alive otherwise (a reused PID cannot be told from it: their leases run
out as before). Where there is no ``/proc`` (not Linux), owners are ``host:pid`` and the
check is ``kill(pid, 0)``, as before.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_OWNER = re.compile(r"^(?P<host>.*):(?P<pid>\d{1,10})(?::(?P<stamp>\d{1,20}-[0-9a-f]{8}))?$")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """What ``/proc/PID/stat`` says about a process: its state letter and start time."""

    state: str
    start: int


def read_stat(pid: int) -> ProcStat | None:
    """The process's state and start time, or None when it is gone (or there is no /proc)."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except OSError:
        return None
    # ``pid (comm) state ... starttime``: comm may hold spaces and ')' -- split at the last.
    _, _, rest = raw.rpartition(b")")
    fields = rest.split()
    if len(fields) < 20 or not fields[19].isdigit():
        return None
    return ProcStat(state=fields[0].decode("ascii", "replace"), start=int(fields[19]))


@functools.cache
def boot_id() -> str | None:
    """The first 8 hex digits of this boot's id (Linux), else None."""
    try:
        found = (PROC / "sys/kernel/random/boot_id").read_text("ascii").strip()
    except OSError:
        return None
    short = found.replace("-", "")[:8].lower()
    return short if re.fullmatch(r"[0-9a-f]{8}", short) else None


def stamp(pid: int) -> str | None:
    """``STARTTIME-BOOT`` for a running process, or None where /proc cannot say."""
    boot = boot_id()
    found = read_stat(pid)
    if boot is None or found is None:
        return None
    return f"{found.start}-{boot}"


def process_owner(pid: int | None = None) -> str:
    """How a process names itself in locks and leases: ``host:pid:STARTTIME-BOOT``
    (``host:pid`` where there is no /proc)."""
    pid = pid or os.getpid()
    found = stamp(pid)
    base = f"{socket.gethostname()}:{pid}"
    return base if found is None else f"{base}:{found}"


def process_running(pid: int, expected: str | None = None) -> bool:
    """Whether process ``pid`` of this machine runs (and, with ``expected``, is the one
    that had that stamp): gone, a zombie or another process with the same PID is dead."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return expected is None or expected == stamp(pid)
    found = read_stat(pid)
    if found is None:
        if boot_id() is not None:  # /proc is there: no entry, no process
            return False
        return _signal_alive(pid)
    if found.state in ("Z", "X"):
        return False
    if expected is None:
        return True
    return expected == f"{found.start}-{boot_id()}"


def process_alive(owner: str) -> bool | None:
    """Whether an owner (``host:pid:STAMP`` or an older ``host:pid``) still runs; None
    when it is on another host (unknowable from here) or not a process name at all."""
    match = _OWNER.match(owner)
    if match is None or match["host"] != socket.gethostname():
        return None
    return process_running(int(match["pid"]), match["stamp"])


def _signal_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True

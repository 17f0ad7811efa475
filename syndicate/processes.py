"""Naming processes in locks and leases (``host:pid``), and telling whether one still runs."""

from __future__ import annotations

import os
import socket


def process_owner(pid: int | None = None) -> str:
    """How a process names itself in locks and leases: ``host:pid``."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def process_alive(owner: str) -> bool | None:
    """Whether a ``host:pid`` owner still runs; None when it is on another host (unknowable)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True

"""Reading one message file whose path others may write to, without being stopped by it.

A bounce Maildir is written by the mail server and by anyone who may deliver into it, and
``bounces import`` is pointed at folders it has never seen. So no entry is trusted: it is
looked at (``lstat``) before it is opened, and only a regular file is read. Opening never
blocks (``O_NONBLOCK``: a FIFO would wait for a writer for good, and ``syndicate run``
with it), never follows a link inside a folder (``O_NOFOLLOW``: a link to ``/etc/shadow``
read by a root ``run``), and the open file is checked again (``fstat``), so an entry swapped
between the look and the open is refused too. What cannot be read raises
:class:`Unreadable` with a reason to show as ``PATH: reason``; the caller goes on with the
other messages.
"""

from __future__ import annotations

import errno
import os
import stat
from io import BufferedReader
from pathlib import Path

from syndicate.errors import SyndicateError

_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
PERMISSION = "cannot be read (permission denied): fix its permissions"
LINK = "a symbolic link: not followed (put the message itself here, or name the link)"


class Unreadable(SyndicateError):
    """A message file that was not read, and why (``reason``: what to do about it)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse(path: Path, mode: int) -> Unreadable:
    return Unreadable(path, f"{_kind(mode)}, not a message file: not read; remove it")


def reason(exc: OSError) -> str:
    """Why a file or folder could not be read, and what to do, for ``PATH: reason``."""
    if isinstance(exc, PermissionError):
        return PERMISSION
    if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link (swapped in after the lstat)
        return LINK
    return f"cannot be read ({exc.strerror or exc})"


def _failed(path: Path, exc: OSError) -> Unreadable:
    return Unreadable(path, reason(exc))


def read_message(path: Path, limit: int, *, follow: bool = False) -> bytes:
    """The first ``limit`` bytes of the regular file at ``path``. ``follow``: the path was
    named by the user, so a link there is followed (never one found inside a folder).
    Raises :class:`Unreadable`, or :class:`FileNotFoundError` when the file is gone (another
    reader took it)."""
    with open_message(path, follow=follow) as handle:
        try:
            return handle.read(limit)
        except OSError as exc:  # EIO, or a file on a network share gone stale
            raise _failed(path, exc) from None


def open_message(path: Path, *, follow: bool = False) -> BufferedReader:
    """The regular file at ``path``, open for reading (see :func:`read_message`)."""
    try:
        mode = (os.stat if follow else os.lstat)(path).st_mode
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _failed(path, exc) from None
    if stat.S_ISLNK(mode):
        raise Unreadable(path, LINK)
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode)
    try:
        fd = os.open(path, _FLAGS | (0 if follow else _NOFOLLOW))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _failed(path, exc) from None
    handle = open(fd, "rb", closefd=True)  # buffered: read(n) reads on to n or the end
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        handle.close()
        raise _failed(path, exc) from None
    if not stat.S_ISREG(mode):  # swapped for something else between the look and the open
        handle.close()
        raise _refuse(path, mode)
    return handle

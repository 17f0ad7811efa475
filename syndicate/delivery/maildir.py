"""Deliver messages into a local Maildir instead of over SMTP.

Follows the Maildir convention (https://cr.yp.to/proto/maildir.html): each message is
written under ``tmp/`` with a unique name, flushed to disk with ``fsync``, then renamed
into ``new/``, so a reader never sees a half-written file and any mail client can open
the folder.  The standard library's :class:`mailbox.Maildir` is not used for writing
because it never calls ``fsync``; a crash right after "delivery" could lose the message.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import threading
import time
from pathlib import Path

from syndicate.delivery.transport import Kind, Outcome, clean_reply

__all__ = ["MaildirTransport"]

_FORBIDDEN = frozenset("\r\n\0")
_SUBDIRS = ("tmp", "new", "cur")


def _safe_hostname() -> str:
    """The host name with ``/`` and ``:`` escaped, as the Maildir spec asks."""
    return socket.gethostname().replace("/", r"\057").replace(":", r"\072")


class MaildirTransport:
    """A :class:`~syndicate.delivery.transport.Transport` that files mail into a Maildir.

    Each message gets a ``Delivered-To: <recipient>`` line prepended (what an MTA does on
    local delivery), using the message's own line ending.  The bytes that follow are kept
    exactly as given.  The folder and its ``tmp``/``new``/``cur`` subfolders are created
    on first use.  File I/O runs in a worker thread so the event loop is never blocked.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._hostname = _safe_hostname()

    async def send(self, sender: str, recipient: str, data: bytes) -> Outcome:
        """File ``data`` for ``recipient``; never raises for delivery problems.

        Returns SENT (code 250) with the file name, FAILED for an envelope address holding
        CR, LF or NUL (nothing is written), or DEFERRED with the OS error on I/O failure.
        """
        for role, address in (("sender", sender), ("recipient", recipient)):
            if _FORBIDDEN.intersection(address):
                return Outcome(
                    kind=Kind.FAILED,
                    code=None,
                    reply=clean_reply(f"{role} address contains CR, LF or NUL: {address!r}"),
                )
        try:
            final = await asyncio.to_thread(self._deliver, recipient, data)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            where = f": {exc.filename}" if exc.filename else ""
            reply = clean_reply(f"maildir write failed: {reason}{where}")
            return Outcome(kind=Kind.DEFERRED, code=None, reply=reply)
        return Outcome(kind=Kind.SENT, code=250, reply=clean_reply(f"delivered to maildir {final}"))

    async def close(self) -> None:
        """Nothing to release: every delivery opens and closes its own file."""

    def _unique_name(self) -> str:
        """``<seconds>.M<micros>P<pid>Q<counter>.<host>``: unique across processes and calls."""
        with self._lock:
            count = next(self._counter)
        now = time.time()
        seconds, micros = int(now), int((now % 1) * 1_000_000)
        return f"{seconds}.M{micros}P{os.getpid()}Q{count}.{self._hostname}"

    def _deliver(self, recipient: str, data: bytes) -> Path:
        """Blocking part of :meth:`send`: write to tmp/, fsync, rename into new/."""
        for sub in _SUBDIRS:
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        eol = b"\r\n" if data.split(b"\n", 1)[0].endswith(b"\r") else b"\n"
        payload = b"Delivered-To: " + recipient.encode("utf-8") + eol + data
        name = self._unique_name()
        tmp, final = self.path / "tmp" / name, self.path / "new" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.path / "new")
        return final


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

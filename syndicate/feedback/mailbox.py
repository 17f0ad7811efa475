"""Messages from a Maildir folder, an mbox file or ``.eml`` files, one at a time.

Each message's bytes are read when its turn comes, so a mailbox of any size streams: an
mbox is read in one pass, line by line, keeping at most one message (and never more than
:data:`~syndicate.feedback.parse.MAX_BYTES` + 1 bytes of it). Every file is opened as
:mod:`syndicate.feedback.files` does (never a FIFO, device or link found in a folder): a
file that cannot be read is told to ``problems`` and the others are read on. Every message
is named for the import's report: a file by its path, an mbox message as
``path: message N`` (counted from 1: ``path:N`` would read as a line number).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path
from typing import Protocol

from syndicate.errors import SyndicateError
from syndicate.feedback.files import Unreadable, open_message, read_message, reason
from syndicate.feedback.parse import MAX_BYTES

LINE = 65_536  # an mbox is read in lines of at most this many bytes (a longer one in pieces)


class MailboxError(SyndicateError):
    """A path that is no mailbox, Maildir or message file."""


class Problems(Protocol):
    """Where :func:`messages` tells what it did not read (the import's report)."""

    def unreadable(self, name: str, reason: str) -> None:
        """A file (or folder) that could not be read: ``name: reason``."""

    def skipped(self, folder: Path, files: int, folders: int) -> None:
        """Entries of a folder of ``.eml`` files that are not named ``*.eml``."""


def _is_maildir(path: Path) -> bool:
    # os.path.isdir: False for a folder we may not look into (Path.is_dir raises there),
    # which then gets its row when it is listed.
    return all(os.path.isdir(path / sub) for sub in ("cur", "new", "tmp"))


def _listing(path: Path, problems: Problems) -> list[os.DirEntry[str]] | None:
    try:
        with os.scandir(path) as entries:
            return sorted((e for e in entries if not e.name.startswith(".")), key=_name)
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.unreadable(str(path), reason(exc))
        return None


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def messages(path: Path, problems: Problems) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every message under ``path``: a Maildir, an mbox file, a folder of
    ``.eml`` files or one message file. Messages over the size limit come as their first
    :data:`~syndicate.feedback.parse.MAX_BYTES` + 1 bytes (refused, without reading more).
    ``path`` itself was named by the user: a link there is followed."""
    if os.path.isdir(path):
        if _is_maildir(path):
            yield from _maildir(path, problems)
        else:
            yield from _folder(path, problems)
        return
    try:
        handle = open_message(path, follow=True)
    except FileNotFoundError:
        problems.unreadable(str(path), "no such file (moved or deleted meanwhile)")
        return
    except Unreadable as exc:
        problems.unreadable(str(path), exc.reason)
        return
    with handle:
        try:
            if handle.peek(5)[:5] == b"From ":
                yield from _mbox(handle, str(path))
            else:
                yield str(path), handle.read(MAX_BYTES + 1)
        except OSError as exc:
            problems.unreadable(str(path), reason(exc))


def _maildir(path: Path, problems: Problems) -> Iterator[tuple[str, bytes]]:
    """Both ``new/`` and ``cur/``, in the order of the messages' unique names."""
    found: list[tuple[str, Path]] = []
    for sub in ("new", "cur"):
        entries = _listing(path / sub, problems)
        found.extend((e.name.partition(":")[0], path / sub / e.name) for e in entries or ())
    for _, file in sorted(found):
        try:
            data = read_message(file, MAX_BYTES + 1)
        except FileNotFoundError:  # moved away by another reader meanwhile
            continue
        except Unreadable as exc:
            problems.unreadable(str(file), exc.reason)
            continue
        yield str(file), data


def _folder(path: Path, problems: Problems) -> Iterator[tuple[str, bytes]]:
    entries = _listing(path, problems)
    if entries is None:
        return
    files = [e for e in entries if e.name.lower().endswith(".eml")]
    others = [e for e in entries if not e.name.lower().endswith(".eml")]
    folders = sum(1 for e in others if e.is_dir(follow_symlinks=False))
    if not files:
        extra = f" ({_others(len(others) - folders, folders)} not named *.eml)" if others else ""
        raise MailboxError(f"{path}: neither a Maildir (cur/ new/ tmp/) nor .eml files{extra}")
    if others:
        problems.skipped(path, len(others) - folders, folders)
    for entry in files:
        file = path / entry.name
        try:
            data = read_message(file, MAX_BYTES + 1)
        except FileNotFoundError:
            continue
        except Unreadable as exc:
            problems.unreadable(str(file), exc.reason)
            continue
        yield str(file), data


def _others(files: int, folders: int) -> str:
    parts = [f"{files:,} file{'s' if files != 1 else ''}"] if files else []
    parts += [f"{folders:,} folder{'s' if folders != 1 else ''}"] if folders else []
    return " and ".join(parts)


def _mbox(handle: BufferedReader, path: str) -> Iterator[tuple[str, bytes]]:
    """The messages of an mbox, each without its ``From `` line and the blank line that
    separates it from the next (as :class:`mailbox.mbox` gives them), in one pass."""
    number = 0
    data = bytearray()
    blank = b""  # a blank line held back: the separator, if a "From " line follows it
    started = False
    at_start = True  # the next piece read starts a line
    while True:
        piece = handle.readline(LINE)
        line_start, at_start = at_start, piece.endswith(b"\n")
        if not piece or (line_start and piece.startswith(b"From ")):
            if started:
                yield f"{path}: message {number}", bytes(data)
            if not piece:
                return
            number, started, blank = number + 1, True, b""
            data.clear()
            if not at_start:  # a "From " line longer than LINE: the rest of it
                _skip_line(handle)
                at_start = True
            continue
        if line_start and piece in (b"\n", b"\r\n"):
            piece, blank = blank, piece
        elif blank:
            piece, blank = blank + piece, b""
        if len(data) <= MAX_BYTES:
            data += piece[: MAX_BYTES + 1 - len(data)]


def _skip_line(handle: BufferedReader) -> None:
    while (piece := handle.readline(LINE)) and not piece.endswith(b"\n"):
        pass

"""Messages from a Maildir folder, an mbox file or ``.eml`` files, one at a time.

The standard library's :mod:`mailbox` reads both formats; each message's bytes are read
when its turn comes, so a mailbox of any size streams (an mbox keeps only a table of
offsets). Every message is named (``path`` or ``path:key``) for the import's report.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from syndicate.errors import SyndicateError
from syndicate.feedback.parse import MAX_BYTES


class MailboxError(SyndicateError):
    """A path that is no mailbox, Maildir or message file."""


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every message under ``path``: a Maildir, an mbox file, a folder of
    ``.eml`` files or one message file. Messages over the size limit come as their first
    :data:`~syndicate.feedback.parse.MAX_BYTES` + 1 bytes (refused, without reading more)."""
    if path.is_dir():
        if _is_maildir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.iterkeys()):
                try:
                    with box.get_file(key) as handle:
                        data = handle.read(MAX_BYTES + 1)
                except (KeyError, FileNotFoundError):  # moved away by another reader meanwhile
                    continue
                yield f"{path}:{key}", data
            return
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
        if not files:
            raise MailboxError(f"{path}: neither a Maildir (cur/ new/ tmp/) nor .eml files")
        for file in files:
            yield str(file), _bounded(file)
        return
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:
        raise MailboxError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if head == b"From ":
        mbox = mailbox.mbox(path, factory=None, create=False)
        try:
            for key in mbox.iterkeys():
                with mbox.get_file(key) as handle:
                    yield f"{path}:{key}", handle.read(MAX_BYTES + 1)
        finally:
            mbox.close()
        return
    yield str(path), _bounded(path)


def _bounded(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(MAX_BYTES + 1)

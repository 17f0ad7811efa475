"""The bounce Maildir ``syndicate run`` reads: ``[bounces] maildir = "…"``.

The mail server delivers bounces into ``new/``; each poll takes what is there in batches
and, once a batch is committed, moves its files to ``cur/`` marked seen (``:2,S``), as any
mail client would. A crash between the commit and the move only means the next poll reads
those messages again, and their event ids make that change nothing. An entry that is no
readable regular file (another owner's, a FIFO, a link) is never opened in a way that can
block or follow it: it stays in ``new/`` and is reported, and the others are taken.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.feedback import intake
from syndicate.feedback.files import Unreadable, read_message
from syndicate.feedback.importer import BATCH, ImportReport
from syndicate.feedback.parse import MAX_BYTES, parse
from syndicate.feedback.report import Feedback


def folder(settings: Settings) -> Path | None:
    """The configured bounce Maildir (relative to the site), or None."""
    bounces = settings.config.bounces
    if bounces is None or bounces.maildir is None:
        return None
    return (settings.root / bounces.maildir).resolve()


def poll(engine: Engine, settings: Settings, path: Path, *, now: datetime) -> ImportReport:
    """Take every message in ``path/new`` and move each to ``cur/`` once it is taken."""
    report = ImportReport()
    new, cur = path / "new", path / "cur"
    if not new.is_dir():
        return report
    cur.mkdir(exist_ok=True)
    bounces = settings.config.bounces
    address = bounces.address if bounces is not None else None
    matching = intake.matcher(settings, now=now)
    names = sorted(n for n in os.listdir(new) if not n.startswith("."))
    for start in range(0, len(names), BATCH):
        items: list[Feedback] = []
        labels: dict[str, str] = {}
        done: list[str] = []
        for name in names[start : start + BATCH]:
            try:
                data = read_message(new / name, MAX_BYTES + 1)
            except FileNotFoundError:  # another process took it
                continue
            except Unreadable as exc:  # left in new/, said each poll (``run`` logs it once)
                report.unreadable(str(new / name), exc.reason)
                continue
            done.append(name)
            report.read(name, parse(data, bounce_address=address), items, labels)
        if items:
            taken = intake.take(engine, settings, items, trusted=False, now=now, matching=matching)
            report.add(labels, taken)
        for name in done:
            seen = name if ":2," in name else f"{name}:2,S"
            try:
                os.replace(new / name, cur / seen)
            except FileNotFoundError:
                pass
    return report


def problem(settings: Settings) -> str | None:
    """Why the configured bounce Maildir cannot be read (``check`` says it, ``run`` logs it
    once), or None: a missing or misspelt folder must not pass in silence."""
    path = folder(settings)
    if path is None or (path / "new").is_dir():
        return None
    where = shlex.quote(str(path))
    return (
        f"syndicate.toml: bounces.maildir: {path} is not a Maildir (no new/): create it "
        f"(mkdir -p {where}/new {where}/cur {where}/tmp) or fix the path"
    )

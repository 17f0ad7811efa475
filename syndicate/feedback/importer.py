"""Importing bounce mailboxes: parse every message, take its feedback in batches.

Each batch of messages is taken in one transaction; a crash (even ``kill -9``) loses at most
the batch in flight, and running the import again takes what is left: event ids make every
message count once. Memory stays flat: only counters and the report's rows are kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from syndicate.config import Settings
from syndicate.feedback import intake
from syndicate.feedback.mailbox import messages
from syndicate.feedback.parse import Parsed
from syndicate.feedback.pool import parsed as parse_messages
from syndicate.feedback.report import Feedback

BATCH = 200  # messages per transaction
MAX_ROWS = 10_000  # report rows kept (unmatched or unreadable messages); the rest counted


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """A message the import could not act on, and why."""

    name: str
    reason: str
    recipient: str | None = None


@dataclass(slots=True, kw_only=True)
class ImportReport:
    """What an import did, in counts, and the messages it could not act on."""

    messages: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    rows: list[Row] = field(default_factory=list)
    rows_left_off: int = 0
    # Files not read (each also a row): the run's poll logs each once, the CLI exits 1.
    cannot_read: list[Row] = field(default_factory=list)
    skipped_in: list[tuple[Path, int, int]] = field(default_factory=list)

    def unreadable(self, name: str, reason: str) -> None:
        """A file (or folder) that could not be read (see :class:`mailbox.Problems`)."""
        self.counts["unreadable"] += 1
        row = Row(name=name, reason=reason)
        self._row(row)
        if len(self.cannot_read) < MAX_ROWS:
            self.cannot_read.append(row)

    def skipped(self, folder: Path, files: int, folders: int) -> None:
        """Entries of a folder of ``.eml`` files not named ``*.eml``: not read, but said."""
        self.counts["skipped"] += files + folders
        self.skipped_in.append((folder, files, folders))

    def read(
        self, name: str, parsed: Parsed, items: list[Feedback], labels: dict[str, str]
    ) -> None:
        """Count one parsed message: its feedback joins ``items`` (named in ``labels`` by
        event id), or it is a row saying why it has none."""
        self.messages += 1
        if not parsed.feedback:
            self.counts["not_feedback"] += 1
            self._row(Row(name=name, reason=parsed.reason or "no feedback"))
        for item in parsed.feedback:
            items.append(item)
            labels[item.event_id] = name

    def _row(self, row: Row) -> None:
        if len(self.rows) < MAX_ROWS:
            self.rows.append(row)
        else:
            self.rows_left_off += 1

    def add(self, names: dict[str, str], result: intake.TakeResult) -> None:
        """Count one taken batch (``names``: message name by event id). Of the items matched
        to a subscriber, ``matched`` are those that may act (a valid token, or a copy sent
        in the trust window) and ``untrusted`` the others, which change nothing: an item is
        counted in at most one of matched, not trusted and unmatched."""
        for taken in result.taken:
            if taken.effect is None:
                self.counts["already"] += 1
                continue
            self.counts["processed"] += 1
            self.counts[taken.item.outcome.value] += 1
            if taken.match is not None and taken.match.subscriber_id is not None:
                self.counts["matched" if taken.match.counts else "untrusted"] += 1
            if taken.effect.startswith(("bounced on", "complained on")):
                self.counts["removed"] += 1
        for taken in result.unmatched:
            self.counts["unmatched"] += 1
            note = taken.match.note if taken.match else "unmatched"
            self._row(
                Row(
                    name=names.get(taken.item.event_id, "?"),
                    reason=f"unmatched {taken.item.outcome.value}: {note}",
                    recipient=taken.item.original_recipient or taken.item.recipient,
                )
            )


def import_paths(
    engine: Engine,
    settings: Settings,
    paths: Iterable[Path],
    *,
    now: datetime,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Take the feedback of every message under ``paths`` (see :func:`mailbox.messages`)."""
    bounces = settings.config.bounces
    address = bounces.address if bounces is not None else None
    matching = intake.matcher(settings, now=now)
    report = ImportReport()
    items: list[Feedback] = []
    names: dict[str, str] = {}
    count = 0

    def flush() -> None:
        nonlocal items, names, count
        if items:
            report.add(
                names,
                intake.take(engine, settings, items, trusted=False, now=now, matching=matching),
            )
        items, names, count = [], {}, 0
        if on_batch is not None:
            on_batch(report)

    every = (message for path in paths for message in messages(path, report))
    for name, parsed in parse_messages(every, address):
        report.read(name, parsed, items, names)
        count += 1
        if count >= BATCH:
            flush()
    flush()
    report.counts["pruned"] = intake.prune(engine, settings, now=now)
    return report

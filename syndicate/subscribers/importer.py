"""Bringing rows of subscribers into a list: batched, idempotent, and never un-suppressing.

Each batch is one transaction holding the subscribers, their subscriptions and the consent
trail together, so an import stopped at any point (bad file, Ctrl-C, kill -9) leaves whole
batches only, and running it again finishes the job without duplicates: addresses are
unique case-insensitively and rows already in place are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Engine

from syndicate.models import SUPPRESSED, Problem, Source, Status, Subscriber
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change, NewSubscriber
from syndicate.subscribers.csvfile import Row

BATCH_ROWS = 1000


@dataclass(slots=True)
class ImportReport:
    """What an import did so far; ``committed`` rows are safely stored."""

    rows: int = 0
    committed: int = 0
    added: int = 0
    subscribed: int = 0
    reactivated: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_suppressed: int = 0
    problems: list[Problem] = field(default_factory=list)


def decide(current: Status | None, wanted: Status, *, resubscribe: bool) -> Status | None:
    """The status a subscription moves to, or None to leave it as it is.

    Suppression always wins: a row saying "unsubscribed" is recorded, and nobody who left,
    bounced or complained is made pending or active again without ``resubscribe``. An
    active subscription is never demoted to pending.
    """
    if current == wanted:
        return None
    if current is None or wanted in SUPPRESSED:
        return wanted
    if current in SUPPRESSED:
        return wanted if resubscribe else None
    if current is Status.ACTIVE and wanted is Status.PENDING:
        return None
    return wanted


def _merge(stored: Subscriber, row: Row) -> Subscriber:
    """The stored profile updated with what the row says (empty cells change nothing)."""
    attributes = dict(stored.attributes)
    attributes.update(row.attributes)
    return replace(
        stored,
        name=row.name if row.name is not None else stored.name,
        topics=row.topics or stored.topics,
        attributes=tuple(sorted(attributes.items())),
    )


def import_rows(
    engine: Engine,
    list_name: str,
    items: Iterable[Row | Problem],
    *,
    now: datetime,
    source: Source = Source.IMPORT,
    default_status: Status = Status.ACTIVE,
    resubscribe: bool = False,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Store ``items`` into ``list_name``; problems are collected, valid rows committed."""
    report = ImportReport()
    batch: list[Row] = []
    for item in items:
        if isinstance(item, Problem):
            report.problems.append(item)
            continue
        report.rows += 1
        batch.append(item)
        if len(batch) >= BATCH_ROWS:
            _commit(engine, list_name, batch, report, now, source, default_status, resubscribe)
            batch = []
            if on_batch is not None:
                on_batch(report)
    if batch:
        _commit(engine, list_name, batch, report, now, source, default_status, resubscribe)
        if on_batch is not None:
            on_batch(report)
    return report


def _commit(
    engine: Engine,
    list_name: str,
    batch: list[Row],
    report: ImportReport,
    now: datetime,
    source: Source,
    default_status: Status,
    resubscribe: bool,
) -> None:
    with engine.begin() as conn:
        stored = repo.find_subscribers(conn, [r.address.key for r in batch])
        new = [
            NewSubscriber(
                email=r.address.email,
                key=r.address.key,
                name=r.name,
                topics=r.topics,
                attributes=tuple(sorted(r.attributes.items())),
            )
            for r in batch
            if r.address.key not in stored
        ]
        ids = repo.insert_subscribers(conn, new, now=now)
        changed = []
        for r in batch:
            before = stored.get(r.address.key)
            if before is not None:
                ids[r.address.key] = before.id
                after = _merge(before, r)
                if after != before:
                    changed.append(after)
        repo.update_subscribers(conn, changed)
        current = repo.statuses(conn, list(ids.values()), list_name)
        changes = []
        for r in batch:
            sid = ids[r.address.key]
            wanted = Status(r.status) if r.status else default_status
            was = current.get(sid)
            target = decide(was, wanted, resubscribe=resubscribe)
            if target is None:
                if was in SUPPRESSED and wanted not in SUPPRESSED:
                    report.kept_suppressed += 1
                continue
            changes.append(
                Change(
                    subscriber_id=sid,
                    list_name=list_name,
                    status=target,
                    previous=was,
                    source=source,
                    detail=f"line {r.line}" if source is Source.IMPORT else None,
                )
            )
            if was is None:
                report.subscribed += 1
            elif was in SUPPRESSED and target not in SUPPRESSED:
                report.reactivated += 1
        repo.apply_changes(conn, changes, now=now)
    touched = {c.subscriber_id for c in changes} | {s.id for s in changed}
    touched.update(ids[n.key] for n in new)
    report.added += len(new)
    report.updated += len(changed)
    report.unchanged += sum(1 for r in batch if ids[r.address.key] not in touched)
    report.committed += len(batch)

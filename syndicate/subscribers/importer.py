"""Bringing rows of subscribers into a list: batched, idempotent, and never un-suppressing.

An address that bounced or complained on *another* list is not made active here either
(kept out, counted and said per row) unless ``resubscribe``: a bounce or a spam report is
about the address, and an editor's file is no proof that the mailbox works again.

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

from syndicate.events import Hooks, record_changes
from syndicate.models import SUPPRESSED, Problem, Source, Status, Subscriber
from syndicate.store import subscribers as repo
from syndicate.store import welcomes
from syndicate.store.subscribers import Change, NewSubscriber
from syndicate.store.suppression import Block, blocked_elsewhere
from syndicate.subscribers.address import show
from syndicate.subscribers.csvfile import Row

BATCH_ROWS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """What an import did to (or left alone in) one existing subscriber, row by row."""

    line: int
    email: str  # as stored (ASCII domain): show it with ``display_address``
    status: str | None  # "pending → active on weekly", when the row changed the status
    details: tuple[str, ...]  # "name 'Ada' kept (file says 'Ada L.'); …", one per value
    kept_out: Block | None = None  # not made active: bounced or complained on that list

    @property
    def text(self) -> str:
        """Everything the row did, as one line."""
        return "; ".join(([self.status] if self.status else []) + list(self.details))


@dataclass(slots=True)
class ImportReport:
    """What an import did so far; ``committed`` rows are safely stored."""

    rows: int = 0
    committed: int = 0
    added: int = 0  # subscribers (addresses) new to the store: not a bucket of rows
    # Each committed row is in exactly one of these, the one that says what it did:
    subscribed: int = 0  # a new subscription on the list, pending or active
    reactivated: int = 0  # unsubscribed, bounced or complained before: made active again
    suppressed: int = 0  # the file's status column said unsubscribed, bounced or complained
    updated: int = 0  # status pending → active, or a name, attribute or topics changed
    unchanged: int = 0
    kept_suppressed: int = 0  # left, and stays so (no --resubscribe)
    kept_out: int = 0  # not made active: bounced or complained on another list
    kept: int = 0  # rows where a stored value differs from the file's and was kept (a remark)
    welcomed: int = 0  # welcome mails queued
    problems: list[Problem] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


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


def kept_out_text(list_name: str, was: Status | None, block: Block) -> str:
    """What a row kept out by ``block`` says: ``kept out of briefing: bounced on weekly
    (2026-11-03); --resubscribe to add anyway``."""
    why = f"{block.status.value} on {block.list_name} ({block.since.date().isoformat()})"
    if was is None:
        return f"kept out of {list_name}: {why}; --resubscribe to add anyway"
    return f"stays {was.value} on {list_name}: {why}; --resubscribe to make active anyway"


def _q(value: str) -> str:
    return "'" + show(value)[1:-1] + "'"


def _topics_text(topics: tuple[str, ...]) -> str:
    return ", ".join(topics) if topics else "none (everything)"


def _merge(
    stored: Subscriber, row: Row, *, update: bool, said: list[str], said_topics: list[str]
) -> tuple[Subscriber, tuple[str, ...], bool]:
    """The stored profile and list topics as the row leaves them, whether a differing value
    was kept, and (in ``said``, ``said_topics`` for the list topics) what it did. The topics
    are said apart: a row kept out of a list it has no subscription on stores none.

    Empty cells change nothing. A value the store does not have yet is filled in; one that
    differs from the stored value replaces it only with ``update``, else it is kept and said.
    """
    hint = "; use --update to overwrite"
    kept = False
    name = stored.name
    if row.name is not None and row.name != stored.name:
        if stored.name is None:
            name = row.name
            said.append(f"name set to {_q(row.name)}")
        elif update:
            name = row.name
            said.append(f"name {_q(stored.name)} → {_q(row.name)}")
        else:
            said.append(f"name {_q(stored.name)} kept (file says {_q(row.name)}){hint}")
            kept = True
    attributes = dict(stored.attributes)
    for key, value in row.attributes.items():
        old = attributes.get(key)
        if old == value:
            continue
        if old is None:
            attributes[key] = value
            said.append(f"{key} set to {_q(value)}")
        elif update:
            attributes[key] = value
            said.append(f"{key} {_q(old)} → {_q(value)}")
        else:
            said.append(f"{key} {_q(old)} kept (file says {_q(value)}){hint}")
            kept = True
    topics = stored.topics
    if row.topics and row.topics != stored.topics:
        if not stored.topics:
            topics = row.topics
            said_topics.append(f"topics set to {_topics_text(row.topics)}")
        elif update:
            topics = row.topics
            said_topics.append(f"topics {_topics_text(stored.topics)} → {_topics_text(row.topics)}")
        else:
            said_topics.append(
                f"topics {_topics_text(stored.topics)} kept "
                f"(file says {_topics_text(row.topics)}){hint}"
            )
            kept = True
    merged = replace(stored, name=name, attributes=tuple(sorted(attributes.items())))
    return merged, topics, kept


def import_rows(
    engine: Engine,
    list_name: str,
    items: Iterable[Row | Problem],
    *,
    now: datetime,
    source: Source = Source.IMPORT,
    default_status: Status = Status.ACTIVE,
    resubscribe: bool = False,
    update: bool = False,
    on_batch: Callable[[ImportReport], None] | None = None,
    welcome: bool = False,
    hooks: Hooks = (),
) -> ImportReport:
    """Store ``items`` into ``list_name``; problems are collected, valid rows committed.

    The ``topics`` of a row are those chosen on ``list_name``. Values an existing subscriber
    already has are kept unless ``update``; every row that met an existing subscriber and
    changed or kept something gets a :class:`Notice`. ``welcome``: each row made active
    gets the list's welcome mail queued, in its batch's transaction (the caller checks
    that the list has one). ``hooks``: the ``[[webhooks]]`` told about the subscriptions
    created and changed (recorded in each batch's transaction).
    """
    options = _Options(source, default_status, resubscribe, update, welcome, tuple(hooks))
    report = ImportReport()
    batch: list[Row] = []
    for item in items:
        if isinstance(item, Problem):
            report.problems.append(item)
            continue
        report.rows += 1
        batch.append(item)
        if len(batch) >= BATCH_ROWS:
            _commit(engine, list_name, batch, report, now, options)
            batch = []
            if on_batch is not None:
                on_batch(report)
    if batch:
        _commit(engine, list_name, batch, report, now, options)
        if on_batch is not None:
            on_batch(report)
    return report


def _activates(was: Status | None, target: Status | None) -> bool:
    return target is Status.ACTIVE and was is not Status.ACTIVE


def _trail_detail(
    r: Row, opts: _Options, was: Status | None, target: Status, block: Block | None
) -> str | None:
    """The consent trail's detail: ``line 4`` for an import, and what ``--resubscribe``
    overrode (``resubscribed with --resubscribe (was complained; bounced on weekly
    2026-11-03)``): the editor's word is the only record of that consent."""
    parts = [f"line {r.line}"] if opts.source is Source.IMPORT else []
    if opts.resubscribe and target is Status.ACTIVE:
        why = [f"was {was.value}"] if was in SUPPRESSED else []
        if block is not None:
            why.append(
                f"{block.status.value} on {block.list_name} {block.since.date().isoformat()}"
            )
        if why:
            parts.append(f"resubscribed with --resubscribe ({'; '.join(why)})")
    return "; ".join(parts) or None


@dataclass(frozen=True, slots=True)
class _Options:
    source: Source
    default_status: Status
    resubscribe: bool
    update: bool
    welcome: bool
    hooks: Hooks


def _commit(
    engine: Engine,
    list_name: str,
    batch: list[Row],
    report: ImportReport,
    now: datetime,
    opts: _Options,
) -> None:
    said: dict[str, list[str]] = {r.address.key: [] for r in batch}
    said_topics: dict[str, list[str]] = {r.address.key: [] for r in batch}
    said_status: dict[str, list[str]] = {r.address.key: [] for r in batch}
    moved: dict[str, str] = {}
    with engine.begin() as conn:
        stored = repo.find_subscribers(conn, [r.address.key for r in batch], list_name)
        new = [
            NewSubscriber(
                email=r.address.email,
                key=r.address.key,
                name=r.name,
                attributes=tuple(sorted(r.attributes.items())),
            )
            for r in batch
            if r.address.key not in stored
        ]
        ids = repo.insert_subscribers(conn, new, now=now)
        changed, topics, kept = [], [], set()
        for r in batch:
            before = stored.get(r.address.key)
            if before is None:
                if r.topics:
                    topics.append((ids[r.address.key], r.topics))
                continue
            ids[r.address.key] = before.id
            after, chosen, kept_one = _merge(
                before,
                r,
                update=opts.update,
                said=said[r.address.key],
                said_topics=said_topics[r.address.key],
            )
            if kept_one:
                kept.add(before.id)
            if replace(after, topics=before.topics) != before:
                changed.append(after)
            if chosen != before.topics:
                topics.append((before.id, chosen))
        repo.update_subscribers(conn, changed)
        current = repo.statuses(conn, list(ids.values()), list_name)
        targets = []
        for r in batch:
            sid = ids[r.address.key]
            wanted = Status(r.status) if r.status else opts.default_status
            was = current.get(sid)
            targets.append((r, sid, wanted, was, decide(was, wanted, resubscribe=opts.resubscribe)))
        # Stored ones made active by this file, but bounced or complained elsewhere: one
        # query a batch (none for a batch of new addresses).
        asked = [
            sid
            for r, sid, _, was, target in targets
            if r.address.key in stored and _activates(was, target)
        ]
        # Asked with --resubscribe too: the trail says what it overrode.
        blocks = blocked_elsewhere(conn, asked, besides=list_name)
        held: dict[int, Block] = {}  # kept out: not made active
        changes = []
        outcome: dict[int, str] = {}  # what each row did: the summary's bucket
        for r, sid, wanted, was, target in targets:
            if sid in blocks and _activates(was, target) and not opts.resubscribe:
                held[sid] = blocks[sid]
                outcome[sid] = "kept_out"
                said_status[r.address.key].append(kept_out_text(list_name, was, blocks[sid]))
                continue
            if target is None:
                if was in SUPPRESSED and wanted not in SUPPRESSED:
                    outcome[sid] = "kept_suppressed"
                    said_status[r.address.key].append(
                        f"stays {was.value} on {list_name} (file says {wanted.value}); "
                        "use --resubscribe if they asked to come back"
                    )
                continue
            changes.append(
                Change(
                    subscriber_id=sid,
                    list_name=list_name,
                    status=target,
                    previous=was,
                    source=opts.source,
                    detail=_trail_detail(r, opts, was, target, blocks.get(sid)),
                )
            )
            moved[r.address.key] = (
                f"{target.value} on {list_name}"
                if was is None
                else f"{was.value} → {target.value} on {list_name}"
            )
            if target in SUPPRESSED:
                outcome[sid] = "suppressed"
            elif was is None:
                outcome[sid] = "subscribed"
            elif was in SUPPRESSED:
                outcome[sid] = "reactivated"
            else:
                outcome[sid] = "updated"  # pending → active
        repo.apply_changes(conn, changes, now=now)
        # A row kept out of a list it has no subscription on stores no topics there.
        topics = [(sid, t) for sid, t in topics if sid in current or sid not in held]
        if opts.welcome:
            report.welcomed += welcomes.queue_for(conn, changes, {list_name}, now=now)
        record_changes(conn, opts.hooks, changes, now=now)
        repo.set_topics(conn, list_name, topics)  # every subscription exists by now
    touched = {s.id for s in changed} | {sid for sid, _ in topics}
    for r in batch:
        sid = ids[r.address.key]
        bucket = outcome.get(sid) or ("updated" if sid in touched else "unchanged")
        setattr(report, bucket, getattr(report, bucket) + 1)
        if sid in current or sid not in held:
            said[r.address.key].extend(said_topics[r.address.key])
        said[r.address.key].extend(said_status[r.address.key])
    report.added += len(new)
    report.kept += len(kept)
    report.committed += len(batch)
    for r in batch:  # only rows that met someone already stored: new ones are just "added"
        key = r.address.key
        if key in stored and (said[key] or key in moved):
            report.notices.append(
                Notice(
                    line=r.line,
                    email=r.address.email,
                    status=moved.get(key),
                    details=tuple(said[key]),
                    kept_out=held.get(ids[key]),
                )
            )

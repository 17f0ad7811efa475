"""``bounces import`` (mailboxes of bounces and complaints) and ``bounces list``."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress, TextColumn

from syndicate.cli.base import Context, emit_json, err, errors, main, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.feedback.importer import ImportReport, import_paths
from syndicate.feedback.summary import SUMMARY, summary
from syndicate.store import feedback as repo
from syndicate.store import feedback_views as views
from syndicate.store import open_store
from syndicate.text import plural, printable


@main.group()
def bounces() -> None:
    """Bounces, complaints and automatic replies: import mailboxes, list what came in."""


# readable=False: a PATH that cannot be read gets its row like any file inside one, and the
# other PATHs are still taken.
IMPORTABLE = click.Path(exists=True, readable=False, path_type=Path)


@bounces.command("import")
@click.argument("paths", nargs=-1, required=True, type=IMPORTABLE)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def import_(ctx: Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Take the bounces in PATH…: Maildir folders, mbox files or .eml files (a folder
    that is no Maildir: its files named *.eml; the others are counted, not read).

    Importing the same messages again changes nothing. Exit status: 0 when every file was
    read; 1 when some could not be (each named; the others were taken: fix and run the
    same import again) or a PATH is no mailbox; 2 for a bad configuration; 130 when
    interrupted (what was taken stays taken: run it again to finish).
    """
    progress = ImportReport()
    with errors():
        settings = ctx.settings
        engine = open_store(settings.database_url)
        try:
            with _progress() as show:

                def seen(report: ImportReport) -> None:
                    nonlocal progress
                    progress = report
                    show(report)

                report = import_paths(engine, settings, paths, now=wall_clock(), on_batch=seen)
        except KeyboardInterrupt:
            err.print(
                f"interrupted after {plural(progress.messages, 'message')}; what was taken "
                "stays taken: run the same import again to finish",
                markup=False,
            )
            sys.exit(130)
        finally:
            engine.dispose()
    if as_json:
        emit_json(_import_doc(report))
        sys.exit(1 if report.counts.get("unreadable") else 0)
    counts = report.counts
    out.print(summary(report.messages, counts), markup=False)
    if counts.get("removed"):
        out.print(f"{plural(counts['removed'], 'subscriber')} removed", markup=False)
    for row in report.rows:
        who = f" ({row.recipient})" if row.recipient else ""
        out.print(f"{row.name}: {row.reason}{who}", markup=False)
    if report.rows_left_off:
        err.print(f"… and {plural(report.rows_left_off, 'more message')}", markup=False)
    for folder, files, folders in report.skipped_in:
        what = " and ".join(
            [plural(files, "file")] * bool(files) + [plural(folders, "folder")] * bool(folders)
        )
        err.print(
            f"{folder}: skipped {what} not named *.eml (name them to import them)", markup=False
        )
    if counts.get("unreadable"):
        err.print(
            f"{plural(counts['unreadable'], 'file')} could not be read (above); the rest "
            "was taken: fix them and run the same import again",
            markup=False,
        )
        sys.exit(1)


@contextmanager
def _progress() -> Iterator[Callable[[ImportReport], None]]:
    """A progress line on stderr while an import runs, as `send` draws its bar: only on a
    terminal (in a log it would leave only blank lines), gone when it ends; stdout (the
    summary, or the --json document) never has it."""
    drawn = err.is_terminal
    columns = (TextColumn("{task.description}"), TextColumn("{task.fields[line]}"))
    with Progress(*columns, console=err, disable=not drawn, transient=True) as bar:
        task = bar.add_task("importing", line="")
        start = time.monotonic()

        def show(report: ImportReport) -> None:
            c = report.counts
            moment = time.monotonic() - start
            rate = f" · {report.messages / moment:,.0f}/s" if moment > 0.5 else ""
            line = (
                f"{report.messages:,} messages read · {c.get('matched', 0):,} matched · "
                f"{c.get('unmatched', 0):,} unmatched · {c.get('already', 0):,} already "
                f"imported{rate}"
            )
            bar.update(task, line=line)

        yield show


def _import_doc(report: ImportReport) -> dict[str, Any]:
    counts = {key: report.counts.get(key, 0) for key, _, _ in SUMMARY}
    for key in ("removed", "unreadable", "skipped"):
        counts[key] = report.counts.get(key, 0)
    return {
        "messages": report.messages,
        "counts": counts,
        "rows": [asdict(r) for r in report.rows],
        "rows_left_off": report.rows_left_off,
        "skipped": [
            {"folder": str(folder), "files": files, "folders": folders}
            for folder, files, folders in report.skipped_in
        ],
    }


LIST_LIMIT = 1000  # events `bounces list` shows; the rest is counted and named


def _since(value: str | None) -> datetime:
    """``--since``: days back from now (``7d``: exactly 7 × 24 hours ago), a date (its
    midnight UTC) or a time (UTC unless it carries an offset)."""
    if value is None:
        return wall_clock() - timedelta(days=30)
    if re.fullmatch(r"\d{1,5}d?", value):
        days = int(value.rstrip("d"))
        if days == 0:
            raise click.BadParameter(
                f"{value!r} is now, so nothing could be listed: give 1d or more, or a date",
                param_hint="'--since'",
            )
        return wall_clock() - timedelta(days=days)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a date (2026-12-01), a time with offset, or days (7d)",
            param_hint="'--since'",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _shown(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@bounces.command("list")
@click.option("--since", "since", default=None, help="A date, or days back (7d). Default: 30d.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def list_(ctx: Context, since: str | None, as_json: bool) -> None:
    """Bounces, complaints and replies received since D, newest first, with what they did
    (at most 1,000: the rest is counted; narrow with --since)."""
    start = _since(since)
    with errors():
        engine = open_store(ctx.settings.database_url)
    try:
        with engine.connect() as conn:
            events = repo.events(conn, since=start, limit=LIST_LIMIT)
            counts = repo.counts(conn, since=start)
            total = views.listed_total(conn, since=start) if len(events) >= LIST_LIMIT else 0
    finally:
        engine.dispose()
    left_off = max(total - len(events), 0)
    if as_json:
        emit_json(
            {
                "since": start.isoformat(),
                "counts": counts,
                "events": [_event_doc(e) for e in events],
                "left_off": left_off,
            }
        )
        return
    if not events:
        out.print(f"no bounces or complaints since {_shown(start)}", markup=False)
        return
    for event in events:
        who = printable(event.email or event.original_recipient or event.recipient or "?")
        code = f" {printable(event.status)}" if event.status else ""
        out.print(
            f"{event.received_at:%Y-%m-%d %H:%M} {event.outcome}{code} {who} "
            f"[{event.matched_by or UNMATCHED}] {printable(event.effect or 'pending')}",
            markup=False,
        )
    if left_off:
        err.print(
            f"{len(events):,} of {total:,} shown (newest first); narrow with --since",
            markup=False,
        )


UNMATCHED = "unmatched"  # how an event that matched nobody was matched, as people read it


def _event_doc(event: repo.Event) -> dict[str, Any]:
    doc = asdict(event)
    for key in ("received_at", "processed_at"):
        doc[key] = doc[key].isoformat() if doc[key] else None
    doc["matched_by"] = event.matched_by or UNMATCHED
    return doc

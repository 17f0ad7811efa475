"""``bounces import`` (mailboxes of bounces and complaints) and ``bounces list``."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from syndicate.cli.base import Context, emit_json, err, errors, main, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.feedback.importer import ImportReport, import_paths
from syndicate.store import feedback as repo
from syndicate.store import open_store
from syndicate.text import plural

SUMMARY = (
    ("processed", "processed"),
    ("matched", "matched"),
    ("hard", "hard"),
    ("soft", "soft"),
    ("ours", "ours (deliverability)"),
    ("complaint", "complaints"),
    ("autoreply", "auto-replies ignored"),
    ("delayed", "delays ignored"),
    ("unmatched", "unmatched"),
    ("untrusted", "not trusted (no token, not mailed recently)"),
    ("already", "already imported"),
    ("delivered", "deliveries confirmed"),
)


@main.group()
def bounces() -> None:
    """Bounces, complaints and automatic replies: import mailboxes, list what came in."""


@bounces.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def import_(ctx: Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Take the bounces in PATH…: Maildir folders, mbox files or .eml files.

    Importing the same messages again changes nothing.
    """
    with errors():
        settings = ctx.settings
        engine = open_store(settings.database_url)
        try:
            report = import_paths(engine, settings, paths, now=wall_clock())
        finally:
            engine.dispose()
    if as_json:
        emit_json(_import_doc(report))
        return
    counts = report.counts
    out.print(
        f"{plural(report.messages, 'message')}: "
        + ", ".join(f"{counts.get(key, 0):,} {label}" for key, label in SUMMARY),
        markup=False,
    )
    if counts.get("removed"):
        out.print(f"{plural(counts['removed'], 'subscriber')} removed", markup=False)
    for row in report.rows:
        who = f" ({row.recipient})" if row.recipient else ""
        out.print(f"{row.name}: {row.reason}{who}", markup=False)
    if report.rows_left_off:
        err.print(f"… and {plural(report.rows_left_off, 'more message')}", markup=False)


def _import_doc(report: ImportReport) -> dict[str, Any]:
    counts = {key: report.counts.get(key, 0) for key, _ in SUMMARY}
    counts["not_feedback"] = report.counts.get("not_feedback", 0)
    counts["removed"] = report.counts.get("removed", 0)
    return {
        "messages": report.messages,
        "counts": counts,
        "rows": [asdict(r) for r in report.rows],
        "rows_left_off": report.rows_left_off,
    }


def _since(value: str | None) -> datetime:
    if value is None:
        return wall_clock() - timedelta(days=30)
    if re.fullmatch(r"\d{1,5}d?", value):
        return wall_clock() - timedelta(days=int(value.rstrip("d")))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a date (2026-12-01), a time with offset, or days (7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bounces.command("list")
@click.option("--since", "since", default=None, help="A date, or days back (7d). Default: 30d.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def list_(ctx: Context, since: str | None, as_json: bool) -> None:
    """Bounces, complaints and replies received since D, newest first, with what they did."""
    start = _since(since)
    with errors():
        engine = open_store(ctx.settings.database_url)
    try:
        with engine.connect() as conn:
            events = repo.events(conn, since=start)
            counts = repo.counts(conn, since=start)
    finally:
        engine.dispose()
    if as_json:
        emit_json(
            {
                "since": start.isoformat(),
                "counts": counts,
                "events": [_event_doc(e) for e in events],
            }
        )
        return
    if not events:
        out.print(f"no bounces or complaints since {start:%Y-%m-%d}", markup=False)
        return
    for event in events:
        who = event.email or event.original_recipient or event.recipient or "?"
        code = f" {event.status}" if event.status else ""
        out.print(
            f"{event.received_at:%Y-%m-%d %H:%M} {event.outcome}{code} {who} "
            f"[{event.matched_by or 'unmatched'}] {event.effect or 'pending'}",
            markup=False,
        )


def _event_doc(event: repo.Event) -> dict[str, Any]:
    doc = asdict(event)
    for key in ("received_at", "processed_at"):
        doc[key] = doc[key].isoformat() if doc[key] else None
    return doc

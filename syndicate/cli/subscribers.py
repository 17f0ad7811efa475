"""``syndicate subscribers …``: lists, imports, exports and the consent trail."""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

import click
from sqlalchemy import Engine

from syndicate.cli.base import Context, err, errors, main, now, out, pass_ctx
from syndicate.errors import SyndicateError
from syndicate.models import SUPPRESSED, Problem, Source, Status
from syndicate.store import open_store
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change
from syndicate.subscribers.address import normalize_address
from syndicate.subscribers.csvfile import ExportRow, read_rows, write_rows
from syndicate.subscribers.importer import ImportReport, decide, import_rows

STATUSES = click.Choice([s.value for s in Status])


@main.group()
def subscribers() -> None:
    """Manage the subscribers of the lists declared in syndicate.toml.

    \b
    Examples:
      syndicate subscribers import weekly subscribers/weekly.csv
      syndicate subscribers add weekly ada@example.org --name "Ada" --topics trade,energy
      syndicate subscribers remove weekly ada@example.org
      syndicate subscribers list weekly --status active --json
      syndicate subscribers export weekly --out weekly.csv
      syndicate subscribers count
    """


@contextmanager
def _store(ctx: Context, list_name: str | None = None) -> Iterator[Engine]:
    with errors():
        if list_name is not None:
            ctx.settings.mailing_list(list_name)
        engine = open_store(ctx.settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _summary(report: ImportReport) -> str:
    return (
        f"{report.committed:,} of {report.rows:,} rows stored: {report.added:,} new subscribers, "
        f"{report.subscribed:,} subscribed, {report.reactivated:,} resubscribed, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged, "
        f"{report.kept_suppressed:,} kept unsubscribed; {len(report.problems):,} rows rejected"
    )


@contextmanager
def _open_input(file: str) -> Iterator[tuple[BinaryIO, str]]:
    if file == "-":
        yield sys.stdin.buffer, "<stdin>"
        return
    try:
        with open(file, "rb") as fh:
            yield fh, file
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise SyndicateError(f"{file}: cannot open: {exc.strerror}") from None


@subscribers.command(name="import")
@click.argument("list_name", metavar="LIST")
@click.argument("file", metavar="FILE.csv")
@click.option("--pending", is_flag=True, help="Import as pending (to be confirmed), not active.")
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Re-activate addresses that unsubscribed, bounced or complained.",
)
@click.option("--check-dns", is_flag=True, help="Also check that each domain accepts mail.")
@pass_ctx
def import_(
    ctx: Context, list_name: str, file: str, pending: bool, resubscribe: bool, check_dns: bool
) -> None:
    """Import FILE.csv (header email,name[,topics][,status]; - for stdin) into LIST.

    Rejected rows are reported as file:line: reason. Importing the same file twice changes
    nothing; rows are committed in batches, so an interrupted import can simply be re-run.
    """
    progress = ImportReport()

    def remember(report: ImportReport) -> None:
        nonlocal progress
        progress = report

    with _store(ctx, list_name) as engine:
        try:
            with errors(), _open_input(file) as (stream, shown):
                report = import_rows(
                    engine,
                    list_name,
                    read_rows(stream, shown, check_dns=check_dns),
                    now=now(),
                    default_status=Status.PENDING if pending else Status.ACTIVE,
                    resubscribe=resubscribe,
                    on_batch=remember,
                )
        except KeyboardInterrupt:
            err.print(f"interrupted: {_summary(progress)}; run the same import again to finish")
            sys.exit(130)
    for problem in report.problems:
        err.print(str(problem), markup=False)
    out.print(_summary(report), markup=False)
    if report.problems:
        sys.exit(1)


@subscribers.command()
@click.argument("list_name", metavar="LIST")
@click.argument("email")
@click.option("--name", default=None, help="The subscriber's name.")
@click.option("--topics", default="", help="Comma-separated tags the subscriber follows.")
@click.option("--pending", is_flag=True, help="Add as pending (to be confirmed), not active.")
@click.option("--resubscribe", is_flag=True, help="Re-activate an address that left.")
@pass_ctx
def add(
    ctx: Context,
    list_name: str,
    email: str,
    name: str | None,
    topics: str,
    pending: bool,
    resubscribe: bool,
) -> None:
    """Add EMAIL to LIST (or update their name and topics)."""
    line = io.BytesIO(_csv_line(email, name, topics.replace(",", ";")))
    with _store(ctx, list_name) as engine:
        items = list(read_rows(line, "command line"))
        problems = [i for i in items if isinstance(i, Problem)]
        if problems:
            err.print(f"error: {problems[0].reason}", markup=False)
            sys.exit(2)
        report = import_rows(
            engine,
            list_name,
            items,
            now=now(),
            source=Source.CLI,
            default_status=Status.PENDING if pending else Status.ACTIVE,
            resubscribe=resubscribe,
        )
    if report.kept_suppressed:
        err.print(
            f"{email} left {list_name} earlier and stays unsubscribed; "
            "pass --resubscribe if they asked to come back",
            markup=False,
        )
        sys.exit(1)
    out.print(_summary(report), markup=False)


def _csv_line(email: str, name: str | None, topics: str) -> bytes:
    buf = io.StringIO()
    write_rows(
        buf,
        [
            ExportRow(
                email=email,
                name=name,
                topics=tuple(t for t in topics.split(";") if t.strip()),
                status=None,
                attributes={},
            )
        ],
        attribute_keys=(),
    )
    return buf.getvalue().encode("utf-8")


@subscribers.command()
@click.argument("list_name", metavar="LIST")
@click.argument("email")
@pass_ctx
def remove(ctx: Context, list_name: str, email: str) -> None:
    """Unsubscribe EMAIL from LIST. The record stays, so they are never mailed again."""
    with _store(ctx, list_name) as engine:
        with errors():
            key = normalize_address(email).key
        with engine.begin() as conn:
            found = repo.subscriber_by_key(conn, key)
            current = repo.subscriptions_of(conn, found.id).get(list_name) if found else None
            if found is None or current is None:
                err.print(f"error: {email} is not on {list_name}", markup=False)
                sys.exit(1)
            target = decide(current, Status.UNSUBSCRIBED, resubscribe=False)
            if target is not None:
                repo.apply_changes(
                    conn,
                    [
                        Change(
                            subscriber_id=found.id,
                            list_name=list_name,
                            status=target,
                            previous=current,
                            source=Source.CLI,
                        )
                    ],
                    now=now(),
                )
    out.print(
        f"{email}: {current.value} → unsubscribed"
        if target
        else f"{email} was already {current.value}",
        markup=False,
    )


@subscribers.command(name="list")
@click.argument("list_name", metavar="LIST")
@click.option("--status", type=STATUSES, default=None, help="Only subscribers in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@pass_ctx
def list_(ctx: Context, list_name: str, status: str | None, as_json: bool) -> None:
    """List the subscribers of LIST."""
    with _store(ctx, list_name) as engine, engine.connect() as conn:
        for sub, state in repo.iter_list(conn, list_name, Status(status) if status else None):
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "email": sub.email,
                            "name": sub.name,
                            "status": state.value,
                            "topics": list(sub.topics),
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                click.echo(f"{sub.email}\t{state.value}\t{sub.name or ''}")


@subscribers.command()
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def show(ctx: Context, email: str, as_json: bool) -> None:
    """Show one subscriber: lists, topics and the consent trail."""
    with _store(ctx) as engine, engine.connect() as conn:
        with errors():
            key = normalize_address(email).key
        found = repo.subscriber_by_key(conn, key)
        if found is None:
            err.print(f"error: no subscriber {email}", markup=False)
            sys.exit(1)
        lists = repo.subscriptions_of(conn, found.id)
        trail = repo.events_of(conn, found.id)
    doc = {
        "email": found.email,
        "name": found.name,
        "created": found.created_at.isoformat(),
        "topics": list(found.topics),
        "attributes": dict(found.attributes),
        "lists": {k: v.value for k, v in sorted(lists.items())},
        "trail": [
            {
                "list": e.list_name,
                "status": e.status.value,
                "previous": e.previous.value if e.previous else None,
                "at": e.at.isoformat(),
                "source": e.source.value,
                "detail": e.detail,
            }
            for e in trail
        ],
    }
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    out.print(f"{found.email}  {found.name or ''}  (since {doc['created']})", markup=False)
    out.print(f"topics: {', '.join(found.topics) or '-'}", markup=False)
    for name, state in sorted(lists.items()):
        out.print(f"  {name}: {state.value}", markup=False)
    for e in trail:
        out.print(
            f"  {e.at:%Y-%m-%d %H:%M} {e.list_name}: {e.previous or '-'} → "
            f"{e.status.value} ({e.source.value}{', ' + e.detail if e.detail else ''})",
            markup=False,
        )


@subscribers.command()
@click.argument("list_name", metavar="LIST")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (atomically) instead of stdout.",
)
@click.option("--status", type=STATUSES, default=None, help="Only subscribers in this state.")
@pass_ctx
def export(ctx: Context, list_name: str, out_file: Path | None, status: str | None) -> None:
    """Export LIST as CSV (email,name,topics,status,…); it imports back unchanged."""
    wanted = Status(status) if status else None
    with _store(ctx, list_name) as engine, engine.connect() as conn:
        keys = sorted(
            {k for sub, _ in repo.iter_list(conn, list_name, wanted) for k, _ in sub.attributes}
        )
        rows = (
            ExportRow(
                email=sub.email,
                name=sub.name,
                topics=sub.topics,
                status=state.value,
                attributes=dict(sub.attributes),
            )
            for sub, state in repo.iter_list(conn, list_name, wanted)
        )
        if out_file is None:
            write_rows(sys.stdout, rows, attribute_keys=keys)
            return
        _write_file(out_file, lambda fh: write_rows(fh, rows, attribute_keys=keys))
    err.print(f"wrote {out_file}", markup=False)


def _write_file(path: Path, write: Callable[[TextIO], None]) -> None:
    """Write through a temp file and rename, so a failed export never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@subscribers.command()
@click.argument("list_name", metavar="LIST", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def count(ctx: Context, list_name: str | None, as_json: bool) -> None:
    """Count subscribers per list and status."""
    with _store(ctx, list_name) as engine, engine.connect() as conn:
        found = repo.counts(conn, list_name)
    names = [list_name] if list_name else sorted(set(ctx.settings.config.lists) | set(found))
    table = {n: {s.value: found.get(n, {}).get(s, 0) for s in Status} for n in names}
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    for name, by_status in table.items():
        mailable = by_status[Status.ACTIVE.value]
        suppressed = sum(by_status[s.value] for s in SUPPRESSED)
        out.print(
            f"{name}: {mailable:,} active, {by_status['pending']:,} pending, "
            f"{suppressed:,} suppressed",
            markup=False,
        )

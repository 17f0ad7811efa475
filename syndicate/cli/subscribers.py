"""``syndicate subscribers …``: lists, imports, exports and the consent trail."""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

import click
from sqlalchemy import Connection, Engine

from syndicate.cli.base import Context, err, errors, main, now, out, pass_ctx
from syndicate.cli.subscribers_output import import_summary, print_notices, welcome_wanted
from syndicate.cli.welcome import welcome_problem
from syndicate.errors import SyndicateError
from syndicate.events import record_changes
from syndicate.models import Problem, Source, Status
from syndicate.store import open_store
from syndicate.store import subscribers as repo
from syndicate.store.subscribers import Change
from syndicate.subscribers.address import display_address, normalize_address
from syndicate.subscribers.csvexport import ExportRow, writable_keys, writable_row, write_rows
from syndicate.subscribers.csvfile import read_rows
from syndicate.subscribers.importer import ImportReport, decide, import_rows
from syndicate.text import plural

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
    help="Re-activate addresses that unsubscribed, bounced or complained, and add those "
    "that bounced or complained on another list.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Overwrite stored names, attributes and topics that differ from the file.",
)
@click.option("--check-dns", is_flag=True, help="Also check that each domain accepts mail.")
@click.option(
    "--raw",
    is_flag=True,
    help="Take cells as they are: the file was written by `export --raw` (a leading ' is kept).",
)
@click.option(
    "--welcome",
    is_flag=True,
    help="Queue the list's welcome mail for each row made active (default: none).",
)
@pass_ctx
def import_(
    ctx: Context,
    list_name: str,
    file: str,
    pending: bool,
    resubscribe: bool,
    update: bool,
    check_dns: bool,
    raw: bool,
    welcome: bool,
) -> None:
    """Import FILE.csv (header email,name[,topics][,status]; - for stdin) into LIST.

    Topics are those chosen on LIST. Rejected rows are reported as file:line: reason, and
    every existing subscriber a row changed (or whose stored values it kept: a name is
    never overwritten without --update) as file:line: address: what. Importing the same
    file twice changes nothing; rows are committed in batches, so an interrupted import
    can simply be re-run. Comma- and semicolon-separated files are both read. An import
    sends no welcome mail (they are readers already, brought from elsewhere) unless
    --welcome is given. Addresses that bounced or complained on another list are kept out
    (counted, and said per row) unless --resubscribe is given.
    """
    shown = file if file != "-" else "<stdin>"
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
                    read_rows(stream, shown, check_dns=check_dns, raw=raw),
                    now=now(),
                    default_status=Status.PENDING if pending else Status.ACTIVE,
                    resubscribe=resubscribe,
                    update=update,
                    on_batch=remember,
                    welcome=welcome_wanted(ctx.settings, list_name, welcome, "--welcome"),
                    hooks=ctx.settings.config.webhooks,
                )
        except KeyboardInterrupt:
            err.print(
                f"interrupted: {import_summary(progress)}; run the same import again to finish"
            )
            sys.exit(130)
    for problem in report.problems:
        err.print(str(problem), markup=False)
    print_notices(report, shown)
    if report.rows == 0 and report.problems:  # a bad header, or no valid row at all
        found = plural(len(report.problems), "problem")
        out.print(f"nothing imported from {shown}: {found} (above)", markup=False)
    else:
        out.print(import_summary(report), markup=False)
    if report.problems:
        sys.exit(1)


@subscribers.command()
@click.argument("list_name", metavar="LIST")
@click.argument("email")
@click.option("--name", default=None, help="The subscriber's name.")
@click.option("--topics", default="", help="Comma-separated tags the subscriber follows on LIST.")
@click.option("--pending", is_flag=True, help="Add as pending (to be confirmed), not active.")
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Re-activate an address that left, or add one that bounced or complained on "
    "another list (they asked to come back).",
)
@click.option("--no-welcome", is_flag=True, help="Do not queue the list's welcome mail.")
@pass_ctx
def add(
    ctx: Context,
    list_name: str,
    email: str,
    name: str | None,
    topics: str,
    pending: bool,
    resubscribe: bool,
    no_welcome: bool,
) -> None:
    """Add EMAIL to LIST, or set their --name and --topics on it (what you give replaces
    what is stored: you typed it for this one person).

    Someone made active on a list with a welcome mail (lists.LIST.welcome) gets it once,
    sent by `syndicate run`, unless --no-welcome is given. An address that bounced or
    complained on another list is kept out (exit 1) unless --resubscribe is given."""
    line = io.BytesIO(_csv_line(email, name, topics.replace(",", ";")))
    with _store(ctx, list_name) as engine:
        items = list(read_rows(line, "command line"))
        problems = [i for i in items if isinstance(i, Problem)]
        if problems:
            err.print(f"error: {problems[0].reason}", markup=False)
            sys.exit(2)
        row = items[0]
        assert not isinstance(row, Problem)
        with engine.connect() as conn:
            _, before = _status_on(conn, row.address.key, list_name)
        report = import_rows(
            engine,
            list_name,
            items,
            now=now(),
            source=Source.CLI,
            default_status=Status.PENDING if pending else Status.ACTIVE,
            resubscribe=resubscribe,
            update=True,
            welcome=welcome_wanted(ctx.settings, list_name, not no_welcome, "--no-welcome"),
            hooks=ctx.settings.config.webhooks,
        )
        with engine.connect() as conn:
            stored, after = _status_on(conn, row.address.key, list_name)
    shown = display_address(stored or row.address.email)  # as stored: the first spelling
    if report.kept_suppressed:
        err.print(
            f"{shown} left {list_name} earlier ({after.value if after else '?'}) and stays so; "
            "nothing changed; pass --resubscribe if they asked to come back",
            markup=False,
        )
        sys.exit(1)
    blocked = next((n.kept_out for n in report.notices if n.kept_out), None)
    if blocked is not None:
        since = blocked.since.date().isoformat()
        why = f"{blocked.status.value} on {blocked.list_name} ({since})"
        err.print(
            f"kept out: {shown} {why}; --resubscribe to add anyway"
            if before is None
            else f"kept out: {shown} stays {before.value} on {list_name}: {why}; "
            "--resubscribe to make active anyway",
            markup=False,
        )
        sys.exit(1)
    said = [d for n in report.notices for d in n.details]
    extra = f"; {'; '.join(said)}" if said else ""
    state = after.value if after else "?"
    if before is None:
        out.print(f"added {shown} to {list_name} ({state}){extra}", markup=False)
    elif before is not after:
        out.print(f"{shown}: {before.value} → {state} on {list_name}{extra}", markup=False)
    elif said:
        out.print(f"{shown} is {state} on {list_name}{extra}", markup=False)
    else:
        out.print(f"{shown} is already {state} on {list_name}; nothing changed", markup=False)
    if report.welcomed:
        out.print(f"welcome mail to {shown} queued (`syndicate run` sends it)", markup=False)
        if (problem := welcome_problem(ctx.settings, list_name)) is not None:
            err.print(
                f"warning: the welcome of {list_name} cannot be rendered: {problem}; the "
                "welcome waits until the file is fixed (`syndicate check`, `syndicate status`)",
                markup=False,
            )


def _status_on(conn: Connection, key: str, list_name: str) -> tuple[str | None, Status | None]:
    """The stored address and its status on the list (None, None: not stored)."""
    found = repo.subscriber_by_key(conn, key)
    if found is None:
        return None, None
    return found.email, repo.statuses(conn, [found.id], list_name).get(found.id)


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
                err.print(f"error: {email.strip()} is not on {list_name}", markup=False)
                sys.exit(1)
            target = decide(current, Status.UNSUBSCRIBED, resubscribe=False)
            if target is not None:
                change = Change(
                    subscriber_id=found.id,
                    list_name=list_name,
                    status=target,
                    previous=current,
                    source=Source.CLI,
                )
                when = now()
                repo.apply_changes(conn, [change], now=when)
                record_changes(conn, ctx.settings.config.webhooks, [change], now=when)
    shown = display_address(found.email)
    out.print(
        f"{shown}: {current.value} → unsubscribed on {list_name}"
        if target
        else f"{shown} was already {current.value} on {list_name}; nothing changed",
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
@click.option(
    "--raw",
    is_flag=True,
    help="Write cells as stored: no ' before a cell a spreadsheet would run as a formula "
    "(=, +, -, @, tab, CR first). Only for programs, never to open in a spreadsheet; "
    "`import --raw` reads such a file back.",
)
@pass_ctx
def export(
    ctx: Context, list_name: str, out_file: Path | None, status: str | None, raw: bool
) -> None:
    """Export LIST as CSV (email,name,topics,status,…); it imports back unchanged.

    A cell that a spreadsheet would run as a formula (names come from the public subscribe
    form: =HYPERLINK(…), +SUM(…), @…) is written with a ' first, which spreadsheets show as
    text and `import` removes again. Stored values no CSV file can hold (a NUL, an attribute
    named with a control character) are written escaped, each with a warning on stderr.
    """
    wanted = Status(status) if status else None
    with _store(ctx, list_name) as engine, engine.connect() as conn:
        stored = {
            k for sub, _ in repo.iter_list(conn, list_name, wanted) for k, _ in sub.attributes
        }
        columns, notes = writable_keys(stored)
        for note in notes:
            err.print(f"warning: {note}", markup=False)

        def rows() -> Iterator[ExportRow]:
            for sub, state in repo.iter_list(conn, list_name, wanted):
                row, said = writable_row(
                    ExportRow(
                        email=sub.email,
                        name=sub.name,
                        topics=sub.topics,
                        status=state.value,
                        attributes=dict(sub.attributes),
                    ),
                    columns,
                )
                for note in said:
                    err.print(f"warning: {note}", markup=False)
                yield row

        keys = sorted(columns.values())
        if out_file is None:
            write_rows(sys.stdout, rows(), attribute_keys=keys, raw=raw)
            return
        _write_file(out_file, lambda fh: write_rows(fh, rows(), attribute_keys=keys, raw=raw))
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


# The read-only commands (list, show, count) live beside this module; importing it
# registers them on the group above.
from syndicate.cli import subscribers_view  # noqa: E402, F401

"""``syndicate send`` and ``syndicate status``: delivery, from the command line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Engine

from syndicate import aio
from syndicate.cli.base import Context, err, errors, main, now, out, pass_ctx
from syndicate.cli.testcopy import send_test_copies
from syndicate.config import Settings
from syndicate.content.reader import read_site
from syndicate.delivery.engine import Sender, SendReport, variant_key
from syndicate.delivery.setup import dkim_key, make_policy, make_transport
from syndicate.digest.assemble import EVERYTHING
from syndicate.digest.note import Note, load_note
from syndicate.digest.prepare import prepare
from syndicate.errors import SyndicateError
from syndicate.models import Article, Digest, Status
from syndicate.store import deliveries as ledger
from syndicate.store import open_store
from syndicate.store import subscribers as subscriber_repo
from syndicate.subscribers.tokens import Signer, site_signer


@main.command()
@click.argument("list_name", metavar="LIST")
@click.option("--dry-run", is_flag=True, help="Report who would get which version; send nothing.")
@click.option(
    "--to",
    "to",
    multiple=True,
    metavar="ADDRESS[,ADDRESS…]",
    help="Send a test copy to each ADDRESS (repeatable, or comma-separated); its links are "
    "inert and nothing is recorded.",
)
@click.option(
    "--topics", default="", help="With --to: the version readers of these topics get (a,b)."
)
@click.option(
    "--note",
    "note_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An editor's note (Markdown) shown at the top of this issue.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--offline", is_flag=True, help="Do not fetch remote sources; use what is stored.")
@click.option(
    "--workers",
    "for_workers",
    is_flag=True,
    default=None,
    help="Only record the send and its ledger; `syndicate worker` processes deliver it "
    "(default: [smtp] workers).",
)
@pass_ctx
def send(
    ctx: Context,
    list_name: str,
    dry_run: bool,
    to: tuple[str, ...],
    topics: str,
    note_file: Path | None,
    yes: bool,
    as_json: bool,
    offline: bool,
    for_workers: bool | None,
) -> None:
    """Send LIST's next digest, or resume the send a crash interrupted.

    Every recipient gets a ledger row before any mail leaves; each row is marked only after
    the server answered, so running the command again after a crash resumes the same send.

    \b
    Examples:
      syndicate send weekly --dry-run
      syndicate send weekly --to me@example.org,desk@example.org --topics trade
      syndicate send weekly --yes
      syndicate send weekly --yes --workers      (then: syndicate worker)
    """
    when = now()
    with errors():
        settings = ctx.settings
        settings.mailing_list(list_name)
        if topics and not to:
            raise SyndicateError(
                "--topics goes with --to: it picks the version of the test copies "
                "(a send gives every reader the version of their own topics)"
            )
        if to:
            sys.exit(
                send_test_copies(
                    settings,
                    list_name,
                    to=to,
                    topics=topics,
                    note_file=note_file,
                    offline=offline,
                    when=when,
                )
            )
        note = None
        if note_file is not None:
            note = load_note(note_file, base_url=settings.publication.base_url)
        signer = site_signer(settings)
        engine = open_store(settings.database_url)
        try:
            articles = read_site(settings, engine, now=when, offline=offline).articles
            if dry_run:
                prepared = prepare(settings, engine, list_name, articles, now=when)
                _dry_run(engine, list_name, prepared.digests, as_json)
                return
            with engine.connect() as conn:
                unfinished = ledger.unfinished_send(conn, list_name)
                active = (
                    subscriber_repo.counts(conn, list_name).get(list_name, {}).get(Status.ACTIVE, 0)
                )
            if unfinished is not None:
                err.print(
                    f"resuming send {unfinished.id} of {unfinished.digest_id} "
                    f"(started {unfinished.created_at:%Y-%m-%d %H:%M} UTC)",
                    markup=False,
                )
                if note is not None:
                    err.print(
                        f"note: {note_file} is not used: a resumed send keeps its own note",
                        markup=False,
                    )
            elif not yes and not click.confirm(
                f"Send the next digest of {list_name} to {active:,} active subscribers?",
                err=True,
            ):
                sys.exit(1)
            if for_workers is None:
                for_workers = settings.config.smtp is not None and settings.config.smtp.workers
            report = _run(
                settings,
                engine,
                signer,
                list_name,
                articles,
                quiet=as_json,
                deliver=not for_workers,
                note=note,
            )
        finally:
            engine.dispose()
    _summary(report, as_json, queued_only=bool(for_workers))
    if not report.finished and not report.nothing_new and not for_workers:
        sys.exit(3)  # deferred copies remain; run again or let the scheduler retry


def _dry_run(
    engine: Engine, list_name: str, digests: dict[frozenset[str], Digest], as_json: bool
) -> None:
    """Who would get which version: counts per topic set (JSON: every address)."""
    by_variant: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for sub, _ in subscriber_repo.iter_list(conn, list_name, Status.ACTIVE):
            chosen = frozenset(t.casefold() for t in sub.topics)
            by_variant.setdefault(variant_key(chosen), []).append(sub.email)
    summary = []
    for variant, emails in sorted(by_variant.items()):
        topics = sorted(json.loads(variant))
        digest = digests.get(frozenset(topics)) or digests[EVERYTHING]
        summary.append((topics, [a.title for a in digest.articles], emails))
    if as_json:
        doc = [
            {"topics": t, "subscribers": len(e), "articles": ti, "emails": e}
            for t, ti, e in summary
        ]
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    for topics, titles, emails in summary:
        label = ", ".join(topics) or "all topics"
        out.print(
            f"{len(emails):,} subscribers ({label}) would get {len(titles):,} articles",
            markup=False,
        )


def _run(
    settings: Settings,
    engine: Engine,
    signer: Signer,
    list_name: str,
    articles: Sequence[Article],
    *,
    quiet: bool,
    deliver: bool = True,
    note: Note | None = None,
) -> SendReport:
    transport = make_transport(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[line]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, disable=quiet, transient=True) as bar:
        task = bar.add_task(f"sending {list_name}", total=None, line="")

        first: list[tuple[float, int]] = []  # (when, answered) at the first report

        def show(report: SendReport) -> None:
            c = report.counts
            done = sum(c.get(k, 0) for k in ("sent", "failed", "skipped"))
            answered = done + c.get("deferred", 0)
            moment = time.monotonic()
            if not first:
                first.append((moment, answered))
            since, base = first[0]
            rate = (answered - base) / (moment - since) if moment > since + 0.5 else 0.0
            line = (
                f"sent {c.get('sent', 0):,} · deferred {c.get('deferred', 0):,} · "
                f"failed {c.get('failed', 0):,} · {rate:,.0f}/s"
            )
            bar.update(task, completed=done, total=sum(c.values()) or None, line=line)

        sender = Sender(
            settings,
            engine,
            transport,
            signer,
            clock=now,
            policy=make_policy(settings),
            on_progress=show,
            dkim=dkim_key(settings),
        )

        async def go() -> SendReport:
            try:
                return await sender.run(list_name, articles, deliver=deliver, note=note)
            finally:
                await transport.close()

        return aio.run(go())


def _summary(report: SendReport, as_json: bool, *, queued_only: bool = False) -> None:
    doc = {
        "list": report.list_name,
        "send": report.send_id,
        "digest": report.digest_id,
        "resumed": report.resumed,
        "nothing_new": report.nothing_new,
        "finished": report.finished,
        "counts": report.counts,
        "processes": report.processes,
        "for_workers": queued_only,
        "next_retry": report.next_retry.isoformat() if report.next_retry else None,
    }
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    if report.nothing_new:
        out.print(
            f"{report.list_name}: nothing new since the last digest; nothing sent", markup=False
        )
        return
    counts = ", ".join(f"{n:,} {k}" for k, n in sorted(report.counts.items())) or "no recipients"
    if queued_only:
        out.print(f"{report.digest_id}: {counts}; `syndicate worker` delivers it", markup=False)
        return
    state = "finished" if report.finished else f"unfinished, next retry {doc['next_retry']}"
    out.print(f"{report.digest_id}: {counts} ({state})", markup=False)


@main.command()
@click.argument("list_name", metavar="LIST", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def status(ctx: Context, list_name: str | None, as_json: bool) -> None:
    """Recent sends with queued / sent / deferred / failed counts and the next retry."""
    with errors():
        settings = ctx.settings
        if list_name is not None:
            settings.mailing_list(list_name)
        engine = open_store(settings.database_url)
    rows: list[dict[str, object]] = []
    try:
        with engine.connect() as conn:
            for sent in ledger.recent_sends(conn, list_name):
                counts = {k.value: v for k, v in ledger.counts(conn, sent.id).items()}
                retry = ledger.next_retry(conn, sent.id)
                rows.append(
                    {
                        "send": sent.id,
                        "list": sent.list_name,
                        "digest": sent.digest_id,
                        "status": sent.status.value,
                        "started": sent.created_at.isoformat(),
                        "counts": counts,
                        "next_retry": retry.isoformat() if retry else None,
                        "summary": ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())),
                    }
                )
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print("no sends yet", markup=False)
    for r in rows:
        later = f", next retry {r['next_retry']}" if r["next_retry"] else ""
        out.print(
            f"{r['digest']} ({r['status']}, started {r['started']}): {r['summary']}{later}",
            markup=False,
        )

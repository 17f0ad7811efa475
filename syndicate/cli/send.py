"""``syndicate send``: a list's next digest (or the send a crash interrupted), and test copies.

``status`` and ``sends`` (what became of the sends) live in ``cli/sends.py``, ``report``
in ``cli/report.py``; the send itself (progress bar, Ctrl-C) in ``cli/send_run.py``, what
it prints in ``cli/send_output.py``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from syndicate.cli.approval import no_send_while_waiting
from syndicate.cli.base import Context, err, errors, main, now, pass_ctx
from syndicate.cli.plan import render_versions
from syndicate.cli.post import Chosen, PostRun, post_run, question_for
from syndicate.cli.queue import queue_send
from syndicate.cli.send_output import dry_run as dry_run_plan
from syndicate.cli.send_output import not_held, resuming, summary
from syndicate.cli.send_run import run_send
from syndicate.cli.testcopy import send_test_copies
from syndicate.content.reader import read_site
from syndicate.delivery.worker import retries_due
from syndicate.digest.note import load_note
from syndicate.digest.plan import Plan, make_plan
from syndicate.digest.prepare import Prepared, prepare
from syndicate.errors import SyndicateError
from syndicate.store import open_store
from syndicate.store import sends as send_repo
from syndicate.subscribers.tokens import site_signer

INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C (128 + SIGINT)


DEFERRED_LEFT = 3  # sent, but some copies were deferred: they are retried in the background


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
@click.option(
    "--article",
    "article_id",
    default=None,
    metavar="ID",
    help="Mail this one article (its id, as `syndicate articles` shows it) on its own, now.",
)
@click.option("--again", is_flag=True, help="With --article: mail it even if the list had it.")
@click.option(
    "--at",
    "at",
    default=None,
    metavar="TIME",
    help="Queue the next digest (or the --article) for TIME ('2026-12-24 08:00' in the "
    "list's time zone, or ISO 8601 with an offset); `syndicate run` sends it then.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
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
    article_id: str | None,
    again: bool,
    yes: bool,
    as_json: bool,
    offline: bool,
    for_workers: bool | None,
    at: str | None = None,
) -> None:
    """Send LIST's next digest, or first resume the send a crash interrupted.

    Every recipient gets a ledger row before any mail leaves; each row is marked only after
    the server answered, so running the command again after a crash resumes the same send.
    Deferred copies of earlier sends never hold the next digest back: they are retried in
    the background (`syndicate run`, `syndicate worker`) and by each later send. Readers
    whose topics match none of the new articles get nothing (unless send_empty = true).

    \b
    Exit status:
      0    sent (or nothing new), or paused by [smtp] daily_limit / warmup: it
           continues by itself (`syndicate run`, `syndicate worker`, the next send)
      1    error, e.g. the mail server cannot be reached (nothing is marked failed)
      2    invalid configuration
      3    sent, but some copies were deferred: they are retried in the background
      130  stopped with Ctrl-C: run the command again to resume

    \b
    Examples:
      syndicate send weekly --dry-run
      syndicate send weekly --to me@example.org,desk@example.org --topics trade
      syndicate send weekly --note note.md
      syndicate send weekly --yes
      syndicate send weekly --yes --workers      (then: syndicate worker)
      syndicate send weekly --article kazakhstan-mediator      (one article, in full)
      syndicate send weekly --at "2026-12-24 08:00"   (`syndicate sends` lists it)
    """
    post = Chosen(article_id, again)
    if at is not None:
        with errors():
            ctx.settings.mailing_list(list_name)
            if to or dry_run or for_workers:
                raise click.UsageError(  # exit status 2, as the other --at mistakes
                    "--at queues the send for later: it goes without --to, --dry-run and --workers"
                )
            queue_send(ctx.settings, list_name, at, note_file=note_file, as_json=as_json, post=post)
        return
    try:
        _send(
            ctx, list_name, dry_run, to, topics, note_file, yes, as_json, offline, for_workers, post
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print(
            f"stopped; run `syndicate send {list_name}` again to resume "
            "(copies whose answer was lost may be sent twice)",
            markup=False,
        )
        sys.exit(INTERRUPTED)


def _send(
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
    post: Chosen,
) -> None:
    when = now()
    with errors():
        settings = ctx.settings
        settings.mailing_list(list_name)
        if topics and not to:
            raise SyndicateError(
                "--topics goes with --to: it picks the version of the test copies "
                "(a send gives every reader the version of their own topics)"
            )
        post.check(post_list=settings.mailing_list(list_name).mode == "post", note_file=note_file)
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
                    article_id=post.article_id,
                )
            )
        note = None
        if note_file is not None:
            note = load_note(note_file, base_url=settings.publication.base_url)
        # A dry run mails nothing, so it needs no secret; a send checks for it before reading.
        signer = None if dry_run else site_signer(settings)
        engine = open_store(settings.database_url)
        try:
            if not dry_run:
                with engine.connect() as conn:
                    no_send_while_waiting(conn, list_name)
            read = read_site(settings, engine, now=when, offline=offline)
            articles = read.articles
            with engine.connect() as conn:
                interrupted = send_repo.interrupted_send(conn, list_name)
            upcoming: Prepared | None = None
            plan: Plan | None = None
            run: PostRun | None = None
            if post.article_id is not None:  # checked even when a resume comes first
                post.choose(engine, settings, list_name, read)
                post.say_earlier()  # before the dry run and the prompt
            if interrupted is None and post.article_id is not None:
                upcoming = post.prepare(engine, settings, list_name, now=when)
                plan = make_plan(settings, list_name, upcoming)
                post.reaches(plan)
            elif interrupted is None and settings.mailing_list(list_name).mode == "post":
                run = post_run(settings, engine, list_name, articles, now=when)
            elif interrupted is None:
                upcoming = prepare(settings, engine, list_name, articles, now=when, note=note)
                plan = make_plan(settings, list_name, upcoming)
            if upcoming is not None and plan is not None:
                # A template mistake is said now: before the prompt, a connection or a record.
                render_versions(settings, upcoming, plan, note=note, now=when)
            if signer is None and run is not None:  # a dry run of a post list
                run.show(as_json)
                return
            if signer is None:  # a dry run
                dry_run_plan(engine, list_name, interrupted, plan, as_json, post.article)
                return
            approve = settings.mailing_list(list_name).approve
            if approve and plan is not None and not plan.nothing_new and post.article_id is None:
                err.print(not_held(list_name), markup=False)  # before the question, or --yes
            if interrupted is not None:
                err.print(resuming(interrupted), markup=False)
                post.after_resume(list_name)
                if note is not None:
                    err.print(
                        f"note: {note_file} is not used: a resumed send keeps its own note",
                        markup=False,
                    )
            elif (asked := question_for(plan, run)) is not None and not yes:
                shown, question = asked
                for line in shown:
                    err.print(line, markup=False)
                try:
                    agreed = click.confirm(question, err=True)
                except click.Abort:
                    if sys.stdin.isatty():
                        raise  # Ctrl-C at the question
                    agreed = False  # a script or cron: no answer came
                    err.print("", markup=False)
                    err.print(
                        f"no answer (no terminal): add --yes to send without asking, "
                        f"`syndicate send {list_name} --yes`",
                        markup=False,
                    )
                if not agreed:
                    err.print("not sent: nothing was recorded", markup=False)
                    sys.exit(1)
            if for_workers is None:
                for_workers = settings.config.smtp is not None and settings.config.smtp.workers
            with engine.connect() as conn:  # announce a connection only when one is made
                due = bool(retries_due(conn, now=now(), list_name=list_name))
            busy = interrupted is not None or due or (plan is not None and not plan.nothing_new)
            busy = busy or (run is not None and not run.nothing_new)
            report = run_send(
                settings,
                engine,
                signer,
                list_name,
                articles,
                upcoming,
                quiet=as_json or not busy,
                deliver=not for_workers,
                note=note,
                post=post,
                # a post list resumes only: its new posts are mailed once they were shown
                resume_only=interrupted is not None and run is None and upcoming is None,
            )
        finally:
            engine.dispose()
    summary(report, as_json, queued_only=bool(for_workers))
    if report.error is not None:
        sys.exit(1)
    if report.stopped:
        sys.exit(INTERRUPTED)
    if report.paused is not None:
        return  # in progress: `run`, `worker` or the next `send` continue it when allowed
    if not report.finished and report.send_id is not None and not for_workers:
        sys.exit(DEFERRED_LEFT)  # deferred copies remain: retried in the background

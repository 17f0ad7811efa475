"""What became of the sends: ``status``, ``sends`` (and ``sends abandon``, ``sends cancel``).
``report`` lives in ``cli/report.py``; how a send is shown in ``cli/send_state.py``.

A send is named by its digest id (``weekly-3``), the name every other command shows.
"""

from __future__ import annotations

from datetime import UTC

import click

from syndicate.cli.approval import cancel_queued
from syndicate.cli.base import Context, emit_json, errors, main, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.cli.feedback_view import (
    ALERT_WINDOW,
    alert_doc,
    alert_lines,
)
from syndicate.cli.queued_view import local_time, queued_doc, queued_line, queued_titles, what_of
from syndicate.cli.send_state import (
    find_named,
    iso_time,
    open_for,
    send_doc,
    send_lines,
    used_allowance,
)
from syndicate.cli.send_state import shown_time as shown_time
from syndicate.cli.send_state import state_of as state_of
from syndicate.cli.welcome import stuck_line, stuck_welcomes
from syndicate.errors import SyndicateError
from syndicate.events import send_finished
from syndicate.service.scheduler import list_timezone
from syndicate.store import outbox as outbox_repo
from syndicate.store import queued as queued_repo
from syndicate.store import sends as send_repo
from syndicate.store.sends import SendStatus
from syndicate.text import one_line, plural


@main.command()
@click.argument("list_name", metavar="LIST", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def status(ctx: Context, list_name: str | None, as_json: bool) -> None:
    """Recent sends: sent / deferred / failed counts, the next retry and the last error."""
    _show_sends(ctx, list_name, STATUS_SENDS, as_json, closed_too=False)


STATUS_SENDS = 10  # how many recent sends `status` shows


def _show_sends(
    ctx: Context, list_name: str | None, limit: int, as_json: bool, *, closed_too: bool = True
) -> None:
    """The newest sends (of a list), in words or as one JSON object: `status` and `sends`;
    first the sends that wait (queued, or for approval: `status` shows only those still
    open, `sends` those closed in the last days too)."""
    with errors():
        engine = open_for(ctx, list_name)
    try:
        with engine.connect() as conn:
            used_up = used_allowance(ctx, conn)
            docs = [
                send_doc(conn, s, allowance=used_up)
                for s in send_repo.recent_sends(conn, list_name, limit)
            ]
            alert = alert_doc(conn, now=wall_clock())
            failed = outbox_repo.failures_since(conn, wall_clock() - ALERT_WINDOW)
            since = wall_clock() - ALERT_WINDOW if closed_too else None
            waits = queued_repo.listed(conn, list_name, closed_since=since, limit=limit)
            titles = queued_titles(conn, waits)
            stuck = [] if closed_too else stuck_welcomes(conn, ctx.settings, list_name)
    finally:
        engine.dispose()
    mails = {
        "days": ALERT_WINDOW.days,
        "failed": failed.count,
        "last_reply": failed.last_reply,
        "last_failed_at": iso_time(failed.last_at),
    }
    if as_json:
        queued = [queued_doc(ctx.settings, r, titles.get(r.article_id or "")) for r in waits]
        found = {"sends": docs, "queued": queued, "deliverability": alert, "outbox": mails}
        if not closed_too:  # `status`
            found["welcomes_waiting"] = stuck
        emit_json(found)
        return
    for row in waits:
        out.print(queued_line(ctx.settings, row, titles.get(row.article_id or "")), markup=False)
    if failed.count:
        # A server's reply: one line, bounded, no escapes reaching the terminal.
        last = one_line(failed.last_reply or "no reply", 300)
        out.print(
            f"outbox: {plural(failed.count, 'mail')} failed in the last "
            f"{ALERT_WINDOW.days} days (confirmations, welcomes, editors' previews; last: {last})",
            markup=False,
        )
    for entry in stuck:
        out.print(stuck_line(entry), markup=False)
    for line in alert_lines(alert):
        out.print(line, markup=False)
    if not docs and not waits and not stuck:
        out.print("no sends yet", markup=False)
    for doc in docs:
        for line in send_lines(doc):
            out.print(line, markup=False)


class _SendsGroup(click.Group):
    """``sends [LIST]`` lists; ``sends abandon SEND`` is a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # The first word that is no option (nor --limit's value) is LIST unless it names a
        # subcommand: click alone would take any such word for a subcommand.
        skip = False
        for i, arg in enumerate(args):
            if skip:
                skip = False
            elif arg == "--limit":
                skip = True
            elif not arg.startswith("-"):
                if arg not in self.commands:
                    ctx.meta["sends.list"] = arg
                    args = args[:i] + args[i + 1 :]
                break
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[LIST] [--json] | abandon SEND | cancel ID")


@main.group(cls=_SendsGroup, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="At most.")
@click.pass_context
def sends(click_ctx: click.Context, as_json: bool, limit: int) -> None:
    """Every send (of LIST), newest first: digest, status, counts and the last error.

    Status is preparing or sending; interrupted (copies never tried, nobody at it:
    the next send resumes it first); paused ([smtp] daily_limit or warmup used up for
    today: it continues by itself); retrying (deferred copies are retried in the
    background; the next digest goes out regardless); done; or abandoned.

    Sends that wait come first, by id: queued for a time (`send LIST --at`), waiting
    for approval (`approve LIST`, `reject LIST`), and those of the last days that were
    sent, cancelled, rejected or skipped (and why).

    \b
    Examples:
      syndicate sends weekly
      syndicate sends abandon weekly-3
      syndicate sends cancel 4
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    list_name = click_ctx.meta.get("sends.list")
    _show_sends(ctx, list_name, limit, as_json)


@sends.command()
@click.argument("send_name", metavar="SEND")
@pass_ctx
def abandon(ctx: Context, send_name: str) -> None:
    """Stop retrying SEND (a digest id such as weekly-3): its queued and deferred copies are
    recorded as abandoned and never sent. Copies on the wire right now still finish."""
    with errors():
        engine = open_for(ctx, None)
        try:
            with engine.begin() as conn:
                sent = find_named(conn, send_name)
                if sent.status in (SendStatus.DONE, SendStatus.ABANDONED):
                    raise SyndicateError(
                        f"{sent.digest_id} is {sent.status.value}: nothing to stop"
                    )
                when = wall_clock()
                count = send_repo.abandon(conn, sent.id, now=when)
                send_finished(conn, ctx.settings.config.webhooks, sent.id, now=when)
        finally:
            engine.dispose()
    out.print(
        f"{sent.digest_id} abandoned: {plural(count, 'copy', 'copies')} will not be sent "
        f"(`syndicate report {sent.digest_id}` lists them)",
        markup=False,
    )


@sends.command()
@click.argument("queued_id", metavar="ID", type=int)
@pass_ctx
def cancel(ctx: Context, queued_id: int) -> None:
    """Cancel the queued send ID (`send LIST --at`; or a digest waiting for approval):
    only that one-off send, the list's schedule is unchanged. `syndicate sends` lists them
    with their ids."""
    with errors():
        row = cancel_queued(ctx.settings, queued_id)
        engine = open_for(ctx, None)
        try:
            with engine.connect() as conn:
                title = queued_titles(conn, [row]).get(row.article_id or "")
        finally:
            engine.dispose()
    settings = ctx.settings
    name = row.list_name
    zone = list_timezone(settings, name) if name in settings.config.lists else UTC
    what = row.digest_id or what_of(settings, name, row.article_id, title)
    out.print(
        f"queued send {row.id} ({what}, due {local_time(row.due_at, zone)}) cancelled; "
        "only this one-off send: the list's schedule is unchanged",
        markup=False,
    )

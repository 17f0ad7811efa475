"""What became of the sends: ``status``, ``sends`` (and ``sends abandon``), ``report``.

A send is named by its digest id (``weekly-3``), the name every other command shows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import Connection, Engine

from syndicate.cli.base import Context, emit_json, emit_jsonl, err, errors, main, out, pass_ctx
from syndicate.cli.base import now as wall_clock
from syndicate.cli.clicks_view import click_docs, click_lines
from syndicate.cli.feedback_view import (
    ALERT_WINDOW,
    alert_doc,
    alert_lines,
    feedback_doc,
    feedback_lines,
    reader_doc,
    reader_line,
)
from syndicate.cli.queue import cancel_queued, local_time, queued_doc, queued_line, what_of
from syndicate.cli.welcome import stuck_line, stuck_welcomes
from syndicate.delivery.quota import Allowance, allowance
from syndicate.delivery.setup import make_quota
from syndicate.errors import SyndicateError
from syndicate.events import send_finished
from syndicate.service.scheduler import list_timezone
from syndicate.store import deliveries as ledger
from syndicate.store import digests as digest_repo
from syndicate.store import feedback_views, history, locks, open_store
from syndicate.store import outbox as outbox_repo
from syndicate.store import queued as queued_repo
from syndicate.store import sends as send_repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendRow, SendStatus
from syndicate.subscribers.address import display_address
from syndicate.text import one_line, plural


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def shown_time(moment: datetime | str | None) -> str:
    """A time as the text output writes it for people: ``2026-12-01 08:58:18 UTC`` (no
    microseconds, no ISO ``T``; ``--json`` keeps ISO 8601)."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def state_of(sent: SendRow, counts: dict[DeliveryStatus, int], *, busy: bool = True) -> str:
    """What people call where a send stands: preparing or sending; interrupted (copies never
    tried and nobody at it: the next send resumes it first); retrying (every copy was tried
    once; deferred ones are retried in the background); done or abandoned. ``busy``: some
    process holds the list's lock or leased rows of the send."""
    if sent.status not in (SendStatus.PREPARING, SendStatus.SENDING):
        return sent.status.value
    if sent.status is SendStatus.SENDING and not counts.get(DeliveryStatus.QUEUED):
        return "retrying" if counts.get(DeliveryStatus.DEFERRED) else "sending"
    return sent.status.value if busy else "interrupted"


def _busy(conn: Connection, sent: SendRow) -> bool:
    held = ledger.lease_holders(conn, sent.id, now=wall_clock())
    return bool(held) or locks.lock_owner(conn, sent.list_name) is not None


def send_doc(
    conn: Connection, sent: SendRow, *, allowance: Allowance | None = None
) -> dict[str, Any]:
    """One send as ``status``, ``sends`` and their ``--json`` show it. ``allowance``: the
    day's, when it is used up (a send with copies due then says it is paused)."""
    counts = ledger.counts(conn, sent.id)
    retry = ledger.next_retry(conn, sent.id)
    open_ = sent.status in (SendStatus.PREPARING, SendStatus.SENDING)
    waiting = open_ and allowance is not None and allowance.used_up
    if waiting:
        waiting = bool(ledger.due_count(conn, sent.id, now=wall_clock(), limit=1))
    kind, title = digest_repo.digest_kind(conn, sent.digest_id)
    return {
        "digest": sent.digest_id,
        "list": sent.list_name,
        "kind": kind,
        "title": title,
        "status": "paused" if waiting else state_of(sent, counts, busy=_busy(conn, sent)),
        "started": _when(sent.created_at),
        "finished": _when(sent.finished_at),
        "counts": {k.value: v for k, v in sorted(counts.items())},
        "next_retry": _when(retry),
        "last_error": sent.last_error,
        "last_error_at": _when(sent.last_error_at),
        "feedback": feedback_doc(conn, sent.id, counts.get(DeliveryStatus.SENT, 0)),
        "paused": allowance.doc() if waiting and allowance is not None else None,
    }


def _open(ctx: Context, list_name: str | None) -> Engine:
    settings = ctx.settings
    if list_name is not None:
        settings.mailing_list(list_name)
    return open_store(settings.database_url)


def _paused_words(paused: dict[str, Any]) -> str:
    """``daily limit 1,000 reached (warm-up day 2 of 5); continues at 2026-12-02 09:14 UTC``."""
    text = f"daily limit {paused['limit']:,} reached"
    day, days = paused["warmup_day"], paused["warmup_days"]
    if day is not None and (days is None or day <= days):
        text += f" (warm-up day {day}" + (f" of {days})" if days is not None else ")")
    when = paused["continues_at"]
    moment = (
        f"{datetime.fromisoformat(when).astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else "soon"
    )
    return f"{text}; continues at {moment}"


def _allowance(ctx: Context, conn: Connection) -> Allowance | None:
    """The day's allowance when ``[smtp] daily_limit`` / ``warmup`` is set and used up."""
    quota = make_quota(ctx.settings)
    if quota is None:
        return None
    found = allowance(conn, quota, now=wall_clock())
    return found if found.used_up else None


def _named(digest_id: str, title: str | None) -> str:
    """``weekly-3``, or for a post ``weekly-3 'Its article's title'`` (one bounded line)."""
    return digest_id if title is None else f"{digest_id} {one_line(title, 120)!r}"


def _line(doc: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{n:,} {k}" for k, n in doc["counts"].items()) or "no recipients"
    later = f"; next retry {shown_time(doc['next_retry'])}" if doc["next_retry"] else ""
    started = shown_time(doc["started"])
    name = _named(doc["digest"], doc.get("title"))
    lines = [f"{name} ({doc['status']}, started {started}): {counts}{later}"]
    if doc.get("paused"):
        lines.append(f"  paused: {_paused_words(doc['paused'])}")
    if doc["last_error"] and doc["status"] not in ("done", "abandoned"):
        lines.append(f"  last error ({shown_time(doc['last_error_at'])}): {doc['last_error']}")
    return lines + feedback_lines(doc["feedback"])


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
        engine = _open(ctx, list_name)
    try:
        with engine.connect() as conn:
            used_up = _allowance(ctx, conn)
            docs = [
                send_doc(conn, s, allowance=used_up)
                for s in send_repo.recent_sends(conn, list_name, limit)
            ]
            alert = alert_doc(conn, now=wall_clock())
            failed = outbox_repo.failures_since(conn, wall_clock() - ALERT_WINDOW)
            since = wall_clock() - ALERT_WINDOW if closed_too else None
            waits = queued_repo.listed(conn, list_name, closed_since=since, limit=limit)
            stuck = [] if closed_too else stuck_welcomes(conn, ctx.settings, list_name)
    finally:
        engine.dispose()
    mails = {
        "days": ALERT_WINDOW.days,
        "failed": failed.count,
        "last_reply": failed.last_reply,
        "last_failed_at": _when(failed.last_at),
    }
    if as_json:
        queued = [queued_doc(ctx.settings, row) for row in waits]
        found = {"sends": docs, "queued": queued, "deliverability": alert, "outbox": mails}
        if not closed_too:  # `status`
            found["welcomes_waiting"] = stuck
        emit_json(found)
        return
    for row in waits:
        out.print(queued_line(ctx.settings, row), markup=False)
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
        for line in _line(doc):
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


def _find(conn: Connection, name: str) -> SendRow:
    found = send_repo.find_send(conn, name)
    if found is None:
        raise SyndicateError(
            f"no send of {name!r}; name a send by its digest id (`syndicate sends` lists them)"
        )
    return found


@sends.command()
@click.argument("send_name", metavar="SEND")
@pass_ctx
def abandon(ctx: Context, send_name: str) -> None:
    """Stop retrying SEND (a digest id such as weekly-3): its queued and deferred copies are
    recorded as abandoned and never sent. Copies on the wire right now still finish."""
    with errors():
        engine = _open(ctx, None)
        try:
            with engine.begin() as conn:
                sent = _find(conn, send_name)
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
    settings = ctx.settings
    name = row.list_name
    zone = list_timezone(settings, name) if name in settings.config.lists else UTC
    what = row.digest_id or what_of(settings, name, row.article_id)
    out.print(
        f"queued send {row.id} ({what}, due {local_time(row.due_at, zone)}) cancelled; "
        "only this one-off send: the list's schedule is unchanged",
        markup=False,
    )


def _problem_doc(p: history.Problem) -> dict[str, Any]:
    return {
        "kind": "delivery",
        "email": p.email,
        "status": p.status.value,
        "bounced": p.bounced,
        "attempts": p.attempts,
        "code": p.code,
        "reply": p.reply,
        "at": _when(p.at),
        "next_attempt": _when(p.next_attempt),
    }


def _summary_doc(
    sent: SendRow,
    state: str,
    counts: dict[DeliveryStatus, int],
    feedback: dict[str, Any],
    title: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": "send",
        "digest": sent.digest_id,
        "title": title,
        "list": sent.list_name,
        "status": state,
        "counts": {k.value: v for k, v in sorted(counts.items())},
        "feedback": feedback,
    }


@main.command()
@click.argument("send_name", metavar="SEND")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per recipient.")
@pass_ctx
def report(ctx: Context, send_name: str, as_json: bool) -> None:
    """Every recipient of SEND (a digest id such as weekly-3) who did not get it: failed,
    deferred (to be retried) or abandoned, with the server's code and reply; then who
    bounced, complained or was refused for the sender's reasons after the server took it.

    With --json, JSON Lines: first the send ("kind": "send", with its counts and feedback),
    then one line per recipient who did not get it ("kind": "delivery") and one per reader
    with feedback ("kind": "feedback"), then, for a list that counts clicks, one per
    link ("kind": "click", with its url and clicks).

    \b
    Examples:
      syndicate report weekly-3
      syndicate report weekly-3 --json | jq -r 'select(.status == "failed") | .email'
      syndicate report weekly-3 --json | jq -r 'select(.kind == "feedback") | .email'
    """
    with errors():
        engine = _open(ctx, None)
        try:
            with engine.connect() as conn:
                sent = _find(conn, send_name)
                counts = ledger.counts(conn, sent.id)
                state = state_of(sent, counts, busy=_busy(conn, sent))
                feedback = feedback_doc(conn, sent.id, counts.get(DeliveryStatus.SENT, 0))
                rows = history.problems(conn, sent.id, sent.list_name)
                title = digest_repo.digest_kind(conn, sent.digest_id)[1]
                if as_json:
                    emit_jsonl([_summary_doc(sent, state, counts, feedback, title)])
                    emit_jsonl(_problem_doc(p) for p in rows)
                    emit_jsonl(reader_doc(r) for r in feedback_views.readers_of_send(conn, sent.id))
                    emit_jsonl(click_docs(ctx.settings, conn, sent))
                    return
                _print_report(sent, state, counts, rows, title)
                for line in feedback_lines(feedback):
                    out.print(line.strip(), markup=False)
                for reader in feedback_views.readers_of_send(conn, sent.id):
                    out.print(reader_line(reader), markup=False)
                for line in click_lines(ctx.settings, conn, sent):
                    out.print(line, markup=False)
        finally:
            engine.dispose()


def _print_report(
    sent: SendRow,
    state: str,
    counts: dict[DeliveryStatus, int],
    rows: Iterator[history.Problem],
    title: str | None = None,
) -> None:
    summary = ", ".join(f"{n:,} {k.value}" for k, n in sorted(counts.items())) or "no recipients"
    out.print(f"{_named(sent.digest_id, title)} ({state}): {summary}", markup=False)
    shown = 0
    for p in rows:
        shown += 1
        code = f"{p.code} " if p.code is not None else ""
        extra = f"; {plural(p.attempts, 'attempt')}"
        if p.next_attempt is not None:
            extra += f", next {shown_time(p.next_attempt)}"
        if p.bounced:
            extra += ", now bounced"
        shown_email = display_address(p.email)
        out.print(
            f"  {p.status.value:<9} {shown_email}: {code}{p.reply or ''}{extra}", markup=False
        )
    queued = counts.get(DeliveryStatus.QUEUED, 0)
    if queued:
        err.print(
            f"{plural(queued, 'copy', 'copies')} not tried yet: the next "
            f"`syndicate send {sent.list_name}` resumes them",
            markup=False,
        )
    elif not shown:
        # Accepted, not delivered: a bounce or complaint can still come back later (listed
        # below under "feedback" when it did).
        err.print("the mail server accepted every copy (or it was skipped)", markup=False)
    sys.stdout.flush()

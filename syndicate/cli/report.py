"""``syndicate report SEND``: every recipient of a send who did not get it, and the
readers' feedback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import click

from syndicate.cli.base import Context, emit_jsonl, err, errors, main, out, pass_ctx
from syndicate.cli.clicks_view import click_docs, click_lines
from syndicate.cli.feedback_view import (
    feedback_doc,
    feedback_lines,
    reader_doc,
    reader_line,
)
from syndicate.cli.send_state import (
    find_named,
    is_busy,
    iso_time,
    named,
    open_for,
    shown_time,
    state_of,
)
from syndicate.store import deliveries as ledger
from syndicate.store import digests as digest_repo
from syndicate.store import feedback_views, history
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendRow
from syndicate.subscribers.address import display_address
from syndicate.text import plural


def _problem_doc(p: history.Problem) -> dict[str, Any]:
    return {
        "kind": "delivery",
        "email": p.email,
        "status": p.status.value,
        "bounced": p.bounced,
        "attempts": p.attempts,
        "code": p.code,
        "reply": p.reply,
        "at": iso_time(p.at),
        "next_attempt": iso_time(p.next_attempt),
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
        # Readers passed over by their topics (no ledger row, so not in counts); None:
        # not known (a post, or a send made before the count was kept).
        "topic_skipped": sent.topic_skipped,
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

    With --json, JSON Lines: first the send ("kind": "send", with its counts, feedback and
    "topic_skipped": the readers whose topics had nothing new, null when not known),
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
        engine = open_for(ctx, None)
        try:
            with engine.connect() as conn:
                sent = find_named(conn, send_name)
                counts = ledger.counts(conn, sent.id)
                state = state_of(sent, counts, busy=is_busy(conn, sent))
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
                delivered = counts.get(DeliveryStatus.SENT, 0)
                for line in click_lines(ctx.settings, conn, sent, delivered=delivered):
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
    if sent.topic_skipped:  # as `send` said it: these readers have no ledger row
        why = "skipped: nothing new for their topics"
        summary += f" ({plural(sent.topic_skipped, 'subscriber')} {why})"
    out.print(f"{named(sent.digest_id, title)} ({state}): {summary}", markup=False)
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

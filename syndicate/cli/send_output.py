"""What ``syndicate send`` says: the plan of a dry run, whom it resumes, and its summary."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from sqlalchemy import Engine

from syndicate.cli.base import emit_json, err, now, out
from syndicate.cli.plan import left_out_doc, left_out_lines, plan_doc, plan_lines, version_doc
from syndicate.delivery.engine import SendReport, variant_key
from syndicate.delivery.worker import retries_due
from syndicate.digest.plan import Plan
from syndicate.models import Article, Status
from syndicate.service.sendlog import skipped_words
from syndicate.store import deliveries as ledger
from syndicate.store import subscribers as subscriber_repo
from syndicate.store.deliveries import DeliveryStatus
from syndicate.store.sends import SendRow, SendStatus
from syndicate.text import one_line, plural


def not_held(list_name: str) -> str:
    """What ``send`` says on a list with ``approve = true``: approval holds digests the
    schedule (or a queued ``--at`` send) prepares, not one sent by hand now."""
    return (
        f"{list_name} has approve = true: `send` sends now, without approval (use "
        f"`syndicate send {list_name} --at TIME` to queue it: when it comes due the digest "
        "waits for approval)"
    )


def resuming(sent: SendRow) -> str:
    doing = "queueing" if sent.status is SendStatus.PREPARING else "sending"
    return (
        f"resuming {sent.digest_id}, interrupted while {doing} "
        f"(started {sent.created_at:%Y-%m-%d %H:%M} UTC); the next digest is sent by the "
        "next `send`"
    )


def dry_run(
    engine: Engine,
    list_name: str,
    interrupted: SendRow | None,
    plan: Plan | None,
    as_json: bool,
    article: Article | None = None,
) -> None:
    """What ``send`` would do: resume an interrupted send, or the plan of the next digest
    or of ``article`` on its own (``--article``; text: per version; JSON: also every
    address, and the article's id and title)."""
    if interrupted is not None:
        with engine.connect() as conn:
            left = ledger.counts(conn, interrupted.id).get(DeliveryStatus.QUEUED, 0)
        if as_json:
            emit_json(
                {
                    "list": list_name,
                    "resume": interrupted.digest_id,
                    "interrupted": interrupted.status.value,
                    "queued": left,
                }
            )
        else:
            out.print(
                f"would resume {interrupted.digest_id} (interrupted): "
                f"{plural(left, 'copy', 'copies')} not tried yet",
                markup=False,
            )
        return
    assert plan is not None
    with engine.connect() as conn:  # what the send would also retry, without waiting
        retrying = [s.digest_id for s in retries_due(conn, now=now(), list_name=list_name)]
    if not as_json:
        for line in plan_lines(plan):
            out.print(line, markup=False)
        for digest_id in retrying:
            out.print(f"would also retry the deferred copies of {digest_id} now due", markup=False)
        return
    emails: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for sub, _ in subscriber_repo.iter_list(conn, list_name, Status.ACTIVE):
            chosen = frozenset(t.casefold() for t in sub.topics)
            emails.setdefault(variant_key(chosen), []).append(sub.email)
    doc = plan_doc(plan)
    if article is not None:
        doc["article"], doc["title"] = article.id, article.title
    doc["retries"] = retrying
    doc["versions"] = [
        {**version_doc(v), "emails": emails.get(variant_key(v.topics), [])} for v in plan.versions
    ]
    emit_json(doc)


def posts_of(report: SendReport) -> list[SendReport]:
    """The posts a send mailed: each of a post list's run, or the one of ``send --article``
    (on any list: it is a post too), so ``"posts"`` in ``send --json`` always lists them."""
    if report.posts:
        return report.posts
    if report.title is not None and report.digest_id is not None and not report.nothing_new:
        return [report]
    return []


def summary(report: SendReport, as_json: bool, *, queued_only: bool = False) -> None:
    plan = report.plan
    doc: dict[str, Any] = {
        "list": report.list_name,
        "digest": report.digest_id,
        "resumed": report.resumed,
        "nothing_new": report.nothing_new,
        "finished": report.finished,
        "stopped": report.stopped,
        "error": report.error,
        "counts": report.counts,
        "skipped": plan.skipped_readers if plan and not report.nothing_new else 0,
        "versions": [version_doc(v) for v in plan.versions] if plan else [],
        "left_out": [left_out_doc(a) for a in plan.left_out] if plan else [],
        "retried": report.retried,
        "processes": report.processes,
        "connections": report.connections,
        "for_workers": queued_only,
        "next_retry": report.next_retry.isoformat() if report.next_retry else None,
        "paused": report.paused.doc() if report.paused is not None else None,
        "title": report.title,
        "posts": [
            {
                "digest": p.digest_id,
                "title": p.title,
                "resumed": p.resumed,
                "finished": p.finished,
                "counts": p.counts,
            }
            for p in posts_of(report)
        ],
    }
    if as_json:
        emit_json(doc)
    else:
        for line in summary_lines(report, queued_only=queued_only):
            out.print(line, markup=False)
    if report.error is not None:
        err.print(f"[red]error:[/red] {escape(report.error)}", markup=True)
        err.print(
            "nothing was marked failed: the copies wait in the ledger; fix the [smtp] "
            f"settings or the server, then run `syndicate send {report.list_name}` again "
            "(`syndicate status` shows the last error)",
            markup=False,
        )
    elif report.paused is not None:
        # The send is in progress, not failed: the editor need not wait at a terminal.
        err.print(
            f"{report.paused.sentence()} (run `syndicate run` or `syndicate worker`; "
            f"`syndicate send {report.list_name}` again also continues it)",
            markup=False,
        )
    elif report.stopped:
        err.print(
            f"stopped: run `syndicate send {report.list_name}` to resume "
            "(`syndicate run` also resumes and retries on its own)",
            markup=False,
        )


def summary_lines(report: SendReport, *, queued_only: bool) -> list[str]:
    lines: list[str] = []
    if report.posts:  # a post list's run: one line per article mailed on its own
        for post in report.posts:
            lines.extend(_send_line(post, queued_only=queued_only))
    elif report.nothing_new:
        last = "post" if report.mode == "post" else "digest"
        lines.append(f"{report.list_name}: nothing new since the last {last}; nothing sent")
    else:
        lines.extend(_send_line(report, queued_only=queued_only))
    if report.plan is not None:
        lines.extend(left_out_lines(report.plan))
    for digest_id, counts_of in report.retried.items():
        summary = ", ".join(f"{n:,} {k}" for k, n in sorted(counts_of.items()))
        lines.append(f"retried the due copies of {digest_id}: now {summary}")
    return lines


def _send_line(report: SendReport, *, queued_only: bool) -> list[str]:
    """What became of one send (a digest, or one post): one line."""
    lines: list[str] = []
    if report.digest_id is not None:
        counts = ", ".join(f"{n:,} {k}" for k, n in sorted(report.counts.items()))
        counts = counts or "no recipients"
        name = f"resumed {report.digest_id}" if report.resumed else report.digest_id
        if report.title is not None:
            name += f" {one_line(report.title, 120)!r}"
        counts += skipped_words(report)
        if queued_only:
            lines.append(f"{name}: {counts}; `syndicate worker` delivers it")
        elif report.finished:
            lines.append(f"{name}: {counts} (finished)")
        elif report.paused is not None:
            lines.append(f"{name}: {counts}; paused by [smtp] daily_limit, not finished")
        elif report.error is None and not report.stopped:
            later = f"; next retry {report.next_retry:%H:%M:%S} UTC" if report.next_retry else ""
            lines.append(
                f"{name}: {counts}; the deferred copies are retried in the background "
                f"(`syndicate run`, `syndicate worker` or the next send){later}"
            )
        else:
            lines.append(f"{name}: {counts}")
    return lines
